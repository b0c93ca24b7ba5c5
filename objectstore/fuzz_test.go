package objectstore

import (
	"path/filepath"
	"strings"
	"testing"
)

// FuzzCheckName: a name that passes checkName maps to a path strictly
// inside FS's directory, unchanged by cleaning, and is never a temporary
// file.
func FuzzCheckName(f *testing.F) {
	for _, s := range []string{"a", "a/b", "../a", "a/..", "a//b", "/a", "a/.tmp.x", ".", "a/./b", "a\x00", "ü/ß"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		if checkName(name) != nil {
			return
		}
		const root = "/root/bucket"
		p := filepath.Join(root, filepath.FromSlash(name))
		if p != root+"/"+name {
			t.Fatalf("valid name %q maps to %q", name, p)
		}
		for seg := range strings.SplitSeq(name, "/") {
			if strings.HasPrefix(seg, tmpPrefix) {
				t.Fatalf("valid name %q has a temporary segment", name)
			}
		}
	})
}

// FuzzParseURL: parseURL never panics, and what it accepts is usable.
func FuzzParseURL(f *testing.F) {
	for _, s := range []string{
		"file:///data", "file://localhost/x", "file:x", "s3://b", "s3://bucket/p?endpoint=h:1&insecure=true&region=r",
		"s3://bucket?endpoint=[::1]:9000", "s3://:9000", "gs://x", "", "%", "s3://b?insecure=1",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		kind, dir, cfg, err := parseURL(raw)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "objectstore: ") {
				t.Fatalf("error without the package prefix: %v", err)
			}
			return
		}
		switch kind {
		case "file":
			if !filepath.IsAbs(dir) {
				t.Fatalf("%q: relative directory %q", raw, dir)
			}
		case "s3":
			if cfg.Bucket == "" {
				t.Fatalf("%q: no bucket", raw)
			}
			if cfg.Endpoint != "" && checkEndpoint(cfg.Endpoint) != nil {
				t.Fatalf("%q: bad endpoint %q accepted", raw, cfg.Endpoint)
			}
		default:
			t.Fatalf("%q: kind %q", raw, kind)
		}
	})
}

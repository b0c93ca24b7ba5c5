package objectstore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		url  string
		kind string
		dir  string
		cfg  S3Config
	}{
		{url: "file:///var/lib/strata", kind: "file", dir: "/var/lib/strata"},
		{url: "file:///var/lib/strata/", kind: "file", dir: "/var/lib/strata"},
		{url: "file://localhost/data", kind: "file", dir: "/data"},
		{url: "file:///a/../b", kind: "file", dir: "/b"},
		{url: "s3://logs", kind: "s3", cfg: S3Config{Bucket: "logs"}},
		{url: "s3://logs?endpoint=127.0.0.1:9000&insecure=true&region=us-east-1", kind: "s3",
			cfg: S3Config{Bucket: "logs", Endpoint: "127.0.0.1:9000", Insecure: true, Region: "us-east-1"}},
		{url: "s3://logs?insecure=false", kind: "s3", cfg: S3Config{Bucket: "logs"}},
		{url: "s3://logs?endpoint=minio.internal", kind: "s3", cfg: S3Config{Bucket: "logs", Endpoint: "minio.internal"}},
		{url: "s3://logs?endpoint=[::1]:9000", kind: "s3", cfg: S3Config{Bucket: "logs", Endpoint: "[::1]:9000"}},
		{url: "s3://logs/cluster-a/", kind: "s3", cfg: S3Config{Bucket: "logs", Prefix: "cluster-a"}},
		{url: "s3://logs/a/b?region=eu-west-1", kind: "s3", cfg: S3Config{Bucket: "logs", Prefix: "a/b", Region: "eu-west-1"}},
	} {
		kind, dir, cfg, err := parseURL(tc.url)
		if err != nil {
			t.Errorf("parseURL(%q): %v", tc.url, err)
			continue
		}
		if kind != tc.kind || dir != tc.dir || cfg != tc.cfg {
			t.Errorf("parseURL(%q) = %q, %q, %+v; want %q, %q, %+v", tc.url, kind, dir, cfg, tc.kind, tc.dir, tc.cfg)
		}
	}
}

// TestParseURLErrors checks that every bad URL is refused with a message
// that says what is wrong and what is expected.
func TestParseURLErrors(t *testing.T) {
	for _, tc := range []struct {
		url  string
		want []string // substrings of the error
	}{
		{"", []string{"empty", "file:///", "s3://"}},
		{"/var/lib/strata", []string{"no scheme", "file:///"}},
		{"gs://bucket", []string{`unknown scheme "gs"`, "s3://BUCKET"}},
		{"http://127.0.0.1:9000/bucket", []string{`unknown scheme "http"`}},
		{"file://", []string{"no path", fileURLForm}},
		{"file:relative/dir", []string{"absolute", fileURLForm}},
		{"file://relative/dir", []string{"absolute", "three slashes"}},
		{"file:///data?sync=1", []string{"no query parameters"}},
		{"file:///data#x", []string{"fragment"}},
		{"s3://", []string{"no bucket", s3URLForm}},
		{"s3://?endpoint=127.0.0.1:9000", []string{"no bucket"}},
		{"s3://key:secret@bucket", []string{"credentials do not go in the URL", "AWS_ACCESS_KEY_ID"}},
		{"s3://bucket:9000", []string{"endpoint=HOST:PORT"}},
		{"s3://bucket?endpoint=http://127.0.0.1:9000", []string{"without a scheme", "insecure=true"}},
		{"s3://bucket?endpoint=127.0.0.1:port", []string{`port "port"`, "1 to 65535"}},
		{"s3://bucket?endpoint=127.0.0.1:0", []string{`port "0"`}},
		{"s3://bucket?endpoint=127.0.0.1:70000", []string{`port "70000"`}},
		{"s3://bucket?endpoint=host/path", []string{"HOST or HOST:PORT"}},
		{"s3://bucket?endpoint=::1", []string{"brackets"}},
		{"s3://bucket?endpoint=:9000", []string{"no host"}},
		{"s3://bucket?endpoint=", []string{`"endpoint" is empty`}},
		{"s3://bucket?insecure=yes", []string{`insecure="yes"`, "true or false"}},
		{"s3://bucket?insecure=true&insecure=false", []string{`"insecure" given 2 times`}},
		{"s3://bucket?region=", []string{`"region" is empty`}},
		{"s3://bucket?regoin=us-east-1", []string{`unknown parameter "regoin"`, "endpoint, insecure, region"}},
		{"s3://bucket?endpoint=%zz", []string{"query"}},
	} {
		_, _, _, err := parseURL(tc.url)
		if err == nil {
			t.Errorf("parseURL(%q) succeeded", tc.url)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("parseURL(%q) error %q does not mention %q", tc.url, err, w)
			}
		}
	}
}

func TestOpenFile(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "store")
	b, err := Open(t.Context(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("Open did not create %s: %v", dir, err)
	}
	if fs, ok := b.(*FS); !ok || fs.Dir() != dir {
		t.Fatalf("Open returned %T, want *FS on %s", b, dir)
	}
}

func TestOpenS3Invalid(t *testing.T) {
	// Refused before any network traffic.
	for _, url := range []string{"s3://Bad_Bucket", "s3://b", "s3://bucket/../x", "s3://bucket/" + strings.Repeat("p", 200)} {
		if b, err := Open(t.Context(), url); err == nil {
			b.Close()
			t.Errorf("Open(%q) succeeded", url)
		}
	}
}

package objectstore

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// URL forms accepted by Open, quoted in its error messages.
const (
	fileURLForm = "file:///ABSOLUTE/PATH"
	s3URLForm   = "s3://BUCKET[/PREFIX][?endpoint=HOST:PORT&insecure=true|false&region=REGION&ca-file=PATH]"
)

// Open opens a bucket by URL: file:///abs/path or
// s3://BUCKET?endpoint=HOST:PORT&insecure=true&region=R&ca-file=PATH. It
// creates the bucket (or directory) when missing and checks that it is
// reachable.
//
// For file URLs the path must be absolute; the directory is created. For s3
// URLs, endpoint defaults to AWS (DefaultS3Endpoint), insecure (plain HTTP) to
// false and region to discovery; ca-file (S3Config.CAFile, escaped as a
// query value) is a PEM bundle of the CAs trusted for the HTTPS endpoint
// instead of the system roots; a path after the bucket becomes
// S3Config.Prefix. Credentials never go in the URL: see S3. Unknown schemes
// and query parameters are errors, so a typo does not silently select a
// default. The result is not instrumented; wrap it with Instrument.
func Open(ctx context.Context, rawURL string) (Bucket, error) {
	kind, dir, cfg, err := parseURL(rawURL)
	if err != nil {
		return nil, err
	}
	// No "return NewFS(dir)": a nil *FS would become a non-nil Bucket.
	if kind == "file" {
		fsb, err := NewFS(dir)
		if err != nil {
			return nil, err
		}
		return fsb, nil
	}
	s3, err := NewS3(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return s3, nil
}

// parseURL validates rawURL and returns "file" and a directory, or "s3" and
// a configuration.
func parseURL(rawURL string) (kind, dir string, cfg S3Config, err error) {
	bad := func(format string, args ...any) (string, string, S3Config, error) {
		return "", "", S3Config{}, fmt.Errorf("objectstore: object store URL %q: "+format, append([]any{rawURL}, args...)...)
	}
	if rawURL == "" {
		return bad("empty; want %s or %s", fileURLForm, s3URLForm)
	}
	u, perr := url.Parse(rawURL)
	if perr != nil {
		return bad("%v; want %s or %s", perr, fileURLForm, s3URLForm)
	}
	if u.Fragment != "" {
		return bad("unexpected fragment #%s", u.Fragment)
	}
	switch u.Scheme {
	case "file":
		if u.Opaque != "" || (u.Host != "" && u.Host != "localhost") {
			return bad("path must be absolute, with three slashes after file:; want %s", fileURLForm)
		}
		if u.User != nil {
			return bad("user info is not allowed; want %s", fileURLForm)
		}
		if u.RawQuery != "" {
			return bad("file URLs take no query parameters; want %s", fileURLForm)
		}
		if u.Path == "" {
			return bad("no path; want %s", fileURLForm)
		}
		if !path.IsAbs(u.Path) {
			return bad("path %q is not absolute; want %s", u.Path, fileURLForm)
		}
		return "file", filepath.Clean(filepath.FromSlash(u.Path)), S3Config{}, nil
	case "s3":
		if u.Opaque != "" {
			return bad("want %s", s3URLForm)
		}
		if u.User != nil {
			return bad("credentials do not go in the URL; set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or a profile or role); want %s", s3URLForm)
		}
		if u.Host == "" {
			return bad("no bucket; want %s", s3URLForm)
		}
		if u.Port() != "" {
			return bad("a port belongs in endpoint=HOST:PORT, not after the bucket; want %s", s3URLForm)
		}
		cfg = S3Config{Bucket: u.Host, Prefix: strings.Trim(u.Path, "/")}
		q, qerr := url.ParseQuery(u.RawQuery)
		if qerr != nil {
			return bad("query: %v", qerr)
		}
		known := []string{"endpoint", "insecure", "region", "ca-file"}
		for k, vs := range q {
			if !slices.Contains(known, k) {
				return bad("unknown parameter %q; known: %s", k, strings.Join(known, ", "))
			}
			if len(vs) != 1 {
				return bad("parameter %q given %d times; give it once", k, len(vs))
			}
			if vs[0] == "" {
				return bad("parameter %q is empty; omit it for the default or give a value", k)
			}
		}
		if v, ok := q["endpoint"]; ok {
			if err := checkEndpoint(v[0]); err != nil {
				return bad("%v", err)
			}
			cfg.Endpoint = v[0]
		}
		if v, ok := q["insecure"]; ok {
			b, err := strconv.ParseBool(v[0])
			if err != nil {
				return bad("insecure=%q: want true or false", v[0])
			}
			cfg.Insecure = b
		}
		if v, ok := q["region"]; ok {
			cfg.Region = v[0]
		}
		if v, ok := q["ca-file"]; ok {
			if cfg.Insecure {
				return bad("ca-file is for an HTTPS endpoint; insecure=true selects plain HTTP")
			}
			cfg.CAFile = v[0]
		}
		return "s3", "", cfg, nil
	case "":
		return bad("no scheme; want %s or %s", fileURLForm, s3URLForm)
	default:
		return bad("unknown scheme %q; want %s or %s", u.Scheme, fileURLForm, s3URLForm)
	}
}

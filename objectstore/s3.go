package objectstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/strata-io/strata/internal/tlsconfig"
)

// DefaultS3Endpoint is the endpoint used when S3Config.Endpoint is empty.
const DefaultS3Endpoint = "s3.amazonaws.com"

// defaultCheckTimeout bounds NewS3's start-up check when
// S3Config.CheckTimeout is zero.
const defaultCheckTimeout = 10 * time.Second

// maxS3PrefixLen bounds S3Config.Prefix with its '/', leaving maxNameLen
// bytes of S3's 1024-byte keys for names.
const maxS3PrefixLen = 128

// unknownSizePartSize is the multipart part size for Puts of unknown size.
// minio-go would otherwise size parts for a 5 TiB object (hundreds of MiB
// buffered per part); 16 MiB parts allow objects up to 160 GiB.
const unknownSizePartSize = 16 << 20

// S3Config says where an S3 bucket is.
type S3Config struct {
	// Bucket is the bucket name. Required. It is created when missing.
	Bucket string
	// Endpoint is HOST or HOST:PORT, without a scheme. Empty means
	// DefaultS3Endpoint (AWS).
	Endpoint string
	// Region is the bucket's region; empty lets the client discover it.
	Region string
	// Insecure selects plain HTTP instead of HTTPS.
	Insecure bool
	// CAFile, if set, is a PEM bundle of the CA certificates trusted for
	// the HTTPS endpoint, used instead of the system roots (as curl's
	// --cacert and AWS_CA_BUNDLE are), and instead of SSL_CERT_FILE, which
	// minio-go otherwise adds to them. Read once, by NewS3. Not allowed
	// with Insecure.
	CAFile string
	// Prefix, if set, is prepended (with a '/' after it) to every object
	// name, so several clusters can share a bucket. At most 127 bytes, and a
	// valid object name itself. Names given to and
	// returned by the Bucket methods do not include it.
	Prefix string
	// CheckTimeout bounds the reachability check and bucket creation in
	// NewS3; zero means 10 s.
	CheckTimeout time.Duration
}

// S3 is a bucket on AWS S3 or an S3-compatible service such as MinIO, through
// minio-go.
//
// Credentials come from minio-go's standard chain, first match wins:
// AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN),
// MINIO_ROOT_USER/MINIO_ROOT_PASSWORD (or MINIO_ACCESS_KEY/MINIO_SECRET_KEY),
// the AWS shared credentials and config files (AWS_PROFILE), the MinIO client
// config (~/.mc/config.json), and finally IAM (EC2/ECS/EKS roles, web
// identity).
type S3 struct {
	client    *minio.Client
	core      minio.Core
	transport *http.Transport
	bucket    string
	prefix    string // "" or ending in '/'
	endpoint  string
}

var _ Bucket = (*S3)(nil)

// NewS3 connects to the bucket cfg describes, creating it when missing. It
// fails within cfg.CheckTimeout (10 s by default) when the endpoint cannot be
// reached, with an error that names the endpoint.
func NewS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if err := s3utils.CheckValidBucketNameStrict(cfg.Bucket); err != nil {
		return nil, fmt.Errorf("objectstore: s3 bucket name %q: %w", cfg.Bucket, err)
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = DefaultS3Endpoint
	}
	if err := checkEndpoint(endpoint); err != nil {
		return nil, fmt.Errorf("objectstore: s3: %w", err)
	}
	prefix := strings.TrimSuffix(cfg.Prefix, "/")
	if prefix != "" {
		if why := nameProblem(prefix); why != "" {
			return nil, fmt.Errorf("objectstore: s3 prefix %q: %s", cfg.Prefix, why)
		}
		if len(prefix)+1 > maxS3PrefixLen {
			return nil, fmt.Errorf("objectstore: s3 prefix %q: longer than %d bytes", cfg.Prefix, maxS3PrefixLen-1)
		}
		prefix += "/"
	}
	transport, err := newS3Transport(cfg)
	if err != nil {
		return nil, err
	}
	client, err := minio.New(endpoint, &minio.Options{
		Creds: credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{},
			&credentials.EnvMinio{},
			&credentials.FileAWSCredentials{},
			&credentials.FileMinioClient{},
			&credentials.IAM{},
		}),
		Secure:    !cfg.Insecure,
		Region:    cfg.Region,
		Transport: transport,
	})
	if err != nil {
		return nil, fmt.Errorf("objectstore: s3 endpoint %s: %w", endpoint, err)
	}
	s := &S3{
		client:    client,
		core:      minio.Core{Client: client},
		transport: transport,
		bucket:    cfg.Bucket,
		prefix:    prefix,
		endpoint:  endpoint,
	}
	timeout := cfg.CheckTimeout
	if timeout <= 0 {
		timeout = defaultCheckTimeout
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.ensureBucket(cctx, cfg.Region); err != nil {
		s.Close()
		if ctx.Err() == nil && cctx.Err() != nil {
			return nil, fmt.Errorf("objectstore: s3 endpoint %s (bucket %q) not reachable within %s: %w", endpoint, cfg.Bucket, timeout, err)
		}
		return nil, fmt.Errorf("objectstore: s3 endpoint %s (bucket %q): %w", endpoint, cfg.Bucket, err)
	}
	return s, nil
}

// newS3Transport returns minio-go's default transport, trusting
// cfg.CAFile's certificates when it is set.
func newS3Transport(cfg S3Config) (*http.Transport, error) {
	if cfg.CAFile != "" && cfg.Insecure {
		return nil, fmt.Errorf("objectstore: s3 CA file %s: the endpoint is plain HTTP (insecure); drop one of the two", cfg.CAFile)
	}
	transport, err := minio.DefaultTransport(!cfg.Insecure)
	if err != nil {
		return nil, fmt.Errorf("objectstore: s3 transport: %w", err)
	}
	if cfg.CAFile != "" {
		pool, err := tlsconfig.LoadCAPool(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("objectstore: s3: %w", err)
		}
		if transport.TLSClientConfig == nil {
			transport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		transport.TLSClientConfig.RootCAs = pool
	}
	return transport, nil
}

// checkEndpoint accepts HOST or HOST:PORT (IPv6 hosts in brackets) and
// rejects the rest, URLs in particular.
func checkEndpoint(endpoint string) error {
	bad := func(why string) error {
		return fmt.Errorf("endpoint %q: %s", endpoint, why)
	}
	switch {
	case endpoint == "":
		return bad("empty; want HOST or HOST:PORT")
	case strings.Contains(endpoint, "://"):
		return bad("want HOST or HOST:PORT without a scheme (use insecure=true for http)")
	case strings.ContainsAny(endpoint, "/?#@ "):
		return bad("want HOST or HOST:PORT, nothing else")
	}
	host, port, err := net.SplitHostPort(endpoint)
	if err != nil {
		// No port: fine unless the colons say a port was meant.
		if strings.Contains(strings.TrimSuffix(strings.TrimPrefix(endpoint, "["), "]"), ":") &&
			!(strings.HasPrefix(endpoint, "[") && strings.HasSuffix(endpoint, "]")) {
			return bad("want HOST or HOST:PORT (put IPv6 addresses in brackets)")
		}
		return nil
	}
	if host == "" {
		return bad("no host; want HOST or HOST:PORT")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return bad(fmt.Sprintf("port %q is not a number from 1 to 65535", port))
	}
	return nil
}

func (s *S3) ensureBucket(ctx context.Context, region string) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	if err != nil {
		return s3Hint(err)
	}
	if ok {
		return nil
	}
	err = s.client.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: region})
	if err != nil && minio.ToErrorResponse(err).Code != minio.BucketAlreadyOwnedByYou {
		return fmt.Errorf("create bucket: %w", s3Hint(err))
	}
	return nil
}

// s3Hint adds what to check to the errors a misconfiguration produces.
func s3Hint(err error) error {
	switch minio.ToErrorResponse(err).Code {
	case "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "InvalidToken", "ExpiredToken":
		return fmt.Errorf("%w (check the credentials: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, or the instance role)", err)
	case minio.BucketAlreadyExists:
		return fmt.Errorf("%w (the name is taken by another account; choose another bucket name)", err)
	}
	return err
}

func (s *S3) key(name string) string { return s.prefix + name }

// wrapErr turns minio-go's errors into this package's: NoSuchKey becomes
// ErrNotFound, and a done context is always visible to errors.Is.
func (s *S3) wrapErr(ctx context.Context, op, name string, err error) error {
	if err == nil {
		return nil
	}
	if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
		return fmt.Errorf("%w: s3 %s %q", ErrNotFound, op, name)
	}
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("objectstore: s3 %s %q: %w (%w)", op, name, cerr, err)
	}
	return fmt.Errorf("objectstore: s3 %s %q: %w", op, name, s3Hint(err))
}

// Put implements Bucket.
func (s *S3) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := checkCall(ctx, name); err != nil {
		return err
	}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream"}
	if size < 0 {
		size = -1
		opts.PartSize = unknownSizePartSize
	}
	body, err := s3Body(ctx, r, size)
	if err != nil {
		return fmt.Errorf("objectstore: s3 put %q: %w", name, err)
	}
	_, err = s.client.PutObject(ctx, s.bucket, s.key(name), body, size, opts)
	return s.wrapErr(ctx, OpPut, name, err)
}

// readSeekerAt is what minio-go needs to retry a failed request (it seeks
// back) and to upload the parts of a large object in parallel.
type readSeekerAt interface {
	io.ReaderAt
	io.Seeker
}

// s3Body returns what Put hands to minio-go: a section of r when r can seek
// and read at offsets, so those stay possible, else putReader's wrapper.
func s3Body(ctx context.Context, r io.Reader, size int64) (io.Reader, error) {
	rs, ok := r.(readSeekerAt)
	if !ok || size < 0 {
		return putReader(ctx, r, size), nil
	}
	cur, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return nil, err
	}
	end, err := rs.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, err
	}
	if _, err := rs.Seek(cur, io.SeekStart); err != nil {
		return nil, err
	}
	if end-cur < size {
		return nil, fmt.Errorf("objectstore: reader holds %d bytes, fewer than the size given to Put (%d): %w", end-cur, size, io.ErrUnexpectedEOF)
	}
	return io.NewSectionReader(rs, cur, size), nil
}

// Get implements Bucket. It uses minio-go's Core API, whose GetObject sends
// the request before returning, so a missing object fails here and not on the
// first Read (Client.GetObject is lazy).
func (s *S3) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	if err := checkCall(ctx, name); err != nil {
		return nil, err
	}
	body, _, _, err := s.core.GetObject(ctx, s.bucket, s.key(name), minio.GetObjectOptions{})
	if err != nil {
		return nil, s.wrapErr(ctx, OpGet, name, err)
	}
	return body, nil
}

// GetRange implements Bucket.
func (s *S3) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if err := checkRange(name, off, length); err != nil {
		return nil, err
	}
	if err := checkCall(ctx, name); err != nil {
		return nil, err
	}
	if length == 0 {
		// An empty HTTP range does not exist; only check the object is there.
		if _, err := s.Size(ctx, name); err != nil {
			return nil, err
		}
		return emptyReader(), nil
	}
	end := int64(math.MaxInt64) // S3 cuts a range at the object's end
	if length-1 <= math.MaxInt64-off {
		end = off + length - 1
	}
	var opts minio.GetObjectOptions
	if err := opts.SetRange(off, end); err != nil {
		return nil, fmt.Errorf("objectstore: s3 get_range %q: %w", name, err)
	}
	body, _, _, err := s.core.GetObject(ctx, s.bucket, s.key(name), opts)
	if err != nil {
		// The range starts at or past the end of an existing object
		// (a missing one answers NoSuchKey).
		if minio.ToErrorResponse(err).Code == minio.InvalidRange {
			return emptyReader(), nil
		}
		return nil, s.wrapErr(ctx, OpGetRange, name, err)
	}
	return body, nil
}

// Size implements Bucket.
func (s *S3) Size(ctx context.Context, name string) (int64, error) {
	if err := checkCall(ctx, name); err != nil {
		return 0, err
	}
	info, err := s.client.StatObject(ctx, s.bucket, s.key(name), minio.StatObjectOptions{})
	if err != nil {
		return 0, s.wrapErr(ctx, OpSize, name, err)
	}
	return info.Size, nil
}

// Iter implements Bucket. S3 lists keys in UTF-8 binary order, which is
// lexical byte order.
func (s *S3) Iter(ctx context.Context, prefix string, fn func(name string) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if prefixMatchesNothing(prefix) {
		return nil // and S3 may reject the prefix ("/", "../")
	}
	// MinIO rejects a prefix ending in a "." or ".." segment, although
	// valid names (a/.x, a/..y) start with it: list the parent and filter.
	listPrefix := prefix
	if dir, last := path.Split(prefix); last == "." || last == ".." {
		listPrefix = dir
	}
	// The iterator form runs in this goroutine (ListObjects' channel form
	// leaks its goroutine unless drained) and stops when the loop ends.
	objects := s.client.ListObjectsIter(ctx, s.bucket, minio.ListObjectsOptions{
		Prefix:    s.key(listPrefix),
		Recursive: true,
	})
	for obj := range objects {
		if obj.Err != nil {
			return s.wrapErr(ctx, OpIter, prefix, obj.Err)
		}
		name := strings.TrimPrefix(obj.Key, s.prefix)
		if strings.HasSuffix(name, "/") || !strings.HasPrefix(name, prefix) {
			continue // a "folder" marker made by another tool, or filtered
		}
		if err := fn(name); err != nil {
			return err
		}
	}
	return ctx.Err()
}

// Delete implements Bucket.
func (s *S3) Delete(ctx context.Context, name string) error {
	if err := checkCall(ctx, name); err != nil {
		return err
	}
	err := s.client.RemoveObject(ctx, s.bucket, s.key(name), minio.RemoveObjectOptions{})
	if minio.ToErrorResponse(err).Code == minio.NoSuchKey {
		return nil
	}
	return s.wrapErr(ctx, OpDelete, name, err)
}

// Close implements Bucket: it closes idle connections.
func (s *S3) Close() error {
	s.transport.CloseIdleConnections()
	return nil
}

// String names the bucket for logs.
func (s *S3) String() string {
	return "s3://" + s.bucket + "/" + s.prefix + " at " + s.endpoint
}

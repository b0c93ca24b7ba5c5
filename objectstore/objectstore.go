// Package objectstore is Strata's view of object storage: a small Bucket
// interface and the implementations the broker runs on.
//
//   - S3 talks to AWS S3 or MinIO through minio-go (production).
//   - FS keeps objects as files under a directory (the single-node default).
//   - Mem keeps objects in memory (unit tests of other packages).
//
// Wrappers add behaviour without touching the implementations: Instrument
// records Prometheus metrics and Faulty injects failures and latency for tests.
// Open builds a bucket from a URL (file:///abs/path or s3://BUCKET?...).
//
// Every implementation passes AcceptanceTest (acceptance_test.go), the executable form of
// the contract documented on Bucket. In short: objects are immutable byte
// strings under a flat namespace of names; Put is atomic (all or nothing,
// last writer wins); a missing object is reported as ErrNotFound; listing is
// in lexical byte order.
//
// Object names are slash-separated paths, checked by every implementation the
// same way so that code tested on Mem behaves the same on S3: not empty, at
// most 896 bytes of valid UTF-8 with segments of at most 255, no NUL byte, no leading or trailing '/', no
// empty, "." or ".." segment, and no segment starting with ".tmp." (reserved
// for FS's temporary files). Invalid names fail with ErrInvalidName.
package objectstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"
)

// Errors. Implementations wrap them with %w; test with errors.Is (or
// IsNotFound for ErrNotFound).
var (
	// ErrNotFound is returned (wrapped) for a missing object. Test with IsNotFound.
	ErrNotFound = errors.New("objectstore: object not found")
	// ErrInvalidName is returned (wrapped) for an object name that breaks
	// the naming rules in the package documentation.
	ErrInvalidName = errors.New("objectstore: invalid object name")
	// ErrInvalidRange is returned (wrapped) by GetRange for a negative
	// offset or length.
	ErrInvalidRange = errors.New("objectstore: invalid range")
	// ErrInjected is returned (wrapped) by Faulty for every failure it
	// injects without a caller-supplied error, including SetDown outages.
	ErrInjected = errors.New("objectstore: injected fault")
)

// Bucket is a flat namespace of immutable objects.
//
// Implementations are safe for concurrent use. Every method honours its
// context: a cancelled or expired context makes the call fail with an error
// that wraps ctx.Err().
type Bucket interface {
	// Put stores size bytes from r under name, atomically: readers see all of
	// it or nothing, never a partial object. Putting an existing name replaces
	// the object (last writer wins). If r ends before size bytes the Put fails
	// (wrapping io.ErrUnexpectedEOF) and nothing is stored; bytes after the
	// first size are not read. A negative size means unknown: r is read to EOF.
	// When Put returns nil the object is durable as the implementation defines
	// it (fsynced for FS, acknowledged by the service for S3).
	Put(ctx context.Context, name string, r io.Reader, size int64) error
	// Get reads a whole object. A missing object fails with ErrNotFound from
	// Get itself, not from the first Read. The caller must Close the reader.
	Get(ctx context.Context, name string) (io.ReadCloser, error)
	// GetRange reads length bytes from off; fewer only if the object ends
	// first, and none (an empty reader, no error) when off is at or past the
	// end. A missing object fails with ErrNotFound from GetRange itself. A
	// negative off or length fails with ErrInvalidRange. The caller must Close
	// the reader.
	GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error)
	// Size returns an object's size, or ErrNotFound.
	Size(ctx context.Context, name string) (int64, error)
	// Iter calls fn with the name of every object whose name starts with
	// prefix (a plain string prefix; nested names included), in lexical byte
	// order. An error from fn stops the iteration and is returned as is. fn
	// may call the bucket, including Delete; objects put or deleted during the
	// iteration may or may not be seen.
	Iter(ctx context.Context, prefix string, fn func(name string) error) error
	// Delete removes an object; a missing object is not an error.
	Delete(ctx context.Context, name string) error
	// Close releases resources. The bucket must not be used afterwards.
	Close() error
}

// IsNotFound reports whether err means the object does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// Operation names, used as the "op" label of Instrument's metrics and to
// select operations in Faulty.
const (
	OpPut      = "put"
	OpGet      = "get"
	OpGetRange = "get_range"
	OpSize     = "size"
	OpIter     = "iter"
	OpDelete   = "delete"
)

var allOps = []string{OpPut, OpGet, OpGetRange, OpSize, OpIter, OpDelete}

// tmpPrefix starts the base name of FS's temporary files. Object names may not
// have a segment starting with it, so a temporary file is never an object.
const tmpPrefix = ".tmp."

// Limits on names, applied everywhere: the usual file system limit on a file
// name, for FS, and S3's 1024 bytes of key less room for S3Config.Prefix.
const (
	maxNameLen    = 1024 - maxS3PrefixLen
	maxSegmentLen = 255
)

// checkCall is the check of a call on object name before it starts: the
// name (checkName), then ctx.
func checkCall(ctx context.Context, name string) error {
	if err := checkName(name); err != nil {
		return err
	}
	return ctx.Err()
}

// checkName enforces the naming rules of the package documentation.
func checkName(name string) error {
	if why := nameProblem(name); why != "" {
		return fmt.Errorf("%w %q: %s", ErrInvalidName, name, why)
	}
	return nil
}

func nameProblem(name string) string {
	switch {
	case name == "":
		return "empty"
	case len(name) > maxNameLen:
		return fmt.Sprintf("longer than %d bytes", maxNameLen)
	case !utf8.ValidString(name):
		return "not valid UTF-8"
	case strings.IndexByte(name, 0) >= 0:
		return "contains a NUL byte"
	case strings.HasPrefix(name, "/"):
		return "absolute (starts with '/')"
	case strings.HasSuffix(name, "/"):
		return "ends with '/'"
	}
	for seg := range strings.SplitSeq(name, "/") {
		switch {
		case seg == "":
			return "contains an empty segment ('//')"
		case len(seg) > maxSegmentLen:
			return fmt.Sprintf("has a segment longer than %d bytes", maxSegmentLen)
		case seg == "." || seg == "..":
			return "contains a '.' or '..' segment"
		case strings.HasPrefix(seg, tmpPrefix):
			return "has a segment starting with " + tmpPrefix + " (reserved for temporary files)"
		}
	}
	return ""
}

// prefixMatchesNothing reports whether no valid name can start with prefix:
// the part before its last '/' is not itself a valid name.
func prefixMatchesNothing(prefix string) bool {
	i := strings.LastIndexByte(prefix, '/')
	return i >= 0 && nameProblem(prefix[:i]) != ""
}

func checkRange(name string, off, length int64) error {
	if off < 0 || length < 0 {
		return fmt.Errorf("%w: %q offset %d length %d", ErrInvalidRange, name, off, length)
	}
	return nil
}

// putReader returns the reader a Put should consume: it stops at size bytes,
// turns an early EOF into io.ErrUnexpectedEOF, and fails as soon as ctx is
// done, so a cancelled Put stops reading instead of storing the object.
func putReader(ctx context.Context, r io.Reader, size int64) io.Reader {
	cr := &ctxReader{ctx: ctx, r: r}
	if size < 0 {
		return cr
	}
	return &exactReader{r: cr, left: size}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// exactReader yields exactly left bytes of r, or fails.
type exactReader struct {
	r    io.Reader
	left int64
}

func (e *exactReader) Read(p []byte) (int, error) {
	if e.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF {
		if e.left > 0 {
			return n, fmt.Errorf("objectstore: reader ended %d bytes short of the size given to Put: %w", e.left, io.ErrUnexpectedEOF)
		}
		if n > 0 {
			err = nil
		}
	}
	return n, err
}

// emptyReader is what GetRange returns for a range past the end.
func emptyReader() io.ReadCloser { return io.NopCloser(strings.NewReader("")) }

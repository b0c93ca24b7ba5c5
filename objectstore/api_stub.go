package objectstore

// API CONTRACT (stub written by the lead; the implementer replaces this file with
// the real implementation, keeping every exported name and signature below).

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// ErrNotFound is returned (wrapped) for a missing object. Test with IsNotFound.
var ErrNotFound = errors.New("objectstore: object not found")

// Bucket is a flat namespace of immutable objects.
type Bucket interface {
	// Put stores size bytes from r under name, atomically: readers see all of it or nothing.
	Put(ctx context.Context, name string, r io.Reader, size int64) error
	// Get reads a whole object.
	Get(ctx context.Context, name string) (io.ReadCloser, error)
	// GetRange reads length bytes from off; fewer only if the object ends first.
	GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error)
	// Size returns an object's size.
	Size(ctx context.Context, name string) (int64, error)
	// Iter calls fn with the name of every object under prefix, in lexical order.
	Iter(ctx context.Context, prefix string, fn func(name string) error) error
	// Delete removes an object; a missing object is not an error.
	Delete(ctx context.Context, name string) error
	// Close releases resources.
	Close() error
}

// IsNotFound reports whether err means the object does not exist.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// Open opens a bucket by URL: file:///abs/path or
// s3://BUCKET?endpoint=HOST:PORT&insecure=true&region=R. It creates the bucket
// (or directory) when missing and checks that it is reachable.
func Open(ctx context.Context, rawURL string) (Bucket, error) { panic("stub") }

// NewMem returns an in-memory bucket for unit tests.
func NewMem() Bucket { panic("stub") }

// Instrument wraps b with Prometheus metrics (operations, bytes, latency, errors).
func Instrument(b Bucket, reg prometheus.Registerer) Bucket { panic("stub") }

// AcceptanceTest checks b against the Bucket contract. b must be empty.
func AcceptanceTest(t *testing.T, b Bucket) { panic("stub") }

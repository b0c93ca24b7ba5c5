package objectstore

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
)

// Mem is an in-memory bucket for unit tests. Stored byte slices are never
// modified after a Put, so readers share them without copying.
type Mem struct {
	mu      sync.RWMutex
	objects map[string][]byte
}

var _ Bucket = (*Mem)(nil)

// NewMem returns an in-memory bucket for unit tests.
func NewMem() Bucket { return &Mem{objects: make(map[string][]byte)} }

// Put implements Bucket.
func (m *Mem) Put(ctx context.Context, name string, r io.Reader, size int64) error {
	if err := checkCall(ctx, name); err != nil {
		return err
	}
	var buf bytes.Buffer
	if size > 0 {
		buf.Grow(int(size))
	}
	if _, err := buf.ReadFrom(putReader(ctx, r, size)); err != nil {
		return fmt.Errorf("objectstore: mem put %q: %w", name, err)
	}
	if err := ctx.Err(); err != nil { // cancelled during the last Read
		return err
	}
	m.mu.Lock()
	m.objects[name] = buf.Bytes()
	m.mu.Unlock()
	return nil
}

func (m *Mem) lookup(ctx context.Context, op, name string) ([]byte, error) {
	if err := checkCall(ctx, name); err != nil {
		return nil, err
	}
	m.mu.RLock()
	data, ok := m.objects[name]
	m.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w: mem %s %q", ErrNotFound, op, name)
	}
	return data, nil
}

// Get implements Bucket.
func (m *Mem) Get(ctx context.Context, name string) (io.ReadCloser, error) {
	data, err := m.lookup(ctx, OpGet, name)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// GetRange implements Bucket.
func (m *Mem) GetRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if err := checkRange(name, off, length); err != nil {
		return nil, err
	}
	data, err := m.lookup(ctx, OpGetRange, name)
	if err != nil {
		return nil, err
	}
	if off >= int64(len(data)) {
		return emptyReader(), nil
	}
	data = data[off:]
	if length < int64(len(data)) { // not off+length: it may overflow
		data = data[:length]
	}
	return io.NopCloser(bytes.NewReader(data)), nil
}

// Size implements Bucket.
func (m *Mem) Size(ctx context.Context, name string) (int64, error) {
	data, err := m.lookup(ctx, OpSize, name)
	if err != nil {
		return 0, err
	}
	return int64(len(data)), nil
}

// Iter implements Bucket. It lists a snapshot taken at the start, without
// holding the lock while fn runs, so fn may use the bucket.
func (m *Mem) Iter(ctx context.Context, prefix string, fn func(name string) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if prefixMatchesNothing(prefix) {
		return nil
	}
	m.mu.RLock()
	var names []string
	for name := range m.objects {
		if strings.HasPrefix(name, prefix) {
			names = append(names, name)
		}
	}
	m.mu.RUnlock()
	slices.Sort(names)
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := fn(name); err != nil {
			return err
		}
	}
	return nil
}

// Delete implements Bucket.
func (m *Mem) Delete(ctx context.Context, name string) error {
	if err := checkCall(ctx, name); err != nil {
		return err
	}
	m.mu.Lock()
	delete(m.objects, name)
	m.mu.Unlock()
	return nil
}

// Close implements Bucket; it does nothing.
func (m *Mem) Close() error { return nil }

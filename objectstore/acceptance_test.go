package objectstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
)

// AcceptanceTest checks b against the Bucket contract. b must be empty.
//
// Every implementation in this package passes it, and so must any other (or
// any wrapper). It leaves objects behind; give it a fresh bucket.
func AcceptanceTest(t *testing.T, b Bucket) {
	t.Helper()
	if names := listAll(t, t.Context(), b, ""); len(names) > 0 {
		t.Fatalf("AcceptanceTest needs an empty bucket; it holds %d objects, first %q", len(names), names[0])
	}
	t.Run("PutGet", func(t *testing.T) { testPutGet(t, b) })
	t.Run("GetRange", func(t *testing.T) { testGetRange(t, b) })
	t.Run("NotFound", func(t *testing.T) { testNotFound(t, b) })
	t.Run("Overwrite", func(t *testing.T) { testOverwrite(t, b) })
	t.Run("Iter", func(t *testing.T) { testIter(t, b) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, b) })
	t.Run("ConcurrentPuts", func(t *testing.T) { testConcurrentPuts(t, b) })
	t.Run("AtomicOverwrite", func(t *testing.T) { testAtomicOverwrite(t, b) })
	t.Run("FailedPut", func(t *testing.T) { testFailedPut(t, b) })
	t.Run("ContextCanceled", func(t *testing.T) { testContextCanceled(t, b) })
	t.Run("Names", func(t *testing.T) { testNames(t, b) })
}

// testData returns n pseudo-random bytes, the same for the same seed.
func testData(seed uint64, n int) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(r.Uint32())
	}
	return p
}

func put(t *testing.T, ctx context.Context, b Bucket, name string, data []byte) {
	t.Helper()
	if err := b.Put(ctx, name, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put(%q, %d bytes): %v", name, len(data), err)
	}
}

func readClose(rc io.ReadCloser) ([]byte, error) {
	data, err := io.ReadAll(rc)
	if cerr := rc.Close(); err == nil {
		err = cerr
	}
	return data, err
}

func get(t *testing.T, ctx context.Context, b Bucket, name string) []byte {
	t.Helper()
	rc, err := b.Get(ctx, name)
	if err != nil {
		t.Fatalf("Get(%q): %v", name, err)
	}
	data, err := readClose(rc)
	if err != nil {
		t.Fatalf("Get(%q): read: %v", name, err)
	}
	return data
}

func getRange(t *testing.T, ctx context.Context, b Bucket, name string, off, length int64) []byte {
	t.Helper()
	rc, err := b.GetRange(ctx, name, off, length)
	if err != nil {
		t.Fatalf("GetRange(%q, %d, %d): %v", name, off, length, err)
	}
	data, err := readClose(rc)
	if err != nil {
		t.Fatalf("GetRange(%q, %d, %d): read: %v", name, off, length, err)
	}
	return data
}

func listAll(t *testing.T, ctx context.Context, b Bucket, prefix string) []string {
	t.Helper()
	var names []string
	if err := b.Iter(ctx, prefix, func(name string) error {
		names = append(names, name)
		return nil
	}); err != nil {
		t.Fatalf("Iter(%q): %v", prefix, err)
	}
	return names
}

func checkContent(t *testing.T, what string, got, want []byte) {
	t.Helper()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("%s: got %d bytes, want %d; first difference at byte %d", what, len(got), len(want), i)
	}
}

func testPutGet(t *testing.T, b Bucket) {
	ctx := t.Context()
	for i, tc := range []struct {
		name string
		size int
	}{
		{"putget/empty", 0},
		{"putget/one", 1},
		{"putget/small", 1000},
		{"putget/a/deeply/nested/name", 4096},
		// Past minio-go's 16 MiB part size: S3 uploads it in parts.
		{"putget/large", 17<<20 + 5},
	} {
		data := testData(uint64(i), tc.size)
		put(t, ctx, b, tc.name, data)
		checkContent(t, "Get("+tc.name+")", get(t, ctx, b, tc.name), data)
		size, err := b.Size(ctx, tc.name)
		if err != nil || size != int64(tc.size) {
			t.Fatalf("Size(%q) = %d, %v; want %d, nil", tc.name, size, err, tc.size)
		}
	}

	// A negative size means: read to EOF. Hide bytes.Reader's other methods
	// so implementations cannot find the length another way.
	data := testData(100, 100<<10)
	if err := b.Put(ctx, "putget/unknown-size", struct{ io.Reader }{bytes.NewReader(data)}, -1); err != nil {
		t.Fatalf("Put with size -1: %v", err)
	}
	checkContent(t, "Get(putget/unknown-size)", get(t, ctx, b, "putget/unknown-size"), data)

	// Only size bytes are stored when the reader has more.
	long := testData(101, 200)
	if err := b.Put(ctx, "putget/prefix-of-reader", bytes.NewReader(long), 150); err != nil {
		t.Fatalf("Put of 150 bytes from a 200-byte reader: %v", err)
	}
	checkContent(t, "Get(putget/prefix-of-reader)", get(t, ctx, b, "putget/prefix-of-reader"), long[:150])
}

func testGetRange(t *testing.T, b Bucket) {
	ctx := t.Context()
	const name = "range/obj"
	data := testData(200, 1000)
	put(t, ctx, b, name, data)
	for _, tc := range []struct {
		off, length int64
		want        []byte
	}{
		{0, 10, data[:10]},           // start
		{500, 100, data[500:600]},    // middle
		{990, 10, data[990:]},        // end
		{999, 1, data[999:]},         // last byte
		{0, 1000, data},              // whole
		{0, 5000, data},              // longer than the object
		{990, 100, data[990:]},       // runs past the end: fewer bytes
		{0, math.MaxInt64, data},     // off+length overflows int64
		{1, math.MaxInt64, data[1:]}, // likewise
		{1000, 1, nil},               // starts at the end: nothing
		{5000, 10, nil},              // starts past the end: nothing
		{10, 0, nil},                 // zero length
	} {
		what := fmt.Sprintf("GetRange(%q, %d, %d)", name, tc.off, tc.length)
		checkContent(t, what, getRange(t, ctx, b, name, tc.off, tc.length), tc.want)
	}

	put(t, ctx, b, "range/empty", nil)
	for _, r := range [][2]int64{{0, 0}, {0, 10}, {5, 5}} {
		if got := getRange(t, ctx, b, "range/empty", r[0], r[1]); len(got) != 0 {
			t.Fatalf("GetRange(range/empty, %d, %d) = %d bytes, want 0", r[0], r[1], len(got))
		}
	}

	for _, r := range [][2]int64{{-1, 10}, {0, -1}} {
		rc, err := b.GetRange(ctx, name, r[0], r[1])
		if !errors.Is(err, ErrInvalidRange) {
			if rc != nil {
				rc.Close()
			}
			t.Fatalf("GetRange(%q, %d, %d) error = %v, want ErrInvalidRange", name, r[0], r[1], err)
		}
	}
}

func testNotFound(t *testing.T, b Bucket) {
	ctx := t.Context()
	put(t, ctx, b, "notfound/dir/obj", []byte("x"))
	// notfound/dir is a prefix of an object, not an object.
	for _, name := range []string{"notfound/missing", "notfound/dir", "notfound/dir/obj/below", "never/seen"} {
		if rc, err := b.Get(ctx, name); !IsNotFound(err) {
			if rc != nil {
				rc.Close()
			}
			t.Errorf("Get(%q) error = %v, want ErrNotFound", name, err)
		}
		for _, r := range [][2]int64{{0, 10}, {100, 10}, {0, 0}} {
			if rc, err := b.GetRange(ctx, name, r[0], r[1]); !IsNotFound(err) {
				if rc != nil {
					rc.Close()
				}
				t.Errorf("GetRange(%q, %d, %d) error = %v, want ErrNotFound", name, r[0], r[1], err)
			}
		}
		if n, err := b.Size(ctx, name); !IsNotFound(err) {
			t.Errorf("Size(%q) = %d, %v; want ErrNotFound", name, n, err)
		}
	}
}

func testOverwrite(t *testing.T, b Bucket) {
	ctx := t.Context()
	const name = "overwrite/obj"
	v1, v2 := testData(300, 2000), testData(301, 700)
	put(t, ctx, b, name, v1)
	put(t, ctx, b, name, v2) // shorter: no tail of v1 may survive
	checkContent(t, "Get after overwrite", get(t, ctx, b, name), v2)
	if n, err := b.Size(ctx, name); err != nil || n != int64(len(v2)) {
		t.Fatalf("Size after overwrite = %d, %v; want %d", n, err, len(v2))
	}
	checkContent(t, "GetRange after overwrite", getRange(t, ctx, b, name, 600, 200), v2[600:])
	if names := listAll(t, ctx, b, "overwrite/"); !slices.Equal(names, []string{name}) {
		t.Fatalf("Iter(overwrite/) = %q, want [%q]", names, name)
	}
}

func testIter(t *testing.T, b Bucket) {
	ctx := t.Context()
	// Chosen so that a walk of directories in name order is not lexical
	// order: '-' (0x2d) and '.' (0x2e) sort before '/' (0x2f), '0' after.
	all := []string{
		"iter/a-b",
		"iter/a.x",
		"iter/a/b",
		"iter/a/c/d",
		"iter/a/c/e",
		"iter/a0",
		"iter/ab/x",
		"iter/b",
		"iter/b-",
	}
	for _, i := range []int{5, 2, 8, 0, 3, 7, 1, 6, 4} { // put out of order
		put(t, ctx, b, all[i], []byte(all[i]))
	}
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"iter/", all},
		{"iter", all},
		{"iter/a", all[:7]},
		{"iter/a/", all[2:5]},
		{"iter/a/c", all[3:5]},
		{"iter/a/c/", all[3:5]},
		{"iter/a/c/d", all[3:4]},
		{"iter/ab", all[6:7]},
		{"iter/b", all[7:]},
		{"iter/b-", all[8:]},
		{"iter/c", nil},
		{"iter/a/b/", nil}, // iter/a/b is an object, not a "directory"
		{"iter/zzz/", nil},
		{"iter/a/.", nil},
		{"iter/.", nil},
		{"iter/..", nil},
		{"none/", nil},
		{"/", nil},
		{"../", nil},
	} {
		if got := listAll(t, ctx, b, tc.prefix); !slices.Equal(got, tc.want) {
			t.Errorf("Iter(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}

	// The whole bucket: sorted, and holding our names.
	everything := listAll(t, ctx, b, "")
	if !slices.IsSorted(everything) {
		t.Errorf("Iter(\"\") is not in lexical order: %q", everything)
	}
	for _, name := range all {
		if !slices.Contains(everything, name) {
			t.Errorf("Iter(\"\") misses %q", name)
		}
	}

	// An error from fn stops the iteration and comes back unchanged.
	errStop := errors.New("stop")
	calls := 0
	err := b.Iter(ctx, "iter/", func(string) error { calls++; return errStop })
	if err != errStop || calls != 1 {
		t.Errorf("Iter with failing fn = %v after %d calls, want errStop after 1", err, calls)
	}
}

func testDelete(t *testing.T, b Bucket) {
	ctx := t.Context()
	put(t, ctx, b, "delete/a/b/c", []byte("c"))
	put(t, ctx, b, "delete/a/x", []byte("x"))
	for range 2 { // deleting twice is fine
		if err := b.Delete(ctx, "delete/a/b/c"); err != nil {
			t.Fatalf("Delete(delete/a/b/c): %v", err)
		}
	}
	if _, err := b.Size(ctx, "delete/a/b/c"); !IsNotFound(err) {
		t.Fatalf("Size after Delete = %v, want ErrNotFound", err)
	}
	if err := b.Delete(ctx, "delete/never/existed"); err != nil {
		t.Fatalf("Delete of a missing object: %v", err)
	}
	if err := b.Delete(ctx, "delete/a"); err != nil { // a prefix, not an object
		t.Fatalf("Delete(delete/a): %v", err)
	}
	checkContent(t, "Get(delete/a/x)", get(t, ctx, b, "delete/a/x"), []byte("x"))
	if got := listAll(t, ctx, b, "delete/"); !slices.Equal(got, []string{"delete/a/x"}) {
		t.Fatalf("Iter(delete/) after Delete = %q", got)
	}
	// A name that was only a prefix can become an object once nothing is
	// under it.
	put(t, ctx, b, "delete/a/b", []byte("b"))
	checkContent(t, "Get(delete/a/b)", get(t, ctx, b, "delete/a/b"), []byte("b"))

	// Deleting from inside Iter.
	for i := range 20 {
		put(t, ctx, b, fmt.Sprintf("delete/iter/%d/obj", i), []byte{byte(i)})
	}
	n := 0
	if err := b.Iter(ctx, "delete/iter/", func(name string) error {
		n++
		return b.Delete(ctx, name)
	}); err != nil {
		t.Fatalf("Iter deleting every object: %v", err)
	}
	if n != 20 {
		t.Fatalf("Iter deleting every object saw %d objects, want 20", n)
	}
	if got := listAll(t, ctx, b, "delete/iter/"); len(got) != 0 {
		t.Fatalf("Iter after deleting everything = %q", got)
	}
}

func testConcurrentPuts(t *testing.T, b Bucket) {
	ctx := t.Context()
	const writers, each = 8, 4
	name := func(w, i int) string { return fmt.Sprintf("concurrent/w%d/%d", w, i) }
	data := func(w, i int) []byte { return testData(uint64(1000+w*each+i), 10_000+w*100+i) }
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				d := data(w, i)
				if err := b.Put(ctx, name(w, i), bytes.NewReader(d), int64(len(d))); err != nil {
					t.Errorf("Put(%q): %v", name(w, i), err)
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	for w := range writers {
		for i := range each {
			checkContent(t, "Get("+name(w, i)+")", get(t, ctx, b, name(w, i)), data(w, i))
		}
	}
	if got := listAll(t, ctx, b, "concurrent/"); len(got) != writers*each {
		t.Fatalf("Iter(concurrent/) = %d names, want %d", len(got), writers*each)
	}
}

// testAtomicOverwrite has writers replace one object while readers check
// that every read returns one whole version: all bytes equal to the version
// number, and the length that version has.
func testAtomicOverwrite(t *testing.T, b Bucket) {
	ctx := t.Context()
	const name = "atomic/obj"
	const writers, versions = 4, 5
	version := func(v int) []byte { return bytes.Repeat([]byte{byte(v)}, 64<<10+v*1000) }
	put(t, ctx, b, name, version(0))

	var writing, reading sync.WaitGroup
	done := make(chan struct{})
	for w := range writers {
		writing.Go(func() {
			for i := range versions {
				v := 1 + w*versions + i
				d := version(v)
				if err := b.Put(ctx, name, bytes.NewReader(d), int64(len(d))); err != nil {
					t.Errorf("Put version %d: %v", v, err)
				}
			}
		})
	}
	for range 2 {
		reading.Go(func() {
			for reads := 0; ; reads++ {
				select {
				case <-done:
					if reads > 0 {
						return
					}
				default:
				}
				rc, err := b.Get(ctx, name)
				if err != nil {
					t.Errorf("Get during overwrites: %v", err)
					return
				}
				got, err := readClose(rc)
				if err != nil {
					t.Errorf("Get during overwrites: read: %v", err)
					return
				}
				if len(got) == 0 || !bytes.Equal(got, version(int(got[0]))) {
					t.Errorf("Get during overwrites returned a torn object (%d bytes)", len(got))
					return
				}
			}
		})
	}
	writing.Wait()
	close(done)
	reading.Wait()
}

// errReader yields n bytes then fails.
type errReader struct {
	n   int
	err error
}

func (e *errReader) Read(p []byte) (int, error) {
	if e.n == 0 {
		return 0, e.err
	}
	k := min(len(p), e.n)
	clear(p[:k])
	e.n -= k
	return k, nil
}

// testFailedPut checks that a Put whose reader falls short or fails stores
// nothing and leaves an existing object as it was.
func testFailedPut(t *testing.T, b Bucket) {
	ctx := t.Context()
	old := testData(400, 300)
	put(t, ctx, b, "failedput/existing", old)
	errBoom := errors.New("boom")
	for _, name := range []string{"failedput/new", "failedput/existing"} {
		for _, tc := range []struct {
			what string
			r    io.Reader
			size int64
		}{
			{"short reader", bytes.NewReader(make([]byte, 50)), 100},
			{"short opaque reader", &errReader{n: 50, err: io.EOF}, 100},
			{"failing reader", &errReader{n: 10, err: errBoom}, 100},
			{"failing reader of unknown size", &errReader{n: 10, err: errBoom}, -1},
		} {
			if err := b.Put(ctx, name, tc.r, tc.size); err == nil {
				t.Errorf("Put(%q) with a %s succeeded", name, tc.what)
			}
		}
	}
	if _, err := b.Size(ctx, "failedput/new"); !IsNotFound(err) {
		t.Errorf("Size(failedput/new) after failed Puts = %v, want ErrNotFound", err)
	}
	checkContent(t, "Get(failedput/existing) after failed Puts", get(t, ctx, b, "failedput/existing"), old)
}

// cancelingReader cancels a context once it has yielded after bytes.
type cancelingReader struct {
	r      io.Reader
	after  int
	cancel context.CancelFunc
}

func (c *cancelingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.after -= n; c.after <= 0 {
		c.cancel()
	}
	return n, err
}

func testContextCanceled(t *testing.T, b Bucket) {
	put(t, t.Context(), b, "canceled/existing", []byte("data"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	check := func(what string, err error) {
		t.Helper()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s with a cancelled context: error = %v, want context.Canceled", what, err)
		}
	}
	check("Put", b.Put(ctx, "canceled/new", strings.NewReader("data"), 4))
	for _, name := range []string{"canceled/existing", "canceled/missing"} {
		rc, err := b.Get(ctx, name)
		if rc != nil {
			rc.Close()
		}
		check("Get("+name+")", err)
		rc, err = b.GetRange(ctx, name, 0, 2)
		if rc != nil {
			rc.Close()
		}
		check("GetRange("+name+")", err)
		_, err = b.Size(ctx, name)
		check("Size("+name+")", err)
		check("Delete("+name+")", b.Delete(ctx, name))
	}
	called := false
	check("Iter", b.Iter(ctx, "canceled/", func(string) error { called = true; return nil }))
	if called {
		t.Errorf("Iter with a cancelled context called fn")
	}
	if _, err := b.Size(t.Context(), "canceled/new"); !IsNotFound(err) {
		t.Errorf("Put with a cancelled context stored the object (Size error %v)", err)
	}
	if _, err := b.Size(t.Context(), "canceled/existing"); err != nil {
		t.Errorf("Delete with a cancelled context deleted the object (Size error %v)", err)
	}

	// Cancelled in the middle of a Put: nothing is stored.
	ctx, cancel = context.WithCancel(t.Context())
	defer cancel()
	data := testData(500, 1<<20)
	r := &cancelingReader{r: bytes.NewReader(data), after: 64 << 10, cancel: cancel}
	if err := b.Put(ctx, "canceled/midway", r, int64(len(data))); err == nil {
		t.Errorf("Put cancelled midway succeeded")
	}
	if _, err := b.Size(t.Context(), "canceled/midway"); !IsNotFound(err) {
		t.Errorf("Put cancelled midway stored the object (Size error %v)", err)
	}
}

func testNames(t *testing.T, b Bucket) {
	ctx := t.Context()
	for _, name := range []string{
		"", "/abs", "names/", "names//x", "names/./x", "names/../x", "..", ".",
		"names/x/..", "names/.tmp.x", ".tmp.y", "names/nul\x00", "names/\xff",
		"names/" + strings.Repeat("s", maxSegmentLen+1),
		strings.Repeat(strings.Repeat("n", 99)+"/", maxNameLen/100+1) + "n",
	} {
		err := b.Put(ctx, name, strings.NewReader("x"), 1)
		if !errors.Is(err, ErrInvalidName) {
			t.Errorf("Put(%q) error = %v, want ErrInvalidName", name, err)
		}
		if rc, err := b.Get(ctx, name); !errors.Is(err, ErrInvalidName) {
			if rc != nil {
				rc.Close()
			}
			t.Errorf("Get(%q) error = %v, want ErrInvalidName", name, err)
		}
		if rc, err := b.GetRange(ctx, name, 0, 1); !errors.Is(err, ErrInvalidName) {
			if rc != nil {
				rc.Close()
			}
			t.Errorf("GetRange(%q) error = %v, want ErrInvalidName", name, err)
		}
		if _, err := b.Size(ctx, name); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Size(%q) error = %v, want ErrInvalidName", name, err)
		}
		if err := b.Delete(ctx, name); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Delete(%q) error = %v, want ErrInvalidName", name, err)
		}
	}
	if got := listAll(t, ctx, b, "names/"); len(got) != 0 {
		t.Errorf("invalid names were stored: %q", got)
	}

	// Unusual but valid names.
	odd := []string{
		"names/..x", "names/.hidden", "names/a b", "names/a:b", "names/a+b=c&d",
		"names/ünïcödé", "names/x.tmp.", "names/" + strings.Repeat("s", maxSegmentLen),
		longName(),
	}
	for i, name := range odd {
		put(t, ctx, b, name, []byte{byte(i)})
		checkContent(t, "Get("+name+")", get(t, ctx, b, name), []byte{byte(i)})
	}
	want := slices.Sorted(slices.Values(odd))
	if got := listAll(t, ctx, b, "names/"); !slices.Equal(got, want) {
		t.Errorf("Iter(names/) = %q, want %q", got, want)
	}
	// Prefixes ending in a "." or ".." segment still match such names.
	for _, tc := range []struct {
		prefix string
		want   []string
	}{
		{"names/.", []string{"names/..x", "names/.hidden"}},
		{"names/..", []string{"names/..x"}},
	} {
		if got := listAll(t, ctx, b, tc.prefix); !slices.Equal(got, tc.want) {
			t.Errorf("Iter(%q) = %q, want %q", tc.prefix, got, tc.want)
		}
	}
}

// longName is a valid name of the maximum length.
func longName() string {
	name := "names/long"
	for len(name) < maxNameLen {
		name += "/" + strings.Repeat("n", min(maxSegmentLen, maxNameLen-len(name)-1))
	}
	return name
}

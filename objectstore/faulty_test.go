package objectstore

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// Faulty with nothing configured is a transparent Bucket.
func TestFaultyAcceptance(t *testing.T) {
	AcceptanceTest(t, NewFaulty(NewMem()))
}

func TestFaultyFailNext(t *testing.T) {
	ctx := t.Context()
	f := NewFaulty(NewMem())
	errA, errB := errors.New("a"), errors.New("b")
	f.FailNext(OpPut, 1, errA)
	f.FailNext(OpPut, 1, errB)
	f.FailNext(OpGet, 2, nil)

	if err := f.Put(ctx, "x", strings.NewReader("1"), 1); err != errA {
		t.Fatalf("first Put = %v, want a", err)
	}
	if err := f.Put(ctx, "x", strings.NewReader("1"), 1); err != errB {
		t.Fatalf("second Put = %v, want b", err)
	}
	if _, err := f.Size(ctx, "x"); !IsNotFound(err) {
		t.Fatalf("a failed Put reached the bucket (Size: %v)", err)
	}
	if err := f.Put(ctx, "x", strings.NewReader("1"), 1); err != nil {
		t.Fatalf("third Put: %v", err)
	}
	for i := range 2 {
		if _, err := f.Get(ctx, "x"); !errors.Is(err, ErrInjected) {
			t.Fatalf("Get %d = %v, want ErrInjected", i, err)
		}
	}
	checkContent(t, "Get after the faults", get(t, ctx, f, "x"), []byte("1"))

	// "" matches any operation.
	f.FailNext("", 1, nil)
	if _, err := f.Size(ctx, "x"); !errors.Is(err, ErrInjected) {
		t.Fatalf("Size = %v, want ErrInjected", err)
	}
	if _, err := f.Size(ctx, "x"); err != nil {
		t.Fatalf("Size: %v", err)
	}
	if got := f.Injected(); got != 5 {
		t.Fatalf("Injected() = %d, want 5", got)
	}
	if got, want := f.Calls(OpPut), 3; got != want {
		t.Fatalf("Calls(put) = %d, want %d", got, want)
	}
	if got, want := f.Calls(""), 3+3+3; got != want {
		t.Fatalf("Calls(\"\") = %d, want %d", got, want)
	}
}

func TestFaultyFailNextAfter(t *testing.T) {
	ctx := t.Context()
	f := NewFaulty(NewMem())
	f.FailNextAfter(OpPut, 1, nil)
	err := f.Put(ctx, "x", strings.NewReader("data"), 4)
	if !errors.Is(err, ErrInjected) {
		t.Fatalf("Put = %v, want ErrInjected", err)
	}
	// The write happened although the caller saw an error.
	checkContent(t, "Get", get(t, ctx, f, "x"), []byte("data"))

	f.FailNextAfter(OpGetRange, 1, nil)
	if rc, err := f.GetRange(ctx, "x", 0, 2); !errors.Is(err, ErrInjected) || rc != nil {
		t.Fatalf("GetRange = %v, %v; want nil, ErrInjected", rc, err)
	}
	// Failures of the call itself pass through and do not use up the fault.
	f.FailNextAfter(OpSize, 1, nil)
	if _, err := f.Size(ctx, "missing"); !IsNotFound(err) {
		t.Fatalf("Size(missing) = %v, want ErrNotFound", err)
	}
	if _, err := f.Size(ctx, "x"); !errors.Is(err, ErrInjected) {
		t.Fatalf("Size(x) = %v, want ErrInjected", err)
	}
}

func TestFaultyDown(t *testing.T) {
	ctx := t.Context()
	f := NewFaulty(NewMem())
	put(t, ctx, f, "x", []byte("data"))
	f.SetDown(true)
	errs := map[string]error{}
	errs[OpPut] = f.Put(ctx, "y", strings.NewReader("1"), 1)
	_, errs[OpGet] = f.Get(ctx, "x")
	_, errs[OpGetRange] = f.GetRange(ctx, "x", 0, 1)
	_, errs[OpSize] = f.Size(ctx, "x")
	errs[OpIter] = f.Iter(ctx, "", func(string) error { return nil })
	errs[OpDelete] = f.Delete(ctx, "x")
	for _, op := range allOps {
		if err := errs[op]; !errors.Is(err, ErrInjected) || IsNotFound(err) {
			t.Errorf("%s while down = %v, want ErrInjected", op, err)
		}
	}
	f.SetDown(false)
	checkContent(t, "Get after the outage", get(t, ctx, f, "x"), []byte("data"))
	if _, err := f.Size(ctx, "y"); !IsNotFound(err) {
		t.Fatalf("a Put during the outage was stored (Size: %v)", err)
	}
}

func TestFaultyLatency(t *testing.T) {
	f := NewFaulty(NewMem())
	f.SetLatency(time.Hour)
	// The delay gives way to the context.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Millisecond)
	defer cancel()
	if _, err := f.Size(ctx, "x"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Size with latency and a short deadline = %v, want DeadlineExceeded", err)
	}
	f.SetLatency(time.Millisecond)
	if _, err := f.Size(t.Context(), "x"); !IsNotFound(err) {
		t.Fatalf("Size = %v, want ErrNotFound", err)
	}
}

func TestFaultyHook(t *testing.T) {
	ctx := t.Context()
	f := NewFaulty(NewMem())
	errPath := errors.New("bad path")
	r := rand.New(rand.NewPCG(1, 2))
	f.SetHook(func(op, name string) error {
		switch {
		case strings.HasPrefix(name, "bad/"):
			return errPath
		case op == OpPut && strings.HasPrefix(name, "flaky/") && r.IntN(2) == 0:
			return ErrInjected
		}
		return nil
	})
	if err := f.Put(ctx, "bad/x", strings.NewReader("1"), 1); err != errPath {
		t.Fatalf("Put(bad/x) = %v, want the hook's error", err)
	}
	put(t, ctx, f, "good/x", []byte("1"))
	failed := 0
	for range 100 {
		if err := f.Put(ctx, "flaky/x", bytes.NewReader(nil), 0); err != nil {
			failed++
		}
	}
	if failed == 0 || failed == 100 {
		t.Fatalf("%d of 100 flaky Puts failed, want some", failed)
	}
	f.Reset()
	put(t, ctx, f, "bad/x", []byte("1"))
}

func TestFaultyUnknownOp(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("FailNext with an unknown operation did not panic")
		}
	}()
	NewFaulty(NewMem()).FailNext("PUT", 1, nil)
}

// The readers Faulty returns are the wrapped bucket's.
func TestFaultyPassesReaders(t *testing.T) {
	ctx := t.Context()
	f := NewFaulty(NewMem())
	put(t, ctx, f, "x", []byte("0123456789"))
	rc, err := f.GetRange(ctx, "x", 2, 3)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "234" {
		t.Fatalf("GetRange = %q", got)
	}
}

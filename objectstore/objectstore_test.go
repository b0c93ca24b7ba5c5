package objectstore

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func TestMemAcceptance(t *testing.T) {
	AcceptanceTest(t, NewMem())
}

func TestFSAcceptance(t *testing.T) {
	b, err := NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	AcceptanceTest(t, b)
}

func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"a", true},
		{"a/b/c", true},
		{"a/.b", true},
		{"a/..b", true},
		{"a/b.tmp.", true},
		{"", false},
		{"/a", false},
		{"a/", false},
		{"a//b", false},
		{"./a", false},
		{"a/.", false},
		{"a/../b", false},
		{"..", false},
		{".tmp.x", false},
		{"a/.tmp.x/b", false},
		{"a\x00b", false},
		{"\xff", false},
		{strings.Repeat("a", 256), false},
		{strings.Repeat("a", 255), true},
	} {
		err := checkName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("checkName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
	}
}

// FS must hide its temporary files, including ones a crash left behind.
func TestFSTempFilesInvisible(t *testing.T) {
	dir := t.TempDir()
	b, err := NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	put(t, ctx, b, "seg/a", []byte("a"))
	for _, p := range []string{".tmp.123", "seg/.tmp.456", "seg/.tmp.dir/x"} {
		p = filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("partial"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got := listAll(t, ctx, b, ""); len(got) != 1 || got[0] != "seg/a" {
		t.Fatalf("Iter = %q, want [seg/a]", got)
	}
	if _, err := b.Get(ctx, "seg/.tmp.456"); err == nil {
		t.Fatal("Get of a temporary file succeeded")
	}
	// A successful Put leaves no temporary file behind.
	entries, err := os.ReadDir(filepath.Join(dir, "seg"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != ".tmp.456,.tmp.dir,a" {
		t.Fatalf("seg/ holds %q", names)
	}
}

func TestFSLayout(t *testing.T) {
	dir := t.TempDir()
	b, err := NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	put(t, t.Context(), b, "topic/0/seg", []byte("data"))
	got, err := os.ReadFile(filepath.Join(dir, "topic", "0", "seg"))
	if err != nil || string(got) != "data" {
		t.Fatalf("file = %q, %v; want the object's bytes", got, err)
	}
	if err := b.Delete(t.Context(), "topic/0/seg"); err != nil {
		t.Fatal(err)
	}
	// Empty directories go with their last object; the root stays.
	if _, err := os.Stat(filepath.Join(dir, "topic")); !os.IsNotExist(err) {
		t.Fatalf("topic/ still exists after its last object was deleted (%v)", err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("root directory: %v", err)
	}
}

func TestNewFSErrors(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, dir := range []string{"", file, filepath.Join(file, "sub")} {
		if _, err := NewFS(dir); err == nil {
			t.Errorf("NewFS(%q) succeeded", dir)
		}
	}
}

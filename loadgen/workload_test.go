package loadgen

import (
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseSizeDist(t *testing.T) {
	tests := []struct {
		in      string
		want    SizeDist
		wantErr string
	}{
		{in: "1024", want: SizeDist{1024, 1024}},
		{in: "1KiB", want: SizeDist{1024, 1024}},
		{in: "8 MiB", want: SizeDist{8 << 20, 8 << 20}},
		{in: "512-2KiB", want: SizeDist{512, 2048}},
		{in: "1KB", wantErr: "ambiguous"},
		{in: "big", wantErr: "want a number"},
		{in: "2KiB-1KiB", wantErr: "ends below its start"},
		{in: "99999999999999999999", wantErr: "too large"},
	}
	for _, tt := range tests {
		got, err := ParseSizeDist(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseSizeDist(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSizeDist(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		back, err := ParseSizeDist(got.String())
		if err != nil || back != got {
			t.Errorf("%q round trip through %q: %v, %v", tt.in, got.String(), back, err)
		}
	}
}

func TestWorkloadYAML(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "w.yaml")
	yaml := `name: pubsub
partitions: 8
message-size: 100-1KiB
rate: 5000/s
duration: 20s
warmup: 2s
acks: "1"
keys: zipfian
verify: true
`
	if err := os.WriteFile(file, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	w := DefaultWorkload()
	if err := w.LoadYAML(file); err != nil {
		t.Fatal(err)
	}
	want := DefaultWorkload()
	want.Name, want.Partitions, want.MessageSize, want.Rate = "pubsub", 8, SizeDist{100, 1024}, 5000
	want.Duration, want.Warmup, want.Acks, want.Keys, want.Verify = 20*time.Second, 2*time.Second, "1", "zipfian", true
	if !reflect.DeepEqual(w, want) {
		t.Errorf("loaded\n %+v\nwant\n %+v", w, want)
	}
	if err := w.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}

	// JSON (result.json) keeps the YAML keys and reads back the same.
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{`"message-size":"100-1KiB"`, `"duration":"20s"`, `"consumer-groups":1`} {
		if !strings.Contains(string(b), key) {
			t.Errorf("JSON lacks %s: %s", key, b)
		}
	}
	var back Workload
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, w) {
		t.Errorf("JSON round trip\n %+v\nwant\n %+v", back, w)
	}

	// Every flag is a YAML key and a JSON key.
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	w.RegisterFlags(fs)
	fs.VisitAll(func(f *flag.Flag) {
		if !strings.Contains(string(b), `"`+f.Name+`":`) {
			t.Errorf("flag --%s is not a key of the workload's JSON", f.Name)
		}
	})
}

func TestWorkloadYAMLErrors(t *testing.T) {
	for _, tt := range []struct{ yaml, want string }{
		{"partitons: 3\n", "field partitons not found"},
		{"message-size: huge\n", "want a number"},
		{"duration: forever\n", "line 1: cannot unmarshal !!str `forever` into time.Duration"},
		{"- a list\n", "cannot unmarshal"},
	} {
		w := DefaultWorkload()
		err := w.decodeYAML([]byte(tt.yaml))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%q: error %v, want one containing %q", tt.yaml, err, tt.want)
		}
	}
	w := DefaultWorkload()
	if err := w.decodeYAML(nil); err != nil || !reflect.DeepEqual(w, DefaultWorkload()) {
		t.Errorf("empty file: %v, %+v", err, w)
	}
}

func TestWorkloadValidate(t *testing.T) {
	if err := (&Workload{}).Validate(); err == nil {
		t.Fatal("zero workload valid")
	}
	w := DefaultWorkload()
	w.Partitions, w.MessageSize, w.Acks, w.Consumers, w.Verify = 0, SizeDist{10, 10}, "2", 0, true
	err := w.Validate()
	if err == nil {
		t.Fatal("bad workload valid")
	}
	for _, want := range []string{
		"--partitions must be at least 1, got 0",
		"--message-size must be at least 30 (the record header), got 10",
		`--acks must be all, 1 or 0, got "2"`,
		"--verify needs --consumers of at least 1",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}

func TestWorkloadTopicsAndLabel(t *testing.T) {
	w := DefaultWorkload()
	if got := w.TopicNames(); !reflect.DeepEqual(got, []string{"loadgen"}) {
		t.Errorf("topics %v", got)
	}
	w.Topics = 3
	if got := w.TopicNames(); !reflect.DeepEqual(got, []string{"loadgen-0", "loadgen-1", "loadgen-2"}) {
		t.Errorf("topics %v", got)
	}
	if got, want := w.Label(), "1KiB p48 max acks=all tail"; got != want {
		t.Errorf("label %q, want %q", got, want)
	}
	w.Name = "mine"
	if w.Label() != "mine" {
		t.Errorf("label %q, want the name", w.Label())
	}
}

func TestRecordHeader(t *testing.T) {
	v := make([]byte, 64)
	h := header{run: 0x0102030405060708, id: RecordID{7, 1 << 40}, sentAt: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC).UnixNano()}
	putHeader(v, h)
	got, ok := parseHeader(v)
	if !ok || got != h {
		t.Errorf("parsed %+v, %v; want %+v", got, ok, h)
	}
	if _, ok := parseHeader(v[:headerSize-1]); ok {
		t.Error("a short value parsed")
	}
	if _, ok := parseHeader([]byte("not a loadgen record at all, no")); ok {
		t.Error("a foreign value parsed")
	}
}

// TestStandardWorkloads checks the workloads `make bench` runs.
func TestStandardWorkloads(t *testing.T) {
	files, err := filepath.Glob("workloads/*.yaml")
	if err != nil || len(files) != 6 {
		t.Fatalf("standard workloads %v, %v; want 6", files, err)
	}
	for _, f := range files {
		w := DefaultWorkload()
		if err := w.LoadYAML(f); err != nil {
			t.Errorf("%s: %v", f, err)
			continue
		}
		if err := w.Validate(); err != nil {
			t.Errorf("%s: %v", f, err)
		}
		if want := strings.TrimSuffix(filepath.Base(f), ".yaml"); w.Name != want {
			t.Errorf("%s: name %q, want %q", f, w.Name, want)
		}
		if w.Rate == 0 && w.Records == 0 {
			t.Errorf("%s: unbounded at full speed (kfake would keep it all in memory)", f)
		}
	}
}

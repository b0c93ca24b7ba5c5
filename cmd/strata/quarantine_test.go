package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/tiering"
)

// testRecord is a record of a test batch.
type testRecord struct {
	key, value string // "" key: a null key
	header     string // "" = no header, else header "h" with this value
}

// quarantineBatch builds a valid v2 batch of records at base with kmsg,
// gzip-compressed if gzip, with a correct length and CRC-32C.
func quarantineBatch(t *testing.T, base int64, gzip bool, recs ...testRecord) []byte {
	t.Helper()
	var body []byte
	for i, r := range recs {
		rec := kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: int64(i) * 10, Value: []byte(r.value)}
		if r.key != "" {
			rec.Key = []byte(r.key)
		}
		if r.header != "" {
			rec.Headers = []kmsg.Header{{Key: "h", Value: []byte(r.header)}}
		}
		rec.Length = int32(len(rec.AppendTo(nil)) - 1) // everything after a 1-byte length
		body = rec.AppendTo(body)
	}
	var attrs int16
	if gzip {
		c, err := kgo.DefaultCompressor(kgo.GzipCompression())
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		out, codec := c.Compress(&buf, body)
		if codec != kgo.CodecGzip {
			t.Fatalf("compressed with codec %d", codec)
		}
		body, attrs = bytes.Clone(out), 1
	}
	b := kmsg.RecordBatch{
		FirstOffset: base, PartitionLeaderEpoch: 7, Magic: 2, Attributes: attrs,
		LastOffsetDelta: int32(len(recs) - 1), FirstTimestamp: 1_700_000_000_000,
		MaxTimestamp: 1_700_000_000_000 + int64(len(recs)-1)*10,
		ProducerID:   -1, ProducerEpoch: -1, FirstSequence: -1,
		NumRecords: int32(len(recs)), Records: body,
	}
	raw := b.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	if _, err := batch.Validate(raw); err != nil {
		t.Fatalf("quarantineBatch built an invalid batch: %v", err)
	}
	return raw
}

// testRange is one partition's batches in a test quarantine object.
type testRange struct {
	topic     metadata.TopicID
	name      string // "" = unknown
	partition int32
	batches   [][]byte
}

// writeTestQuarantine writes a quarantined object and its note into dir as
// the uploader does (tiering's writer is unexported): the segment object from
// an ObjectBuilder, then the note describing its index.
func writeTestQuarantine(t *testing.T, dir string, seq uint64, at time.Time, ranges ...testRange) tiering.QuarantineNote {
	t.Helper()
	var b tiering.ObjectBuilder
	names := map[metadata.PartitionKey]string{}
	for _, r := range ranges {
		key := metadata.PartitionKey{Topic: r.topic, Partition: r.partition}
		names[key] = r.name
		for _, raw := range r.batches {
			if err := b.Add(key, raw); err != nil {
				t.Fatal(err)
			}
		}
	}
	obj, index := b.Finish()
	base := fmt.Sprintf("%020d-%d", seq, at.UnixNano())
	note := tiering.QuarantineNote{Object: base + ".seg", Segment: seq, Broker: 2, Time: at}
	for _, e := range index {
		note.Partitions = append(note.Partitions, tiering.QuarantinedRange{
			TopicID: e.Key.Topic, Topic: names[e.Key], Partition: e.Key.Partition, LeaderEpoch: 7,
			BaseOffset: e.BaseOffset, LastOffset: e.LastOffset, Batches: e.Batches,
			Bytes: e.Size, Position: e.Position, Reason: "tenure 3 ended; broker 1 has led since (epoch 8)",
		})
	}
	js, err := json.MarshalIndent(note, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, note.Object), obj, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, base+".json"), append(js, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	return note
}

var (
	ordersID  = metadata.TopicID{0x0a, 0x0b, 0x0c, 1, 2, 3, 0x40, 4, 0x80, 5, 6, 7, 8, 9, 10, 11}
	unnamedID = metadata.TopicID{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x47, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
)

// quarantineFixture is a data directory with two quarantined objects:
// orders/3 at 100-104 (two batches, the second gzip) and an unnamed topic's
// partition 0 at 0 in the first; orders/3 at 200-201 in the second.
type quarantineFixture struct {
	dataDir string
	notes   []tiering.QuarantineNote
	// the expected .log file contents, by path under --out
	logs map[string][]byte
}

func newQuarantineFixture(t *testing.T) quarantineFixture {
	t.Helper()
	dataDir := t.TempDir()
	dir := filepath.Join(dataDir, "quarantine")
	o1 := quarantineBatch(t, 100, false, testRecord{"k0", "v0", "x"}, testRecord{"", "v1", ""}, testRecord{"k2", "", ""})
	o2 := quarantineBatch(t, 103, true, testRecord{"k3", "v3", "y"}, testRecord{"k4", "v4", ""})
	u := quarantineBatch(t, 0, false, testRecord{"", "lonely", ""})
	o3 := quarantineBatch(t, 200, false, testRecord{"k5", "v5", ""}, testRecord{"k6", "v6", ""})
	at := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	n1 := writeTestQuarantine(t, dir, 5, at,
		testRange{ordersID, "orders", 3, [][]byte{o1, o2}},
		testRange{unnamedID, "", 0, [][]byte{u}})
	n2 := writeTestQuarantine(t, dir, 9, at.Add(time.Minute), testRange{ordersID, "orders", 3, [][]byte{o3}})
	return quarantineFixture{
		dataDir: dataDir,
		notes:   []tiering.QuarantineNote{n1, n2},
		logs: map[string][]byte{
			"orders-3/00000000000000000100.log":                slices.Concat(o1, o2),
			unnamedID.String() + "-0/00000000000000000000.log": u,
			"orders-3/00000000000000000200.log":                o3,
		},
	}
}

// runQ runs `strata quarantine args…` with environ and returns the exit
// code, stdout and stderr.
func runQ(t *testing.T, environ []string, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runQuarantine(args, environ, &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestQuarantineList(t *testing.T) {
	fx := newQuarantineFixture(t)
	code, stdout, stderr := runQ(t, nil, "list", "--data-dir", fx.dataDir)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	n1, n2 := fx.notes[0].Object, fx.notes[1].Object
	reason := "tenure 3 ended; broker 1 has led since (epoch 8)"
	// A note lists its ranges in the object's order: by topic id, then partition.
	rows := [][]string{
		{"TIME", "TOPIC", "PARTITION", "EPOCH", "OFFSETS", "BATCHES", "RECORDS", "BYTES", "FILE", "REASON"},
		{"2025-03-14T09:26:53Z", "orders", "3", "7", "100-104", "2", "5", fmt.Sprint(len(fx.logs["orders-3/00000000000000000100.log"])), n1, reason},
		{"2025-03-14T09:26:53Z", unnamedID.String(), "0", "7", "0-0", "1", "1", fmt.Sprint(len(fx.logs[unnamedID.String()+"-0/00000000000000000000.log"])), n1, reason},
		{"2025-03-14T09:27:53Z", "orders", "3", "7", "200-201", "1", "2", fmt.Sprint(len(fx.logs["orders-3/00000000000000000200.log"])), n2, reason},
	}
	if ordersID.String() > unnamedID.String() {
		t.Fatal("fixture: orders must sort before the unnamed topic")
	}
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if len(lines) != len(rows)+1 {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(rows)+1, stdout)
	}
	for i, want := range rows {
		got := strings.Fields(strings.Replace(lines[i], reason, strings.ReplaceAll(reason, " ", "_"), 1))
		want = slices.Clone(want)
		want[len(want)-1] = strings.ReplaceAll(want[len(want)-1], " ", "_")
		if !slices.Equal(got, want) {
			t.Errorf("line %d:\n got %q\nwant %q", i, got, want)
		}
	}
	var total int
	for _, b := range fx.logs {
		total += len(b)
	}
	wantTotal := fmt.Sprintf("total: 3 ranges in 2 files under %s: 4 batches, 8 records, %d bytes",
		filepath.Join(fx.dataDir, "quarantine"), total)
	if got := lines[len(lines)-1]; got != wantTotal {
		t.Errorf("total line\n got %q\nwant %q", got, wantTotal)
	}
}

func TestQuarantineListJSON(t *testing.T) {
	fx := newQuarantineFixture(t)
	code, stdout, stderr := runQ(t, nil, "list", "--json", "--data-dir", fx.dataDir)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	var got []tiering.QuarantineNote
	if err := json.Unmarshal([]byte(stdout), &got); err != nil {
		t.Fatalf("not a JSON array of notes: %v\n%s", err, stdout)
	}
	gotJS, _ := json.Marshal(got)
	wantJS, _ := json.Marshal(fx.notes)
	if !bytes.Equal(gotJS, wantJS) {
		t.Errorf("notes\n got %s\nwant %s", gotJS, wantJS)
	}
}

// TestQuarantineListCorrupt: a damaged object is still listed, from its
// note, with the records it holds unknown, and the command fails saying why.
func TestQuarantineListCorrupt(t *testing.T) {
	fx := newQuarantineFixture(t)
	seg := filepath.Join(fx.dataDir, "quarantine", fx.notes[1].Object)
	obj, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	obj[70] ^= 0xff // inside the first batch's records
	if err := os.WriteFile(seg, obj, 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := runQ(t, nil, "list", "--data-dir", fx.dataDir)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	var damaged []string
	for _, line := range strings.Split(stdout, "\n") {
		if f := strings.Fields(line); len(f) > 6 && f[4] == "200-201" {
			damaged = f
		}
	}
	if damaged == nil || damaged[6] != "?" || !strings.Contains(stdout, "at least 6 records") {
		t.Errorf("the damaged range is not listed with unknown records:\n%s", stdout)
	}
	if !strings.HasPrefix(stderr, "strata: quarantine: "+fx.notes[1].Object+": ") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr is not one line naming the object: %q", stderr)
	}
}

func TestQuarantineExport(t *testing.T) {
	fx := newQuarantineFixture(t)
	out := filepath.Join(t.TempDir(), "export")
	code, stdout, stderr := runQ(t, nil, "export", "--data-dir", fx.dataDir, "--out", out)
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	checkExported(t, out, fx.logs)
	for path := range fx.logs {
		if !strings.Contains(stdout, "wrote "+filepath.Join(out, path)+": ") {
			t.Errorf("stdout does not say it wrote %s:\n%s", path, stdout)
		}
	}
	if fi, err := os.Stat(filepath.Join(out, "orders-3", "00000000000000000200.log")); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("exported file: %v, mode %v, want 0644", err, fi.Mode())
	}
	if !strings.Contains(stdout, "exported 3 ranges: 4 batches, 8 records") {
		t.Errorf("no total:\n%s", stdout)
	}

	// Again into the same directory, one file removed: it refuses, names a
	// file that exists, and writes nothing.
	removed := filepath.Join(out, unnamedID.String()+"-0", "00000000000000000000.log")
	if err := os.Remove(removed); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runQ(t, nil, "export", "--data-dir", fx.dataDir, "--out", out)
	if code != 1 || stdout != "" {
		t.Errorf("exit %d, want 1; stdout:\n%s", code, stdout)
	}
	want := "strata: quarantine: " + filepath.Join(out, "orders-3", "00000000000000000100.log") + " already exists: export never overwrites a file"
	if !strings.HasPrefix(stderr, want) || strings.Count(stderr, "\n") != 1 {
		t.Errorf("stderr\n got %q\nwant one line starting %q", stderr, want)
	}
	if _, err := os.Stat(removed); !os.IsNotExist(err) {
		t.Errorf("a refused export wrote %s (%v)", removed, err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(out, "*", ".*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

// checkExported checks that out holds exactly want (path under out → bytes).
func checkExported(t *testing.T, out string, want map[string][]byte) {
	t.Helper()
	got := map[string][]byte{}
	err := filepath.WalkDir(out, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(out, path)
		got[filepath.ToSlash(rel)], err = os.ReadFile(path)
		return err
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	if len(want) == 0 && len(got) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("exported files %v, want %v (or their bytes differ)", slices.Sorted(mapKeys(got)), slices.Sorted(mapKeys(want)))
	}
}

func mapKeys(m map[string][]byte) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

func TestQuarantineExportFilters(t *testing.T) {
	fx := newQuarantineFixture(t)
	unnamed := unnamedID.String() + "-0/00000000000000000000.log"
	tests := []struct {
		name  string
		args  []string
		files []string // keys of fx.logs
		none  bool     // prints that nothing matches
	}{
		{name: "topic by name", args: []string{"--topic", "orders"},
			files: []string{"orders-3/00000000000000000100.log", "orders-3/00000000000000000200.log"}},
		{name: "topic by id", args: []string{"--topic", unnamedID.String()}, files: []string{unnamed}},
		{name: "partition", args: []string{"--partition", "0"}, files: []string{unnamed}},
		{name: "topic and partition", args: []string{"--topic", "orders", "--partition", "3"},
			files: []string{"orders-3/00000000000000000100.log", "orders-3/00000000000000000200.log"}},
		{name: "object", args: []string{"--object", fx.notes[1].Object}, files: []string{"orders-3/00000000000000000200.log"}},
		{name: "no match", args: []string{"--topic", "orders", "--partition", "0"}, none: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "export")
			args := append([]string{"export", "--data-dir", fx.dataDir, "--out", out}, tt.args...)
			code, stdout, stderr := runQ(t, nil, args...)
			if code != 0 || stderr != "" {
				t.Fatalf("exit %d, stderr %q", code, stderr)
			}
			want := map[string][]byte{}
			for _, f := range tt.files {
				want[f] = fx.logs[f]
			}
			checkExported(t, out, want)
			if tt.none != strings.HasPrefix(stdout, "no quarantined range in ") {
				t.Errorf("stdout:\n%s", stdout)
			}
		})
	}
}

// TestQuarantineExportSameOffset: two ended tenures of a partition can hold
// records at the same offsets; they cannot share a file, and --object
// exports them one at a time.
func TestQuarantineExportSameOffset(t *testing.T) {
	fx := newQuarantineFixture(t)
	again := quarantineBatch(t, 200, false, testRecord{"k", "other", ""})
	n3 := writeTestQuarantine(t, filepath.Join(fx.dataDir, "quarantine"), 12, time.Date(2025, 3, 15, 0, 0, 0, 0, time.UTC),
		testRange{ordersID, "orders", 3, [][]byte{again}})
	out := filepath.Join(t.TempDir(), "export")
	code, _, stderr := runQ(t, nil, "export", "--data-dir", fx.dataDir, "--out", out)
	if code != 1 || !strings.Contains(stderr, "which start at the same offset: export each to its own --out with --object") {
		t.Errorf("exit %d, stderr %q", code, stderr)
	}
	checkExported(t, out, nil)
	code, _, stderr = runQ(t, nil, "export", "--data-dir", fx.dataDir, "--out", out, "--object", n3.Object)
	if code != 0 {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	checkExported(t, out, map[string][]byte{"orders-3/00000000000000000200.log": again})
}

func TestQuarantineExportJSON(t *testing.T) {
	fx := newQuarantineFixture(t)
	code, stdout, stderr := runQ(t, nil, "export", "--data-dir", fx.dataDir, "--format", "json", "--topic", "orders")
	if code != 0 || stderr != "" {
		t.Fatalf("exit %d, stderr %q", code, stderr)
	}
	type header struct {
		Key   string `json:"key"`
		Value []byte `json:"value"`
	}
	type record struct {
		Topic     string   `json:"topic"`
		TopicID   string   `json:"topic_id"`
		Partition int32    `json:"partition"`
		Offset    int64    `json:"offset"`
		Timestamp int64    `json:"timestamp"`
		Key       []byte   `json:"key"`
		Value     []byte   `json:"value"`
		Headers   []header `json:"headers"`
	}
	var got []record
	sc := bufio.NewScanner(strings.NewReader(stdout))
	for sc.Scan() {
		var r record
		dec := json.NewDecoder(strings.NewReader(sc.Text()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		got = append(got, r)
	}
	const ts = 1_700_000_000_000
	rec := func(off int64, tsDelta int64, key, value string, headers ...header) record {
		r := record{Topic: "orders", TopicID: ordersID.String(), Partition: 3, Offset: off, Timestamp: ts + tsDelta,
			Value: []byte(value), Headers: headers}
		if key != "" {
			r.Key = []byte(key)
		}
		if headers == nil {
			r.Headers = []header{}
		}
		return r
	}
	want := []record{
		rec(100, 0, "k0", "v0", header{"h", []byte("x")}),
		rec(101, 10, "", "v1"),
		rec(102, 20, "k2", ""),
		rec(103, 0, "k3", "v3", header{"h", []byte("y")}), // the gzip batch
		rec(104, 10, "k4", "v4"),
		rec(200, 0, "k5", "v5"),
		rec(201, 10, "k6", "v6"),
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("records\n got %+v\nwant %+v", got, want)
	}
	if !strings.Contains(stdout, `"key":null`) || !strings.Contains(stdout, `"value":""`) {
		t.Errorf("a null key is not null, or an empty value not empty:\n%s", stdout)
	}
}

func TestQuarantineEmpty(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "never-served")
	empty := t.TempDir()
	if err := os.Mkdir(filepath.Join(empty, "quarantine"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, dataDir := range []string{missing, empty} {
		dir := filepath.Join(dataDir, "quarantine")
		out := filepath.Join(t.TempDir(), "export")
		tests := []struct {
			args   []string
			stdout string
		}{
			{[]string{"list", "--data-dir", dataDir}, "nothing is quarantined in " + dir + "\n"},
			{[]string{"list", "--data-dir", dataDir, "--json"}, "[]\n"},
			{[]string{"export", "--data-dir", dataDir, "--out", out}, "nothing is quarantined in " + dir + "\n"},
		}
		for _, tt := range tests {
			code, stdout, stderr := runQ(t, nil, tt.args...)
			if code != 0 || stdout != tt.stdout || stderr != "" {
				t.Errorf("%v: exit %d, stdout %q (want %q), stderr %q", tt.args, code, stdout, tt.stdout, stderr)
			}
		}
		checkExported(t, out, nil)
	}
}

// TestQuarantineListWholeSegments: WAL segments kept whole at start-up, in
// <time>/ directories, are not readable by list, but it says they are there.
func TestQuarantineListWholeSegments(t *testing.T) {
	dataDir := t.TempDir()
	kept := filepath.Join(dataDir, "quarantine", "20250314T092653Z")
	if err := os.MkdirAll(kept, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(kept, "00000000000000000005.wal"), []byte("wal"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, _ := runQ(t, nil, "list", "--data-dir", dataDir)
	want := "nothing is quarantined in " + filepath.Join(dataDir, "quarantine") + "\n" +
		"also 1 whole WAL segment kept at start-up in " + filepath.Join(dataDir, "quarantine", "<time>") + ", not listed here\n"
	if code != 0 || stdout != want {
		t.Errorf("exit %d, stdout\n got %q\nwant %q", code, stdout, want)
	}
}

// TestQuarantineDataDirEnv: --data-dir defaults as for serve.
func TestQuarantineDataDirEnv(t *testing.T) {
	fx := newQuarantineFixture(t)
	code, stdout, _ := runQ(t, []string{"STRATA_DATA_DIR=" + fx.dataDir}, "list")
	if code != 0 || !strings.Contains(stdout, "total: 3 ranges") {
		t.Errorf("STRATA_DATA_DIR: exit %d:\n%s", code, stdout)
	}
	code, stdout, _ = runQ(t, []string{"STRATA_DATA_DIR=/nonexistent"}, "list", "--data-dir", fx.dataDir)
	if code != 0 || !strings.Contains(stdout, "total: 3 ranges") {
		t.Errorf("--data-dir over STRATA_DATA_DIR: exit %d:\n%s", code, stdout)
	}
	code, stdout, _ = runQ(t, nil, "list")
	if want := "nothing is quarantined in " + filepath.Join("strata-data", "quarantine") + "\n"; code != 0 || stdout != want {
		t.Errorf("default: exit %d, stdout %q, want %q", code, stdout, want)
	}
}

func TestQuarantineUsage(t *testing.T) {
	tests := []cliCase{
		{name: "no command", args: nil, code: 2, stderr: "Usage:"},
		{name: "help", args: []string{"--help"}, stdout: "kafka-dump-log"},
		{name: "list --help", args: []string{"list", "--help"}, stdout: "strata quarantine list"},
		{name: "unknown command", args: []string{"show"}, code: 2, stderr: `strata: unknown quarantine command "show"`},
		{name: "unknown flag", args: []string{"list", "--out", "x"}, code: 2, line: true,
			stderr: "strata: flag provided but not defined: -out"},
		{name: "argument", args: []string{"list", "extra"}, code: 2, line: true,
			stderr: `strata: unexpected argument "extra" (quarantine list takes only flags)`},
		{name: "export without --out", args: []string{"export"}, code: 2, line: true,
			stderr: "strata: --out is required (the directory to write the .log files under)"},
		{name: "bad format", args: []string{"export", "--format", "csv"}, code: 2, line: true,
			stderr: `strata: --format must be log or json, got "csv"`},
		{name: "json with --out", args: []string{"export", "--format", "json", "--out", "x"}, code: 2, line: true,
			stderr: "strata: --out is for --format log; --format json writes to stdout"},
		{name: "bad partition", args: []string{"export", "--out", "x", "--partition", "-2"}, code: 2, line: true,
			stderr: "strata: --partition must be 0 or more, got -2"},
	}
	quarantine := func(args []string, stdout, stderr io.Writer) int { return runQuarantine(args, nil, stdout, stderr) }
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, quarantine) })
	}
}

// TestQuarantineBinary runs list and export through the built command, with
// the data directory from the environment.
func TestQuarantineBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command; -short")
	}
	fx := newQuarantineFixture(t)
	bin := buildStrata(t)
	out := filepath.Join(t.TempDir(), "export")
	for _, args := range [][]string{{"quarantine", "list"}, {"quarantine", "export", "--out", out}} {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(cleanEnv(), "STRATA_DATA_DIR="+fx.dataDir)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil || stderr.Len() > 0 {
			t.Fatalf("%v: %v; stderr %q", args, err, stderr.String())
		}
		t.Logf("strata %s:\n%s", strings.Join(args, " "), stdout.String())
	}
	checkExported(t, out, fx.logs)
}

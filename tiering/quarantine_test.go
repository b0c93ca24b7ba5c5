package tiering

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/metadata"
)

// quarantineInput is what the uploader hands writeQuarantine for one
// set-aside WAL segment: each partition's batches, reason and leader epoch.
type quarantineInput struct {
	seq     uint64
	ranges  map[metadata.PartitionKey][][]byte
	reasons map[metadata.PartitionKey]string
	epochs  map[metadata.PartitionKey]int32
}

// newQuarantineInput builds, for each partition, batches of 1 to 3 records
// from offset 10*partition, stamped with leader epoch 2*partition.
func newQuarantineInput(t testing.TB, seq uint64, keys ...metadata.PartitionKey) quarantineInput {
	t.Helper()
	in := quarantineInput{
		seq:     seq,
		ranges:  make(map[metadata.PartitionKey][][]byte),
		reasons: make(map[metadata.PartitionKey]string),
		epochs:  make(map[metadata.PartitionKey]int32),
	}
	for i, k := range keys {
		next := int64(10 * k.Partition)
		for n := range 1 + i%3 {
			b := makeBatch(t, batchSpec{BaseOffset: next, Records: 1 + n, Timestamp: 1_700_000_000_000 + next, ValueSize: 30, Seed: seq})
			batch.SetPartitionLeaderEpoch(b, 2*k.Partition)
			in.ranges[k] = append(in.ranges[k], b)
			next += int64(1 + n)
		}
		in.reasons[k] = fmt.Sprintf("reason of partition %d", k.Partition)
		in.epochs[k] = 2 * k.Partition
	}
	return in
}

// write builds the object as the uploader does and writes it with its note.
func (in quarantineInput) write(t testing.TB, dir string, names func(metadata.TopicID) string) QuarantineNote {
	t.Helper()
	var b ObjectBuilder
	for k, bs := range in.ranges {
		for _, raw := range bs {
			if err := b.Add(k, raw); err != nil {
				t.Fatal(err)
			}
		}
	}
	obj, index := b.Finish()
	note, err := writeQuarantine(dir, in.seq, 3, obj, index, in.reasons, in.epochs, names)
	if err != nil {
		t.Fatalf("writeQuarantine: %v", err)
	}
	return note
}

func topicNames(id metadata.TopicID) string { return fmt.Sprintf("topic-%d", id[0]) }

// TestQuarantineRoundTrip: what writeQuarantine keeps, ReadQuarantine and
// ReadQuarantined give back: the notes as written, oldest segment first,
// and each range's batches byte for byte.
func TestQuarantineRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "quarantine") // created by writeQuarantine
	if notes, err := ReadQuarantine(dir); err != nil || len(notes) != 0 {
		t.Fatalf("ReadQuarantine of a missing directory = %v, %v, want nothing", notes, err)
	}
	later := newQuarantineInput(t, 12, testKey(1, 0), testKey(1, 3), testKey(2, 1))
	earlier := newQuarantineInput(t, 3, testKey(4, 2))
	inputs := []quarantineInput{earlier, later}
	written := map[uint64]QuarantineNote{
		12: later.write(t, dir, topicNames),
		3:  earlier.write(t, dir, nil),
	}

	notes, err := ReadQuarantine(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 2 {
		t.Fatalf("%d notes, want 2", len(notes))
	}
	for i, n := range notes {
		in := inputs[i]
		w := written[in.seq]
		if n.Segment != in.seq {
			t.Fatalf("note %d is of segment %d, want %d (oldest segment first)", i, n.Segment, in.seq)
		}
		if !n.Time.Equal(w.Time) || n.Time.IsZero() {
			t.Errorf("segment %d: time %v, written %v", in.seq, n.Time, w.Time)
		}
		n.Time = w.Time
		if !reflect.DeepEqual(n, w) {
			t.Errorf("segment %d: read\n%+v\nwritten\n%+v", in.seq, n, w)
		}
		if n.Broker != 3 || !strings.HasPrefix(n.Object, fmt.Sprintf("%020d-", in.seq)) || !strings.HasSuffix(n.Object, ".seg") {
			t.Errorf("segment %d: broker %d, object %q", in.seq, n.Broker, n.Object)
		}
		if len(n.Partitions) != len(in.ranges) {
			t.Fatalf("segment %d: %d ranges, want %d", in.seq, len(n.Partitions), len(in.ranges))
		}
		for _, r := range n.Partitions {
			k := r.Key()
			want := in.ranges[k]
			data, err := ReadQuarantined(dir, n, r)
			if err != nil {
				t.Fatalf("segment %d partition %v: %v", in.seq, k, err)
			}
			if !bytes.Equal(data, bytes.Join(want, nil)) {
				t.Fatalf("segment %d partition %v: %d bytes read back, %d written", in.seq, k, len(data), len(bytes.Join(want, nil)))
			}
			first, _ := batch.Parse(want[0])
			last, _ := batch.Parse(want[len(want)-1])
			wantTopic := ""
			if in.seq == 12 {
				wantTopic = topicNames(k.Topic)
			}
			if r.BaseOffset != first.BaseOffset || r.LastOffset != last.LastOffset() || r.Batches != int32(len(want)) ||
				r.Bytes != int64(len(data)) || r.LeaderEpoch != in.epochs[k] || r.Reason != in.reasons[k] || r.Topic != wantTopic {
				t.Errorf("segment %d partition %v: range %+v, want offsets %d-%d, %d batches, %d bytes, leader epoch %d, reason %q, topic %q",
					in.seq, k, r, first.BaseOffset, last.LastOffset(), len(want), len(data), in.epochs[k], in.reasons[k], wantTopic)
			}
		}
	}
}

// TestQuarantineLeftovers: what a crash can leave in the directory besides
// whole notes (a temporary file, an object whose note was never written) is
// not read as a note; a note written without its object name (it is the
// note's own name) still finds its object.
func TestQuarantineLeftovers(t *testing.T) {
	dir := t.TempDir()
	in := newQuarantineInput(t, 5, testKey(1, 0))
	n := in.write(t, dir, nil)
	for name, data := range map[string]string{
		"00000000000000000009-1.seg":       "an object whose note was never written",
		"00000000000000000009-1.json.tmp":  "{",
		"00000000000000000009-1.seg.tmp":   "",
		"not-a-note.txt":                   "x",
		"00000000000000000001-1.jsonl.bak": "{",
	} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// The same note without "object", under another name for the same object.
	raw, err := os.ReadFile(filepath.Join(dir, strings.TrimSuffix(n.Object, ".seg")+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	delete(fields, "object")
	raw, _ = json.Marshal(fields)
	alias := "00000000000000000006-1"
	if err := os.WriteFile(filepath.Join(dir, alias+".json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	obj, err := os.ReadFile(filepath.Join(dir, n.Object))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, alias+".seg"), obj, 0o644); err != nil {
		t.Fatal(err)
	}

	notes, err := ReadQuarantine(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(notes) != 2 || notes[0].Object != n.Object || notes[1].Object != alias+".seg" {
		t.Fatalf("notes %+v, want the note written and its copy without an object name", notes)
	}
	for _, note := range notes {
		data, err := ReadQuarantined(dir, note, note.Partitions[0])
		if err != nil || !bytes.Equal(data, bytes.Join(in.ranges[testKey(1, 0)], nil)) {
			t.Fatalf("ReadQuarantined of %s: %d bytes, %v", note.Object, len(data), err)
		}
	}
}

// TestQuarantineDamage: a note that does not parse, an object that is
// missing or fails its checks, and a range the object does not hold are
// errors, never bytes.
func TestQuarantineDamage(t *testing.T) {
	key := testKey(1, 0)
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, dir string, n *QuarantineNote, r *QuarantinedRange)
		want   error // nil: any error
		read   bool  // the damage shows in ReadQuarantined, not ReadQuarantine
	}{
		{"note not JSON", func(t *testing.T, dir string, n *QuarantineNote, _ *QuarantinedRange) {
			writeFile(t, filepath.Join(dir, strings.TrimSuffix(n.Object, ".seg")+".json"), []byte(`{"segment": 5,`))
		}, nil, false},
		{"object missing", func(t *testing.T, dir string, n *QuarantineNote, _ *QuarantinedRange) {
			if err := os.Remove(filepath.Join(dir, n.Object)); err != nil {
				t.Fatal(err)
			}
		}, fs.ErrNotExist, true},
		{"object byte flipped", func(t *testing.T, dir string, n *QuarantineNote, r *QuarantinedRange) {
			path := filepath.Join(dir, n.Object)
			obj := readFile(t, path)
			obj[r.Position+r.Bytes/2] ^= 0x40
			writeFile(t, path, obj)
		}, ErrCorruptObject, true},
		{"object cut short", func(t *testing.T, dir string, n *QuarantineNote, _ *QuarantinedRange) {
			path := filepath.Join(dir, n.Object)
			obj := readFile(t, path)
			writeFile(t, path, obj[:len(obj)-1])
		}, ErrCorruptObject, true},
		{"range at another position", func(t *testing.T, _ string, _ *QuarantineNote, r *QuarantinedRange) {
			r.Position++
		}, nil, true},
		{"range of another partition", func(t *testing.T, _ string, _ *QuarantineNote, r *QuarantinedRange) {
			r.Partition++
		}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			n := newQuarantineInput(t, 5, key).write(t, dir, nil)
			r := n.Partitions[0]
			tc.damage(t, dir, &n, &r)
			notes, err := ReadQuarantine(dir)
			if !tc.read {
				if err == nil {
					t.Fatalf("ReadQuarantine = %+v, want an error", notes)
				}
				return
			}
			if err != nil || len(notes) != 1 {
				t.Fatalf("ReadQuarantine = %+v, %v, want the note", notes, err)
			}
			data, err := ReadQuarantined(dir, n, r)
			if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Fatalf("ReadQuarantined = %d bytes, %v, want an error (%v)", len(data), err, tc.want)
			}
			if data != nil {
				t.Fatalf("ReadQuarantined returned %d bytes with its error", len(data))
			}
		})
	}
}

func readFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// FuzzReadQuarantine: whatever a note and its object hold, reading them
// does not panic, and ReadQuarantined returns only bytes that are a range
// of the object passing every check of DecodeObject.
func FuzzReadQuarantine(f *testing.F) {
	const base = "00000000000000000005-1"
	seedDir := f.TempDir()
	in := newQuarantineInput(f, 5, testKey(1, 0), testKey(1, 1), testKey(2, 0))
	n := in.write(f, seedDir, topicNames)
	note, err := os.ReadFile(filepath.Join(seedDir, strings.TrimSuffix(n.Object, ".seg")+".json"))
	if err != nil {
		f.Fatal(err)
	}
	note = bytes.ReplaceAll(note, []byte(n.Object), []byte(base+".seg"))
	obj, err := os.ReadFile(filepath.Join(seedDir, n.Object))
	if err != nil {
		f.Fatal(err)
	}
	// The seed renamed is read whole: the target reaches ReadQuarantined.
	check := f.TempDir()
	if err := os.WriteFile(filepath.Join(check, base+".json"), note, 0o644); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(check, base+".seg"), obj, 0o644); err != nil {
		f.Fatal(err)
	}
	if notes, err := ReadQuarantine(check); err != nil || len(notes) != 1 || notes[0].Object != base+".seg" || len(notes[0].Partitions) != 3 {
		f.Fatalf("seed note: %+v, %v", notes, err)
	} else {
		for _, r := range notes[0].Partitions {
			if _, err := ReadQuarantined(check, notes[0], r); err != nil {
				f.Fatalf("seed range %+v: %v", r, err)
			}
		}
	}
	f.Add(note, obj)
	f.Add(note, obj[:len(obj)/2])
	f.Add(note[:len(note)/2], obj)
	f.Add(bytes.Replace(note, []byte(`"position": 0`), []byte(`"position": 1`), 1), obj)
	bad := bytes.Clone(obj)
	bad[len(bad)/3] ^= 1
	f.Add(note, bad)
	f.Add([]byte(`{"partitions":[{"partition":0,"position":-1}]}`), obj)
	f.Add([]byte(`{}`), []byte(nil))
	f.Fuzz(func(t *testing.T, note, obj []byte) {
		dir := t.TempDir()
		writeFile(t, filepath.Join(dir, base+".json"), note)
		writeFile(t, filepath.Join(dir, base+".seg"), obj)
		notes, err := ReadQuarantine(dir)
		if err != nil {
			return
		}
		if len(notes) != 1 {
			t.Fatalf("%d notes from one file", len(notes))
		}
		n := notes[0]
		if n.Object != base+".seg" {
			return // the note names another file: not this target's business
		}
		for _, r := range n.Partitions {
			data, err := ReadQuarantined(dir, n, r)
			if err != nil {
				continue
			}
			index, err := DecodeObject(obj)
			if err != nil {
				t.Fatalf("ReadQuarantined returned %d bytes of an object that fails its checks: %v", len(data), err)
			}
			found := false
			for _, e := range index {
				if e.Key == r.Key() && e.Position == r.Position {
					found = bytes.Equal(data, obj[e.Position:e.Position+e.Size])
				}
			}
			if !found {
				t.Fatalf("ReadQuarantined returned %d bytes that are not the object's range for %v at %d", len(data), r.Key(), r.Position)
			}
		}
	})
}

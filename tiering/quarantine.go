package tiering

// Quarantine: WAL records set aside instead of uploaded.
//
// The uploader commits a partition's WAL records only under this broker's
// current leadership of it. Records of an ended tenure that was not resumed
// (another broker has led the partition since, so it may have written other
// records at those offsets) cannot be committed, and are never silently
// deleted either: the uploader writes them to the quarantine directory
// before it removes their WAL segment. Each set-aside WAL segment becomes two
// files, named by the segment's sequence number and the time:
//
//	<dir>/<seq, 20 digits>-<unix nanoseconds>.seg   a segment object (see the
//	                                                package doc): one range of
//	                                                whole batches per partition
//	<dir>/<seq, 20 digits>-<unix nanoseconds>.json  a QuarantineNote: what each
//	                                                range holds, and why
//
// Both are written crash-safely (temporary name, fsync, rename, fsync of the
// directory), the object first, so a note always describes an object on
// disk. `strata quarantine list` and `strata quarantine export` read them.

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/strata-io/strata/internal/durable"
	"github.com/strata-io/strata/metadata"
)

// QuarantineNote describes one quarantined object.
type QuarantineNote struct {
	Object     string             `json:"object"` // the .seg file's base name
	Segment    uint64             `json:"segment"`
	Broker     int32              `json:"broker"`
	Time       time.Time          `json:"time"`
	Partitions []QuarantinedRange `json:"partitions"`
}

// QuarantinedRange is one partition's set-aside batches in a quarantined object.
type QuarantinedRange struct {
	TopicID     metadata.TopicID `json:"topic_id"`
	Topic       string           `json:"topic,omitempty"`
	Partition   int32            `json:"partition"`
	LeaderEpoch int32            `json:"leader_epoch"` // the Kafka leader epoch of the first batch
	BaseOffset  int64            `json:"base_offset"`
	LastOffset  int64            `json:"last_offset"`
	Batches     int32            `json:"batches"`
	Bytes       int64            `json:"bytes"`
	Position    int64            `json:"position"` // the range in the object
	Reason      string           `json:"reason"`
}

// Key is the partition the range belongs to.
func (r QuarantinedRange) Key() metadata.PartitionKey {
	return metadata.PartitionKey{Topic: r.TopicID, Partition: r.Partition}
}

// writeQuarantine keeps a segment object and its note in dir. reasons,
// epochs and names describe each partition's range.
func writeQuarantine(dir string, seq uint64, broker int32, obj []byte, index []IndexEntry,
	reasons map[metadata.PartitionKey]string, epochs map[metadata.PartitionKey]int32, names func(metadata.TopicID) string) (QuarantineNote, error) {
	now := time.Now().UTC()
	base := fmt.Sprintf("%020d-%d", seq, now.UnixNano())
	note := QuarantineNote{Object: base + ".seg", Segment: seq, Broker: broker, Time: now}
	for _, e := range index {
		r := QuarantinedRange{
			TopicID: e.Key.Topic, Partition: e.Key.Partition, LeaderEpoch: epochs[e.Key],
			BaseOffset: e.BaseOffset, LastOffset: e.LastOffset, Batches: e.Batches,
			Bytes: e.Size, Position: e.Position, Reason: reasons[e.Key],
		}
		if names != nil {
			r.Topic = names(e.Key.Topic)
		}
		note.Partitions = append(note.Partitions, r)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return note, fmt.Errorf("tiering: quarantine: %w", err)
	}
	if err := durable.WriteFile(filepath.Join(dir, note.Object), obj, 0o644); err != nil {
		return note, fmt.Errorf("tiering: quarantine: %w", err)
	}
	js, _ := json.MarshalIndent(note, "", "  ")
	if err := durable.WriteFile(filepath.Join(dir, base+".json"), append(js, '\n'), 0o644); err != nil {
		return note, fmt.Errorf("tiering: quarantine: %w", err)
	}
	return note, nil
}

// ReadQuarantine returns the notes of every quarantined object in dir,
// oldest segment first; none if dir does not exist.
func ReadQuarantine(dir string) ([]QuarantineNote, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	var notes []QuarantineNote
	for _, name := range names {
		raw, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		var n QuarantineNote
		if err := json.Unmarshal(raw, &n); err != nil {
			return nil, fmt.Errorf("tiering: quarantine note %s: %w", filepath.Base(name), err)
		}
		if n.Object == "" {
			n.Object = strings.TrimSuffix(filepath.Base(name), ".json") + ".seg"
		}
		notes = append(notes, n)
	}
	sort.Slice(notes, func(i, j int) bool { return notes[i].Object < notes[j].Object })
	return notes, nil
}

// ReadQuarantined returns the batch bytes of one range of a quarantined
// object in dir, checked against the object's index.
func ReadQuarantined(dir string, n QuarantineNote, r QuarantinedRange) ([]byte, error) {
	if n.Object != filepath.Base(n.Object) || !strings.HasSuffix(n.Object, ".seg") {
		return nil, fmt.Errorf("tiering: quarantine note names %q, not a .seg file of its directory", n.Object)
	}
	obj, err := os.ReadFile(filepath.Join(dir, n.Object))
	if err != nil {
		return nil, err
	}
	index, err := DecodeObject(obj)
	if err != nil {
		return nil, fmt.Errorf("tiering: quarantined object %s: %w", n.Object, err)
	}
	key := r.Key()
	for _, e := range index {
		if e.Key == key && e.Position == r.Position {
			data := obj[e.Position : e.Position+e.Size]
			if err := checkRange(data, e); err != nil {
				return nil, fmt.Errorf("tiering: quarantined object %s: %w", n.Object, err)
			}
			return data, nil
		}
	}
	return nil, errors.New("tiering: quarantined object " + n.Object + " has no range for " + key.String())
}

package broker

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/tiering"
)

// topicConfigDef is a topic config Strata accepts: Kafka's name and default,
// and a check of values.
type topicConfigDef struct {
	def   string
	check func(string) error
	doc   string
}

// topicConfigDefs are the topic configs Strata knows. Retention
// (retention.ms, retention.bytes) is enforced by retention.go; segment.bytes
// sizes compacted objects, strata.archive.compression compresses them, and
// the log compaction settings govern compaction.go. The others are stored
// and reported (docs/retention.md says which).
var topicConfigDefs = map[string]topicConfigDef{
	"cleanup.policy":         {"delete", checkList("delete", "compact"), "delete, compact, or both"},
	"compression.type":       {"producer", checkEnum("producer"), "Strata stores batches as produced; only producer is supported"},
	"delete.retention.ms":    {"86400000", checkInt(0), "how long tombstones are kept in compacted topics"},
	"max.message.bytes":      {"1048588", checkInt(0), "largest record batch accepted"},
	"message.timestamp.type": {"CreateTime", checkEnum("CreateTime", "LogAppendTime"), "CreateTime or LogAppendTime"},
	"min.compaction.lag.ms":  {"0", checkInt(0), "minimum age of a record before compaction"},
	"min.insync.replicas":    {"1", checkInt(1), "accepted for compatibility; durability comes from the object store"},
	"retention.bytes":        {"-1", checkInt(-1), "size retention per partition, -1 unlimited"},
	"retention.ms":           {"604800000", checkInt(-1), "time retention, -1 unlimited"},
	"segment.bytes":          {"1073741824", checkInt(14), "size of compacted segment objects"},
	"segment.ms":             {"604800000", checkInt(1), "accepted and reported; WAL segments roll by --seal-interval and --seal-bytes"},
	// Strata's own.
	"strata.archive.compression": {"none", checkEnum("none", "zstd"), "how compacted segment objects store their blocks: none or zstd"},
}

func checkInt(min int64) func(string) error {
	return func(v string) error {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", v)
		}
		if n < min {
			return fmt.Errorf("%d is below the minimum %d", n, min)
		}
		return nil
	}
}

func checkEnum(allowed ...string) func(string) error {
	return func(v string) error {
		for _, a := range allowed {
			if v == a {
				return nil
			}
		}
		return fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", "))
	}
}

func checkList(allowed ...string) func(string) error {
	one := checkEnum(allowed...)
	return func(v string) error {
		for _, item := range strings.Split(v, ",") {
			if err := one(strings.TrimSpace(item)); err != nil {
				return err
			}
		}
		return nil
	}
}

// validateTopicConfig checks one name and value.
func validateTopicConfig(name string, value *string) error {
	def, ok := topicConfigDefs[name]
	if !ok {
		return fmt.Errorf("unknown topic config %q", name)
	}
	if value == nil {
		return fmt.Errorf("topic config %q needs a value", name)
	}
	if err := def.check(*value); err != nil {
		return fmt.Errorf("topic config %s: %w", name, err)
	}
	return nil
}

// topicConfig holds the parsed configs the data path uses.
type topicConfig struct {
	maxMessageBytes int
	logAppendTime   bool
	// Retention (cleanup.policy with delete): -1 is unlimited.
	deletes        bool
	retentionMs    int64
	retentionBytes int64
	segmentBytes   int64 // the size object compaction merges ranges up to
	archive        tiering.ArchiveOptions
	// Log compaction (cleanup.policy with compact).
	compacts          bool
	deleteRetentionMs int64
	minCompactionLag  int64
}

func parseTopicConfig(set map[string]string) (topicConfig, error) {
	get := func(name string) string {
		if v, ok := set[name]; ok {
			return v
		}
		return topicConfigDefs[name].def
	}
	mmb, err := strconv.Atoi(get("max.message.bytes"))
	if err != nil {
		return topicConfig{}, err
	}
	ms, err := strconv.ParseInt(get("retention.ms"), 10, 64)
	if err != nil {
		return topicConfig{}, err
	}
	bytes, err := strconv.ParseInt(get("retention.bytes"), 10, 64)
	if err != nil {
		return topicConfig{}, err
	}
	segment, err := strconv.ParseInt(get("segment.bytes"), 10, 64)
	if err != nil {
		return topicConfig{}, err
	}
	tombstones, err := strconv.ParseInt(get("delete.retention.ms"), 10, 64)
	if err != nil {
		return topicConfig{}, err
	}
	lag, err := strconv.ParseInt(get("min.compaction.lag.ms"), 10, 64)
	if err != nil {
		return topicConfig{}, err
	}
	codec, err := tiering.ParseCodec(get("strata.archive.compression"))
	if err != nil {
		return topicConfig{}, err
	}
	policy := strings.Split(get("cleanup.policy"), ",")
	has := func(p string) bool {
		return slices.ContainsFunc(policy, func(s string) bool { return strings.TrimSpace(s) == p })
	}
	return topicConfig{
		maxMessageBytes:   mmb,
		logAppendTime:     get("message.timestamp.type") == "LogAppendTime",
		deletes:           has("delete"),
		retentionMs:       ms,
		retentionBytes:    bytes,
		segmentBytes:      segment,
		archive:           tiering.ArchiveOptions{Codec: codec},
		compacts:          has("compact"),
		deleteRetentionMs: tombstones,
		minCompactionLag:  lag,
	}, nil
}

// topicConfigNames are the known names, sorted.
func topicConfigNames() []string {
	names := make([]string, 0, len(topicConfigDefs))
	for n := range topicConfigDefs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// maxRecordErrors bounds the per-record errors in one partition's Produce
// answer. Kafka lists every record, but a batch of tiny records within
// batch.MaxDecompressedBytes can hold millions; the partition's error
// message still counts them all.
const maxRecordErrors = 1000

// recordsError is INVALID_RECORD with what Produce v8+ carries beside it:
// the batch index and message of each offending record, and a message for
// the partition.
type recordsError struct {
	records []kmsg.ProduceResponseTopicPartitionErrorRecord
	message string
}

func (e *recordsError) Error() string { return e.message }
func (e *recordsError) Unwrap() error { return kerr.InvalidRecord }

// checkCompactedRecords is Kafka's validation of a batch for a compacted
// topic (cleanup.policy with compact): every record must have a key. It
// decodes the records (batch.NullKeys, a stream bounded by
// batch.MaxDecompressedBytes), so it also refuses records that do not decode
// or decompress past the limit, with INVALID_RECORD as Kafka refuses
// malformed records (not retriable: the same bytes never decode). The
// messages are Kafka's (LogValidator), so that clients show the same text.
func checkCompactedRecords(topic string, partition int32, records []byte) error {
	nulls, total, err := batch.NullKeys(records, maxRecordErrors)
	if err != nil {
		return &recordsError{message: fmt.Sprintf("The records of the batch for compacted topic partition %s-%d cannot be read: %v", topic, partition, err)}
	}
	if total == 0 {
		return nil
	}
	msg := fmt.Sprintf("Compacted topic cannot accept message without key in topic partition %s-%d.", topic, partition)
	e := &recordsError{records: make([]kmsg.ProduceResponseTopicPartitionErrorRecord, 0, len(nulls))}
	var shown []string
	for _, i := range nulls {
		r := kmsg.NewProduceResponseTopicPartitionErrorRecord()
		r.RelativeOffset, r.ErrorMessage = i, &msg
		e.records = append(e.records, r)
		if len(shown) < 3 {
			shown = append(shown, fmt.Sprintf("RecordError(batchIndex=%d, message='%s')", i, msg))
		}
	}
	e.message = fmt.Sprintf("One or more records have been rejected due to %d record errors in total, and only showing the first three errors at most: [%s]",
		total, strings.Join(shown, ", "))
	return e
}

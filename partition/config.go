package partition

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

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
// (retention.ms, retention.bytes) is enforced by the retention schedule;
// segment.bytes sizes compacted objects, strata.archive.compression
// compresses them, and the log compaction settings govern the compaction
// schedule. The others are stored
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

// TopicConfigDefault returns the default value of a known topic config and
// its description; ok is false for a name Strata does not know.
func TopicConfigDefault(name string) (def, doc string, ok bool) {
	d, ok := topicConfigDefs[name]
	return d.def, d.doc, ok
}

// ValidateTopicConfig checks one name and value.
func ValidateTopicConfig(name string, value *string) error {
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

// TopicConfig holds the parsed configs the data path uses.
type TopicConfig struct {
	MaxMessageBytes int
	LogAppendTime   bool
	// Retention (cleanup.policy with delete): -1 is unlimited.
	Deletes        bool
	RetentionMs    int64
	RetentionBytes int64
	SegmentBytes   int64 // the size object compaction merges ranges up to
	Archive        tiering.ArchiveOptions
	// Log compaction (cleanup.policy with compact).
	Compacts          bool
	DeleteRetentionMs int64
	MinCompactionLag  int64
}

// ParseTopicConfig parses a topic's stored configs, with the defaults of
// those not set.
func ParseTopicConfig(set map[string]string) (TopicConfig, error) {
	get := func(name string) string {
		if v, ok := set[name]; ok {
			return v
		}
		return topicConfigDefs[name].def
	}
	mmb, err := strconv.Atoi(get("max.message.bytes"))
	if err != nil {
		return TopicConfig{}, err
	}
	ms, err := strconv.ParseInt(get("retention.ms"), 10, 64)
	if err != nil {
		return TopicConfig{}, err
	}
	bytes, err := strconv.ParseInt(get("retention.bytes"), 10, 64)
	if err != nil {
		return TopicConfig{}, err
	}
	segment, err := strconv.ParseInt(get("segment.bytes"), 10, 64)
	if err != nil {
		return TopicConfig{}, err
	}
	tombstones, err := strconv.ParseInt(get("delete.retention.ms"), 10, 64)
	if err != nil {
		return TopicConfig{}, err
	}
	lag, err := strconv.ParseInt(get("min.compaction.lag.ms"), 10, 64)
	if err != nil {
		return TopicConfig{}, err
	}
	codec, err := tiering.ParseCodec(get("strata.archive.compression"))
	if err != nil {
		return TopicConfig{}, err
	}
	policy := strings.Split(get("cleanup.policy"), ",")
	has := func(p string) bool {
		return slices.ContainsFunc(policy, func(s string) bool { return strings.TrimSpace(s) == p })
	}
	return TopicConfig{
		MaxMessageBytes:   mmb,
		LogAppendTime:     get("message.timestamp.type") == "LogAppendTime",
		Deletes:           has("delete"),
		RetentionMs:       ms,
		RetentionBytes:    bytes,
		SegmentBytes:      segment,
		Archive:           tiering.ArchiveOptions{Codec: codec},
		Compacts:          has("compact"),
		DeleteRetentionMs: tombstones,
		MinCompactionLag:  lag,
	}, nil
}

// TopicConfigNames are the known names, sorted.
func TopicConfigNames() []string {
	names := make([]string, 0, len(topicConfigDefs))
	for n := range topicConfigDefs {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

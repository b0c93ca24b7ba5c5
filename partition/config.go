package partition

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/tiering"
)

// ConfigType is a config's type as Kafka's DescribeConfigs (v3+) reports
// it: the values of Kafka's ConfigDef.Type (and of kmsg.ConfigType).
type ConfigType int8

// The config types topic configs have.
const (
	ConfigBoolean ConfigType = 1
	ConfigString  ConfigType = 2
	ConfigInt     ConfigType = 3
	ConfigLong    ConfigType = 5
	ConfigDouble  ConfigType = 6
	ConfigList    ConfigType = 7
)

// TopicConfigSpec describes one topic config as DescribeConfigs reports it.
type TopicConfigSpec struct {
	Name      string
	Default   string
	Type      ConfigType
	Doc       string // Kafka's documentation, with what Strata does when it differs
	ReadOnly  bool   // no topic config is; kept for the handlers' sake
	Sensitive bool   // no topic config is
	// Effect is false for configs Strata stores and reports but that change
	// nothing here (docs/compatibility.md lists them).
	Effect bool
}

// topicConfigDef is a topic config Strata accepts: Kafka's name, type,
// default and validator (LogConfig's ConfigDef), and a note on what Strata
// does with it.
type topicConfigDef struct {
	def    string
	typ    ConfigType
	check  func(string) string // "" when the (trimmed, parsed) value is valid, else Kafka's reason
	effect bool
	note   string // Strata's addition to Kafka's documentation
}

const (
	maxLong = "9223372036854775807"
	// noEffect is the note of configs that change nothing on Strata.
	noEffect = "Accepted, stored and reported for compatibility; it has no effect on Strata."
)

// topicConfigDefs are the topic configs of Kafka 3.9 (LogConfig), which
// 4.x accepts too but for the three 4.0 removed (message.format.version,
// message.downconversion.enable, message.timestamp.difference.max.ms),
// and Strata's own. Retention (retention.ms, retention.bytes) is enforced
// by the retention schedule; segment.bytes sizes compacted objects,
// strata.archive.compression compresses them, the log compaction settings
// govern the compaction schedule, compression.type and its levels are
// applied on produce. The others are stored and reported.
var topicConfigDefs = map[string]topicConfigDef{
	"cleanup.policy":                          {"delete", ConfigList, validList("compact", "delete"), true, ""},
	"compression.type":                        {"producer", ConfigString, validString("uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"), true, "Strata recompresses a batch whose codec differs when it is produced, as Kafka does."},
	"compression.gzip.level":                  {"-1", ConfigInt, gzipLevel, true, ""},
	"compression.lz4.level":                   {"9", ConfigInt, between(1, 17), true, "As in Kafka, the default 9 uses lz4's fast compressor and any other level its high-compression mode; Strata's encoder has depths 1 to 9, so levels 10 to 17 compress as 9."},
	"compression.zstd.level":                  {"3", ConfigInt, between(-131072, 22), true, "Strata's zstd encoder maps levels to its four speeds: up to 2 fastest, 3 to 5 default, 6 to 9 better, 10 and up best."},
	"delete.retention.ms":                     {"86400000", ConfigLong, atLeast(0), true, ""},
	"file.delete.delay.ms":                    {"60000", ConfigLong, atLeast(0), false, noEffect},
	"flush.messages":                          {maxLong, ConfigLong, atLeast(1), false, noEffect + " The WAL is fsynced by group commit."},
	"flush.ms":                                {maxLong, ConfigLong, atLeast(0), false, noEffect + " The WAL is fsynced by group commit."},
	"follower.replication.throttled.replicas": {"", ConfigList, throttledReplicas, false, noEffect + " Brokers do not replicate to each other."},
	"index.interval.bytes":                    {"4096", ConfigInt, atLeast(0), false, noEffect},
	"leader.replication.throttled.replicas":   {"", ConfigList, throttledReplicas, false, noEffect + " Brokers do not replicate to each other."},
	"local.retention.bytes":                   {"-2", ConfigLong, atLeast(-2), false, noEffect + " The local disk holds only the WAL."},
	"local.retention.ms":                      {"-2", ConfigLong, atLeast(-2), false, noEffect + " The local disk holds only the WAL."},
	"max.compaction.lag.ms":                   {maxLong, ConfigLong, atLeast(1), false, noEffect},
	"max.message.bytes":                       {"1048588", ConfigInt, atLeast(0), true, ""},
	"message.downconversion.enable":           {"true", ConfigBoolean, validBool, false, noEffect + " Strata serves message format v2 only (removed in Kafka 4.0)."},
	"message.format.version":                  {"3.0-IV1", ConfigString, metadataVersion, false, noEffect + " Strata stores message format v2 only (removed in Kafka 4.0)."},
	"message.timestamp.after.max.ms":          {maxLong, ConfigLong, atLeast(0), false, noEffect},
	"message.timestamp.before.max.ms":         {maxLong, ConfigLong, atLeast(0), false, noEffect},
	"message.timestamp.difference.max.ms":     {maxLong, ConfigLong, atLeast(0), false, noEffect + " (Removed in Kafka 4.0.)"},
	"message.timestamp.type":                  {"CreateTime", ConfigString, validString("CreateTime", "LogAppendTime"), true, ""},
	"min.cleanable.dirty.ratio":               {"0.5", ConfigDouble, betweenFloat(0, 1), false, noEffect + " Compaction runs on its own schedule."},
	"min.compaction.lag.ms":                   {"0", ConfigLong, atLeast(0), true, ""},
	"min.insync.replicas":                     {"1", ConfigInt, atLeast(1), false, noEffect + " Durability comes from the object store."},
	"preallocate":                             {"false", ConfigBoolean, validBool, false, noEffect},
	"remote.log.copy.disable":                 {"false", ConfigBoolean, validBool, false, noEffect + " Every partition's log is in the object store."},
	"remote.log.delete.on.disable":            {"false", ConfigBoolean, validBool, false, noEffect + " Every partition's log is in the object store."},
	"remote.storage.enable":                   {"false", ConfigBoolean, validBool, false, noEffect + " Every partition's log is in the object store."},
	"retention.bytes":                         {"-1", ConfigLong, anyValue, true, ""},
	"retention.ms":                            {"604800000", ConfigLong, atLeast(-1), true, ""},
	"segment.bytes":                           {"1073741824", ConfigInt, atLeast(14), true, "On Strata, the size of compacted segment objects."},
	"segment.index.bytes":                     {"10485760", ConfigInt, atLeast(4), false, noEffect},
	"segment.jitter.ms":                       {"0", ConfigLong, atLeast(0), false, noEffect},
	"segment.ms":                              {"604800000", ConfigLong, atLeast(1), false, noEffect + " WAL segments roll by --seal-interval and --seal-bytes."},
	"unclean.leader.election.enable":          {"false", ConfigBoolean, validBool, false, noEffect + " Every broker can lead any partition without loss."},
	// Strata's own.
	"strata.archive.compression": {"none", ConfigString, validString("none", "zstd"), true, "How compacted segment objects store their blocks: none or zstd."},
}

// Validators, each Kafka's ConfigDef validator with its message.

func anyValue(string) string { return "" }

func atLeast(min int64) func(string) string {
	return func(v string) string {
		if n, _ := strconv.ParseInt(v, 10, 64); n < min {
			return fmt.Sprintf("Value must be at least %d", min)
		}
		return ""
	}
}

func between(min, max int64) func(string) string {
	return inRange(min, max, func(v string) (int64, error) { return strconv.ParseInt(v, 10, 64) })
}

func betweenFloat(min, max float64) func(string) string {
	return inRange(min, max, func(v string) (float64, error) { return strconv.ParseFloat(v, 64) })
}

// inRange is the check of a value, as parse reads it, against min and max;
// ValidateTopicConfig has parsed the value as the config's type already.
func inRange[N int64 | float64](min, max N, parse func(string) (N, error)) func(string) string {
	return func(v string) string {
		n, _ := parse(v)
		switch {
		case n < min:
			return fmt.Sprintf("Value must be at least %v", min)
		case n > max:
			return fmt.Sprintf("Value must be no more than %v", max)
		}
		return ""
	}
}

func gzipLevel(v string) string {
	if n, _ := strconv.Atoi(v); n != -1 && (n < 1 || n > 9) {
		return "Value must be between 1 and 9 or equal to -1"
	}
	return ""
}

func validString(allowed ...string) func(string) string {
	return func(v string) string {
		if !slices.Contains(allowed, v) {
			return "String must be one of: " + strings.Join(allowed, ", ")
		}
		return ""
	}
}

func validList(allowed ...string) func(string) string {
	one := validString(allowed...)
	return func(v string) string {
		for _, item := range splitList(v) {
			if msg := one(item); msg != "" {
				return msg
			}
		}
		return ""
	}
}

func validBool(string) string { return "" } // the type's parse is the check

var replicaPair = regexp.MustCompile(`^[0-9]+:[0-9]+$`)

// throttledReplicas is Kafka's ThrottledReplicaListValidator.
func throttledReplicas(v string) string {
	items := splitList(v)
	if len(items) == 1 && items[0] == "*" {
		return ""
	}
	for _, it := range items {
		if !replicaPair.MatchString(it) {
			return "must be the literal '*' or a list of replicas in the following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."
		}
	}
	return ""
}

// metadataVersionRe matches the versions Kafka 3.9's MetadataVersionValidator
// takes: a release (0.8.0 to 3.9, with or without its patch number) with an
// optional -IVn suffix.
var metadataVersionRe = regexp.MustCompile(`^(0\.(8\.[0-2]|9\.0|10\.[0-2]|11\.0)|[12]\.[0-9]|3\.[0-9])(\.[0-9]+)?(-IV[0-9]+)?$`)

func metadataVersion(v string) string {
	if !metadataVersionRe.MatchString(v) {
		return fmt.Sprintf("Unknown metadata.version '%s'", v)
	}
	return ""
}

// splitList splits a LIST value as Kafka does: on commas with surrounding
// spaces, and an empty value is an empty list.
func splitList(v string) []string {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil
	}
	items := strings.Split(v, ",")
	for i := range items {
		items[i] = strings.TrimSpace(items[i])
	}
	return items
}

// parseValue checks that v parses as typ, as Kafka's ConfigDef.parseType
// does, and returns Kafka's reason when it does not.
func parseValue(typ ConfigType, v string) string {
	switch typ {
	case ConfigBoolean:
		if !strings.EqualFold(v, "true") && !strings.EqualFold(v, "false") {
			return "Expected value to be either true or false"
		}
	case ConfigInt:
		if _, err := strconv.ParseInt(v, 10, 32); err != nil {
			return "Not a number of type INT"
		}
	case ConfigLong:
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return "Not a number of type LONG"
		}
	case ConfigDouble:
		if f, err := strconv.ParseFloat(v, 64); err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return "Not a number of type DOUBLE"
		}
	}
	return ""
}

// TopicConfigDefault returns the default value of a known topic config and
// its description; ok is false for a name Strata does not know.
func TopicConfigDefault(name string) (def, doc string, ok bool) {
	s, ok := TopicConfigInfo(name)
	return s.Default, s.Doc, ok
}

// TopicConfigInfo describes a known topic config; ok is false for a name
// Strata does not know.
func TopicConfigInfo(name string) (spec TopicConfigSpec, ok bool) {
	d, ok := topicConfigDefs[name]
	if !ok {
		return TopicConfigSpec{}, false
	}
	doc := kafkaTopicDocs[name]
	if d.note != "" {
		doc = strings.TrimSpace(doc + " Strata: " + d.note)
	}
	return TopicConfigSpec{Name: name, Default: d.def, Type: d.typ, Doc: doc, Effect: d.effect}, true
}

// IsListTopicConfig reports whether name is a topic config whose value is a
// comma-separated list (which IncrementalAlterConfigs may APPEND to and
// SUBTRACT from).
func IsListTopicConfig(name string) bool { return topicConfigDefs[name].typ == ConfigList }

// ConfigError is a topic config name or value Kafka would reject, with
// Kafka's message (the text of its INVALID_CONFIG answer).
type ConfigError struct{ Message string }

func (e *ConfigError) Error() string { return e.Message }

// ValidateTopicConfig checks one name and value as Kafka does: the value
// (trimmed) must parse as the config's type and pass its validator. The
// error is a *ConfigError with Kafka's text ("Invalid value x for
// configuration y: reason").
func ValidateTopicConfig(name string, value *string) error {
	def, ok := topicConfigDefs[name]
	if !ok {
		return &ConfigError{"Unknown topic config name: " + name}
	}
	if value == nil {
		return &ConfigError{"Null value not supported for topic configs: " + name}
	}
	v := strings.TrimSpace(*value)
	reason := parseValue(def.typ, v)
	if reason == "" {
		reason = def.check(v)
	}
	if reason != "" {
		return &ConfigError{fmt.Sprintf("Invalid value %s for configuration %s: %s", *value, name, reason)}
	}
	return nil
}

// TopicConfig holds the parsed configs the data path uses.
type TopicConfig struct {
	MaxMessageBytes int
	LogAppendTime   bool
	// Compression is the codec batches are stored with (compression.type):
	// -1 for producer (as produced), else internal/batch's codec number.
	Compression int8
	// CompressionLevel is the level of compression.<codec>.level for
	// Compression's codec (0 for none and snappy).
	CompressionLevel int
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

// compressionCodecs maps compression.type to a codec; producer is -1.
var compressionCodecs = map[string]int8{
	"producer": -1, "uncompressed": batch.CodecNone, "gzip": batch.CodecGzip,
	"snappy": batch.CodecSnappy, "lz4": batch.CodecLZ4, "zstd": batch.CodecZstd,
}

// ParseTopicConfig parses a topic's stored configs, with the defaults of
// those not set.
func ParseTopicConfig(set map[string]string) (TopicConfig, error) {
	get := func(name string) string {
		if v, ok := set[name]; ok {
			return strings.TrimSpace(v)
		}
		return topicConfigDefs[name].def
	}
	var err error
	integer := func(name string) int64 {
		n, e := strconv.ParseInt(get(name), 10, 64)
		if e != nil && err == nil {
			err = fmt.Errorf("topic config %s: %w", name, e)
		}
		return n
	}
	c := TopicConfig{
		MaxMessageBytes:   int(integer("max.message.bytes")),
		LogAppendTime:     get("message.timestamp.type") == "LogAppendTime",
		RetentionMs:       integer("retention.ms"),
		RetentionBytes:    integer("retention.bytes"),
		SegmentBytes:      integer("segment.bytes"),
		DeleteRetentionMs: integer("delete.retention.ms"),
		MinCompactionLag:  integer("min.compaction.lag.ms"),
	}
	codec, ok := compressionCodecs[get("compression.type")]
	if !ok && err == nil {
		err = fmt.Errorf("topic config compression.type: unknown %q", get("compression.type"))
	}
	c.Compression = codec
	switch codec {
	case batch.CodecGzip:
		c.CompressionLevel = int(integer("compression.gzip.level"))
	case batch.CodecLZ4:
		c.CompressionLevel = int(integer("compression.lz4.level"))
	case batch.CodecZstd:
		c.CompressionLevel = int(integer("compression.zstd.level"))
	}
	if err != nil {
		return TopicConfig{}, err
	}
	archive, err := tiering.ParseCodec(get("strata.archive.compression"))
	if err != nil {
		return TopicConfig{}, err
	}
	c.Archive = tiering.ArchiveOptions{Codec: archive}
	policy := splitList(get("cleanup.policy"))
	c.Deletes, c.Compacts = slices.Contains(policy, "delete"), slices.Contains(policy, "compact")
	return c, nil
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

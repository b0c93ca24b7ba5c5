package loadgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Scenarios a Workload runs.
const (
	// ScenarioTail runs producers and consumers together: consumers read at
	// the tail, as records arrive.
	ScenarioTail = "tail"
	// ScenarioCatchUp produces a backlog first, with no consumer, then
	// starts the consumers at the backlog's first record and times how
	// long they take to read all of it.
	ScenarioCatchUp = "catch-up"
)

// Workload is what a run does: the topics, the clients, the records and
// their pace. Its YAML keys are the flag names of `strata loadgen run`
// (docs/loadgen.md); result.json repeats it under the same keys.
type Workload struct {
	Name     string `yaml:"name"`
	Scenario string `yaml:"scenario"`

	Topic      string `yaml:"topic"`
	Topics     int    `yaml:"topics"`
	Partitions int    `yaml:"partitions"`

	Producers      int `yaml:"producers"`
	Consumers      int `yaml:"consumers"`
	ConsumerGroups int `yaml:"consumer-groups"`

	MessageSize SizeDist `yaml:"message-size"`
	Payload     string   `yaml:"payload"`
	Keys        string   `yaml:"keys"`
	KeySpace    int      `yaml:"key-space"`

	Rate     Rate          `yaml:"rate"`
	Records  int64         `yaml:"records"`
	Duration time.Duration `yaml:"duration"`
	Warmup   time.Duration `yaml:"warmup"`

	Acks            string        `yaml:"acks"`
	Compression     string        `yaml:"compression"`
	Linger          time.Duration `yaml:"linger"`
	BatchMaxBytes   Size          `yaml:"batch-max-bytes"`
	BufferedRecords int           `yaml:"buffered-records"`

	Verify       bool          `yaml:"verify"`
	DrainTimeout time.Duration `yaml:"drain-timeout"`
}

// DefaultWorkload is the workload of `strata loadgen run` with no options
// but --bootstrap: one topic of 16 partitions, one producer as fast as it
// can with acks=all, one consumer at the tail, 1 KiB records for 30 s after
// 5 s of warm-up.
func DefaultWorkload() Workload {
	return Workload{
		Scenario:        ScenarioTail,
		Topic:           "loadgen",
		Topics:          1,
		Partitions:      16,
		Producers:       1,
		Consumers:       1,
		ConsumerGroups:  1,
		MessageSize:     SizeDist{1024, 1024},
		Payload:         "random",
		Keys:            "none",
		KeySpace:        10000,
		Duration:        30 * time.Second,
		Warmup:          5 * time.Second,
		Acks:            "all",
		Compression:     "none",
		Linger:          10 * time.Millisecond,
		BatchMaxBytes:   1000012,
		BufferedRecords: 50000,
		DrainTimeout:    30 * time.Second,
	}
}

// RegisterFlags registers one flag per field, with w's current values as
// the defaults. Back-quoted words name the flag's argument in --help.
func (w *Workload) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&w.Name, "name", w.Name, "workload `name`, shown in reports; empty = made from the main options")
	fs.StringVar(&w.Scenario, "scenario", w.Scenario, "`scenario`: tail (produce and consume together) or catch-up (produce a backlog, then consume it from its first record)")
	fs.StringVar(&w.Topic, "topic", w.Topic, "topic `name`; with --topics N > 1, the topics are NAME-0 … NAME-(N-1); created if missing")
	fs.IntVar(&w.Topics, "topics", w.Topics, "`count` of topics")
	fs.IntVar(&w.Partitions, "partitions", w.Partitions, "partition `count` of each topic created (an existing topic keeps its own)")
	fs.IntVar(&w.Producers, "producers", w.Producers, "`count` of producer clients, each producing to every topic")
	fs.IntVar(&w.Consumers, "consumers", w.Consumers, "`count` of consumer clients in each consumer group; 0 = produce only")
	fs.IntVar(&w.ConsumerGroups, "consumer-groups", w.ConsumerGroups, "`count` of consumer groups, each reading every record")
	fs.Var(&w.MessageSize, "message-size", "record value `size` in bytes (1024, 1KiB), or a range MIN-MAX drawn uniformly (512-2KiB); at least 30")
	fs.StringVar(&w.Payload, "payload", w.Payload, "value `bytes` after the 30-byte header: random (incompressible) or text (random letters, about 4.7 bits a byte)")
	fs.StringVar(&w.Keys, "keys", w.Keys, "key `distribution`: none (no keys), uniform or zipfian over --key-space keys")
	fs.IntVar(&w.KeySpace, "key-space", w.KeySpace, "`count` of distinct keys for --keys uniform or zipfian")
	fs.Var(&w.Rate, "rate", "target `rate` in records/s over all producers (5000 or 5000/s); 0 = as fast as the cluster acknowledges")
	fs.Int64Var(&w.Records, "records", w.Records, "stop producing after this `count` of records past the warm-up (or at --duration, whichever is first); 0 = at --duration")
	fs.DurationVar(&w.Duration, "duration", w.Duration, "measured produce `time`, after the warm-up")
	fs.DurationVar(&w.Warmup, "warmup", w.Warmup, "`time` produced and consumed before measuring starts; not counted in the results")
	fs.StringVar(&w.Acks, "acks", w.Acks, "producer `acks`: all, 1 or 0")
	fs.StringVar(&w.Compression, "compression", w.Compression, "batch `codec`: none, gzip, snappy, lz4 or zstd")
	fs.DurationVar(&w.Linger, "linger", w.Linger, "`time` a producer waits to fill a batch")
	fs.Var(&w.BatchMaxBytes, "batch-max-bytes", "largest record batch `size` a producer builds")
	fs.IntVar(&w.BufferedRecords, "buffered-records", w.BufferedRecords, "`count` of records a producer holds unacknowledged before it blocks")
	fs.BoolVar(&w.Verify, "verify", w.Verify, "number the records and report lost, duplicated and reordered ones per partition; exit 1 if any")
	fs.DurationVar(&w.DrainTimeout, "drain-timeout", w.DrainTimeout, "`time` consumers may take, once producing ends, to read every record produced")
}

// LoadYAML reads a workload file over w. Its keys are the flag names; an
// unknown key is an error.
func (w *Workload) LoadYAML(file string) error {
	data, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("workload: %w", err)
	}
	if err := w.decodeYAML(data); err != nil {
		return fmt.Errorf("workload %s: %w", file, err)
	}
	return nil
}

func (w *Workload) decodeYAML(data []byte) error {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(w); err != nil && !errors.Is(err, io.EOF) { // io.EOF: an empty file
		msg := strings.TrimPrefix(err.Error(), "yaml: ")
		msg = strings.TrimPrefix(msg, "unmarshal errors:\n")
		lines := strings.Split(msg, "\n")
		for i := range lines {
			lines[i] = strings.TrimSpace(lines[i])
		}
		return errors.New(strings.Join(lines, "; "))
	}
	return nil
}

// TopicNames are the topics the workload writes and reads.
func (w *Workload) TopicNames() []string {
	if w.Topics <= 1 {
		return []string{w.Topic}
	}
	names := make([]string, w.Topics)
	for i := range names {
		names[i] = w.Topic + "-" + strconv.Itoa(i)
	}
	return names
}

// Label is the workload's name, or one made from its main options.
func (w *Workload) Label() string {
	if w.Name != "" {
		return w.Name
	}
	rate := "max"
	if w.Rate > 0 {
		rate = strconv.Itoa(int(w.Rate)) + "/s"
	}
	return fmt.Sprintf("%s p%d %s acks=%s %s", w.MessageSize, w.Partitions*max(w.Topics, 1), rate, w.Acks, w.Scenario)
}

// minMessageSize is the header every value starts with (record.go).
const minMessageSize = headerSize

// ValidationError lists every bad value of a Workload, one sentence each.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string { return strings.Join(e.Problems, "; ") }

// Validate checks every value and explains each bad one, naming its flag.
func (w *Workload) Validate() error {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	oneOf := func(flag, got string, want ...string) {
		for _, v := range want {
			if got == v {
				return
			}
		}
		bad("--%s must be %s, got %q", flag, orList(want), got)
	}
	oneOf("scenario", w.Scenario, ScenarioTail, ScenarioCatchUp)
	if w.Topic == "" {
		bad("--topic must not be empty")
	}
	if w.Topics < 1 {
		bad("--topics must be at least 1, got %d", w.Topics)
	}
	if w.Partitions < 1 {
		bad("--partitions must be at least 1, got %d", w.Partitions)
	}
	if w.Producers < 1 {
		bad("--producers must be at least 1, got %d", w.Producers)
	}
	if w.Consumers < 0 {
		bad("--consumers must be 0 or more, got %d", w.Consumers)
	}
	if w.Consumers > 0 && w.ConsumerGroups < 1 {
		bad("--consumer-groups must be at least 1 when there are consumers, got %d", w.ConsumerGroups)
	}
	if w.Scenario == ScenarioCatchUp && w.Consumers == 0 {
		bad("--scenario catch-up needs --consumers of at least 1")
	}
	if w.Verify && w.Consumers == 0 {
		bad("--verify needs --consumers of at least 1")
	}
	if w.MessageSize.Min < minMessageSize {
		bad("--message-size must be at least %d (the record header), got %s", minMessageSize, w.MessageSize)
	}
	if w.MessageSize.Max > 64<<20 {
		bad("--message-size must be at most 64MiB, got %s", w.MessageSize)
	}
	oneOf("payload", w.Payload, "random", "text")
	oneOf("keys", w.Keys, "none", "uniform", "zipfian")
	if w.Keys != "none" && w.KeySpace < 1 {
		bad("--key-space must be at least 1, got %d", w.KeySpace)
	}
	if w.Rate < 0 {
		bad("--rate must be 0 or more, got %d", w.Rate)
	}
	if w.Records < 0 {
		bad("--records must be 0 or more, got %d", w.Records)
	}
	if w.Duration <= 0 {
		bad("--duration must be positive, got %s", w.Duration)
	}
	if w.Warmup < 0 {
		bad("--warmup must be 0 or more, got %s", w.Warmup)
	}
	oneOf("acks", w.Acks, "all", "1", "0")
	oneOf("compression", w.Compression, "none", "gzip", "snappy", "lz4", "zstd")
	if w.Linger < 0 {
		bad("--linger must be 0 or more, got %s", w.Linger)
	}
	if w.BatchMaxBytes < 1024 || w.BatchMaxBytes > 1<<30 {
		bad("--batch-max-bytes must be from 1KiB to 1GiB, got %s", w.BatchMaxBytes)
	}
	if w.BufferedRecords < 1 {
		bad("--buffered-records must be at least 1, got %d", w.BufferedRecords)
	}
	if w.DrainTimeout <= 0 {
		bad("--drain-timeout must be positive, got %s", w.DrainTimeout)
	}
	if len(problems) > 0 {
		return &ValidationError{problems}
	}
	return nil
}

func orList(words []string) string {
	if len(words) == 1 {
		return words[0]
	}
	return strings.Join(words[:len(words)-1], ", ") + " or " + words[len(words)-1]
}

// Rate is a number of records per second, written "5000" or "5000/s".
type Rate int64

// Set implements flag.Value.
func (r *Rate) Set(s string) error {
	n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(s), "/s"), 10, 64)
	if err != nil {
		return errors.New("want records per second, such as 5000 or 5000/s")
	}
	*r = Rate(n)
	return nil
}

// String is the plain number.
func (r Rate) String() string { return strconv.FormatInt(int64(r), 10) }

// UnmarshalYAML accepts a number or "N/s".
func (r *Rate) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errors.New("want records per second, such as 5000 or 5000/s")
	}
	return r.Set(n.Value)
}

// workloadJSON is the JSON form of a Workload: the YAML keys, durations
// as Go duration strings ("30s"), so that it reads as the YAML file does.
type workloadJSON struct {
	Name            string   `json:"name"`
	Scenario        string   `json:"scenario"`
	Topic           string   `json:"topic"`
	Topics          int      `json:"topics"`
	Partitions      int      `json:"partitions"`
	Producers       int      `json:"producers"`
	Consumers       int      `json:"consumers"`
	ConsumerGroups  int      `json:"consumer-groups"`
	MessageSize     SizeDist `json:"message-size"`
	Payload         string   `json:"payload"`
	Keys            string   `json:"keys"`
	KeySpace        int      `json:"key-space"`
	Rate            int64    `json:"rate"`
	Records         int64    `json:"records"`
	Duration        string   `json:"duration"`
	Warmup          string   `json:"warmup"`
	Acks            string   `json:"acks"`
	Compression     string   `json:"compression"`
	Linger          string   `json:"linger"`
	BatchMaxBytes   Size     `json:"batch-max-bytes"`
	BufferedRecords int      `json:"buffered-records"`
	Verify          bool     `json:"verify"`
	DrainTimeout    string   `json:"drain-timeout"`
}

// MarshalJSON writes the workload under its YAML keys.
func (w Workload) MarshalJSON() ([]byte, error) {
	return json.Marshal(workloadJSON{
		Name: w.Name, Scenario: w.Scenario, Topic: w.Topic, Topics: w.Topics, Partitions: w.Partitions,
		Producers: w.Producers, Consumers: w.Consumers, ConsumerGroups: w.ConsumerGroups,
		MessageSize: w.MessageSize, Payload: w.Payload, Keys: w.Keys, KeySpace: w.KeySpace,
		Rate: int64(w.Rate), Records: w.Records, Duration: w.Duration.String(), Warmup: w.Warmup.String(),
		Acks: w.Acks, Compression: w.Compression, Linger: w.Linger.String(), BatchMaxBytes: w.BatchMaxBytes,
		BufferedRecords: w.BufferedRecords, Verify: w.Verify, DrainTimeout: w.DrainTimeout.String(),
	})
}

// UnmarshalJSON reads what MarshalJSON writes (JSON is YAML, and the keys
// are the same).
func (w *Workload) UnmarshalJSON(b []byte) error {
	*w = Workload{}
	return w.decodeYAML(b)
}

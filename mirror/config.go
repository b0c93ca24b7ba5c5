package mirror

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"regexp"
	"strings"
	"time"
)

// Config is a mirror's configuration. Its YAML keys and the flags of
// `strata mirror` have the same names. The zero value is not valid: start
// from DefaultConfig.
type Config struct {
	// SourceBootstrap and TargetBootstrap are the seed brokers of each
	// cluster, comma-separated host:port.
	SourceBootstrap string `yaml:"source-bootstrap"`
	TargetBootstrap string `yaml:"target-bootstrap"`
	// Topics is the regular expression (anchored at both ends) of the
	// source topics to mirror. Internal topics (names starting with "__")
	// are never mirrored.
	Topics string `yaml:"topics"`
	// Groups is the regular expression (anchored) of the source consumer
	// groups whose committed offsets are translated onto the target; empty
	// = none.
	Groups string `yaml:"groups"`
	// Name names the mirror: the consumer group on the source that splits
	// the partitions between instances, the group on the target holding
	// the progress in exactly-once mode, the transactional ID's prefix and
	// the offset-sync topic on the target (__strata_mirror_offset_syncs.NAME).
	Name string `yaml:"name"`
	// InstanceID tells the instances of one mirror apart: their static
	// group membership and transactional ID. Default: the host name.
	InstanceID string `yaml:"instance-id"`
	// ExactlyOnce writes the records and the progress in one target
	// transaction.
	ExactlyOnce bool `yaml:"exactly-once"`
	// PreserveOffsets writes every record at its source offset; the target
	// partitions must be empty (or already hold exactly the source's
	// prefix), and the source's offsets contiguous.
	PreserveOffsets bool `yaml:"preserve-offsets"`
	// TargetPrefix is prepended to every target topic's name.
	TargetPrefix string `yaml:"target-prefix"`
	// SourceAlias and TargetAlias name the clusters, for loop prevention:
	// a record is marked with the origin header (OriginHeader) naming the
	// cluster it was first written to, and records whose origin is the
	// target are not mirrored back; topics named TargetAlias+"." on the
	// source (the target's own topics mirrored there) are skipped.
	SourceAlias string `yaml:"source-alias"`
	TargetAlias string `yaml:"target-alias"`
	// ConfigExclude is the regular expression of topic configs not copied.
	ConfigExclude string `yaml:"config-exclude"`
	// BatchRecords bounds the records of one batch: one produce-and-commit
	// round (with exactly-once, one transaction).
	BatchRecords int `yaml:"batch-records"`
	// SyncInterval is how often topics, partitions, configs and group
	// offsets are synchronised.
	SyncInterval time.Duration `yaml:"sync-interval"`
	// ProgressInterval is how often the progress line is printed and lag
	// measured; 0 = no progress line (lag is still measured every second).
	ProgressInterval time.Duration `yaml:"progress-interval"`
	// SessionTimeout is the source group's session timeout: how long the
	// partitions of a vanished instance wait before moving.
	SessionTimeout time.Duration `yaml:"session-timeout"`
	// MetricsAddr is the host:port of the Prometheus /metrics endpoint;
	// empty = none.
	MetricsAddr string `yaml:"metrics-addr"`
}

// OriginHeader is the record header naming the cluster a record was first
// written to, with Config.SourceAlias set.
const OriginHeader = "strata-mirror-origin"

// DefaultConfigExclude are the topic configs that are not copied, as
// MirrorMaker 2: they describe the source cluster's replication or would
// change the records' timestamps.
const DefaultConfigExclude = `follower\.replication\.throttled\.replicas|leader\.replication\.throttled\.replicas|message\.timestamp\.difference\.max\.ms|message\.timestamp\.type|unclean\.leader\.election\.enable|min\.insync\.replicas`

// DefaultConfig is the configuration with every default.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "mirror"
	}
	return Config{
		Name:             "strata-mirror",
		InstanceID:       host,
		ConfigExclude:    DefaultConfigExclude,
		BatchRecords:     10000,
		SyncInterval:     10 * time.Second,
		ProgressInterval: 10 * time.Second,
		SessionTimeout:   15 * time.Second,
	}
}

// RegisterFlags adds the configuration's flags to fs, with c's values as
// defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.SourceBootstrap, "source-bootstrap", c.SourceBootstrap, "seed brokers of the source cluster, comma-separated `host:port`s")
	fs.StringVar(&c.TargetBootstrap, "target-bootstrap", c.TargetBootstrap, "seed brokers of the target cluster, comma-separated `host:port`s")
	fs.StringVar(&c.Topics, "topics", c.Topics, "`regex` (anchored) of the source topics to mirror; internal topics (__*) never are")
	fs.StringVar(&c.Groups, "groups", c.Groups, "`regex` (anchored) of the source consumer groups whose offsets are translated onto the target; empty = none")
	fs.StringVar(&c.Name, "name", c.Name, "`name` of the mirror: its group on the source (and on the target with --exactly-once), its transactional ID prefix and its offset-sync topic __strata_mirror_offset_syncs.NAME on the target")
	fs.StringVar(&c.InstanceID, "instance-id", c.InstanceID, "`id` of this instance, unique among the mirror's instances and kept across restarts (static group membership, transactional ID)")
	fs.BoolVar(&c.ExactlyOnce, "exactly-once", c.ExactlyOnce, "write the records and the mirror's progress in one transaction on the target (the target must support transactions)")
	fs.BoolVar(&c.PreserveOffsets, "preserve-offsets", c.PreserveOffsets, "write each record at its source offset: the target partitions must be empty or hold exactly the source's prefix, and the source offsets contiguous (not with --exactly-once)")
	fs.StringVar(&c.TargetPrefix, "target-prefix", c.TargetPrefix, "`prefix` of the target topics' names, e.g. the source cluster's alias and a dot")
	fs.StringVar(&c.SourceAlias, "source-alias", c.SourceAlias, "`name` of the source cluster, written in the "+OriginHeader+" header of records that have none")
	fs.StringVar(&c.TargetAlias, "target-alias", c.TargetAlias, "`name` of the target cluster: records whose "+OriginHeader+" header names it, and source topics named TARGET-ALIAS.*, are not mirrored (loop prevention)")
	fs.StringVar(&c.ConfigExclude, "config-exclude", c.ConfigExclude, "`regex` (anchored) of topic configs not copied to the target")
	fs.IntVar(&c.BatchRecords, "batch-records", c.BatchRecords, "most `records` copied in one round of produce, wait for the acknowledgements, commit the progress (with --exactly-once, one transaction)")
	fs.DurationVar(&c.SyncInterval, "sync-interval", c.SyncInterval, "`interval` of the topic, partition, config and group-offset synchronisation")
	fs.DurationVar(&c.ProgressInterval, "progress-interval", c.ProgressInterval, "`interval` of the progress line; 0 = none")
	fs.DurationVar(&c.SessionTimeout, "session-timeout", c.SessionTimeout, "`time` after which a vanished instance's partitions move to the others")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "`host:port` of the Prometheus /metrics endpoint; empty = none")
}

// Validate explains every bad value.
func (c *Config) Validate() error {
	var errs []error
	if c.SourceBootstrap == "" {
		errs = append(errs, errors.New("source-bootstrap is required"))
	}
	if c.TargetBootstrap == "" {
		errs = append(errs, errors.New("target-bootstrap is required"))
	}
	if c.Topics == "" {
		errs = append(errs, errors.New("topics is required (a regex, e.g. '.*' or 'orders|payments')"))
	}
	for _, re := range []struct{ name, v string }{{"topics", c.Topics}, {"groups", c.Groups}, {"config-exclude", c.ConfigExclude}} {
		if _, err := anchored(re.v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", re.name, err))
		}
	}
	if c.Name == "" || strings.ContainsAny(c.Name, " /\\") {
		errs = append(errs, fmt.Errorf("name %q: want a non-empty name without spaces or slashes", c.Name))
	}
	if c.InstanceID == "" {
		errs = append(errs, errors.New("instance-id must not be empty"))
	}
	if c.ExactlyOnce && c.PreserveOffsets {
		errs = append(errs, errors.New("preserve-offsets and exactly-once exclude each other: a transaction's commit marker takes an offset on the target"))
	}
	if c.BatchRecords < 1 {
		errs = append(errs, fmt.Errorf("batch-records must be at least 1, got %d", c.BatchRecords))
	}
	if c.SyncInterval <= 0 {
		errs = append(errs, fmt.Errorf("sync-interval must be positive, got %s", c.SyncInterval))
	}
	if c.ProgressInterval < 0 {
		errs = append(errs, fmt.Errorf("progress-interval must not be negative, got %s", c.ProgressInterval))
	}
	if c.SessionTimeout < time.Second {
		errs = append(errs, fmt.Errorf("session-timeout must be at least 1s, got %s", c.SessionTimeout))
	}
	if c.TargetAlias != "" && c.TargetAlias == c.SourceAlias {
		errs = append(errs, fmt.Errorf("source-alias and target-alias are both %q", c.TargetAlias))
	}
	return errors.Join(errs...)
}

// anchored compiles re to match whole names; "" matches nothing.
func anchored(re string) (*regexp.Regexp, error) {
	if re == "" {
		return nil, nil
	}
	return regexp.Compile("^(?:" + re + ")$")
}

// SyncTopic is the target topic holding the mirror's offset syncs.
func (c *Config) SyncTopic() string { return "__strata_mirror_offset_syncs." + c.Name }

// transactionalID is the instance's transactional ID on the target.
func (c *Config) transactionalID() string { return c.Name + "-" + c.InstanceID }

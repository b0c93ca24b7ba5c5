// Package metadata is Strata's view of etcd: the cluster id, live brokers,
// topics and their configs, partition leadership and leader epochs, segment
// manifests, committed partition state (high watermark, log start offset,
// idempotent-producer state) and id counters. It also runs an embedded
// single-member etcd for the single-node default (StartEmbedded).
//
// # Key layout
//
// Every key lives under a prefix (Options.Prefix, default "/strata/"). Values
// are JSON; counters are JSON numbers. <topic-id> is the topic's UUID in its
// text form, <p> the partition number in decimal.
//
//	key (after the prefix)                      value                   lease
//	------------------------------------------  ----------------------  -------------
//	cluster/id                                  "22-char base64 id"     none
//	cluster/next-broker-id                      next broker id (>= 1)   none
//	cluster/next-producer-id                    next producer id        none
//	brokers/<broker-id>                         Broker                  broker's session
//	topics/<name>                               Topic                   none
//	partitions/<topic-id>/<p>/leader            {"broker": id}          leader's session
//	partitions/<topic-id>/<p>/state             PartitionState          none
//	partitions/<topic-id>/<p>/manifest/<base>   ManifestEntry           none
//
// <base> is the entry's base offset as %020d, so that etcd's byte order of
// the keys is the numeric order of the offsets. A Topic's Version is not
// stored: it is the ModRevision of its key when read.
//
// # Leadership and fencing
//
// Each Store holds a concurrency.Session: an etcd lease kept alive while the
// process lives. A partition's leader key is created under the leader's lease
// and only if absent, so at most one broker leads a partition, and the lease
// ending (crash, network partition, Close) deletes it. The key's
// CreateRevision is the partition's leader epoch. Revisions only grow, so every
// new leadership has a larger epoch than all earlier ones, and an epoch that
// is gone never comes back.
//
// Every write a leader makes to a partition's manifest and state is one etcd
// transaction guarded by Compare(CreateRevision(leader key) == epoch). A broker
// that lost its leadership, even one that does not know it yet, fails that
// comparison and writes nothing (ErrFenced).
//
// # Counters
//
// Broker ids start at 1. Producer ids start at 1000 (FirstProducerID), leaving
// the small numbers free so that a zero or unset id is never a valid one.
// Both are compare-and-swap increments on one key and never reuse an id.
//
// # Limits
//
// CommitSegments packs many partitions into one transaction but stays within
// etcd's default --max-txn-ops (128) and well below its default
// --max-request-bytes (1.5 MiB), so it works against any stock etcd. State keys
// are rewritten on every commit; the etcd cluster needs auto-compaction
// (StartEmbedded turns it on) or its revision history grows until the
// backend quota is reached.
package metadata

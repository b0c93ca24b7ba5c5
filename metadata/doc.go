// Package metadata is Strata's view of etcd: the cluster id, live brokers,
// the controller and its partition assignments, topics and their configs,
// partition leadership and leader epochs, segment
// manifests, committed partition state (high watermark, log start offset,
// idempotent-producer state), consumer groups' committed offsets and
// generations, and id counters. It also runs an embedded
// single-member etcd for the single-node default (StartEmbedded).
//
// # Key layout
//
// Every key lives under a prefix (Options.Prefix, default "/strata/"). Values
// are JSON; counters are JSON numbers. <topic-id> is the topic's UUID in its
// text form, <p> the partition number in decimal.
//
//	key (after the prefix)                      value                       lease
//	------------------------------------------  --------------------------  ----------------
//	cluster/id                                  "22-char base64 id"         none
//	cluster/next-broker-id                      next broker id (>= 1)       none
//	cluster/next-producer-id                    next producer id            none
//	cluster/brokers/<broker-id>                 Broker                      broker's session
//	cluster/controller/<lease>                  broker id (election)        candidate's session
//	cluster/topics/<name>                       Topic                       none
//	cluster/assignments/<topic-id>              {"brokers": [id, ...]}      none
//	cluster/leaders/<topic-id>/<p>              {"broker", "leaderEpoch"}   leader's session
//	cluster/configs/broker                      {"log.retention.ms": …}     none
//	partitions/<topic-id>/<p>/state             PartitionState              none
//	partitions/<topic-id>/<p>/epochs            [EpochStart, ...]           none
//	partitions/<topic-id>/<p>/manifest/<base>   ManifestEntry               none
//	groups/<shard>/<group>/record               GroupRecord                 none
//	groups/<shard>/<group>/offsets/<topic>/<p>  CommittedOffset             none
//	groups/<shard>/<group>/txnoffsets/<topic>/<p>/<producer-id>  CommittedOffset (pending)  none
//	groups/<shard>/<group>/consumer             ConsumerGroupRecord (KIP-848) none
//	shares/<topic-id>/<p>/<group>               share-partition state (KIP-932) none
//	sharegroups/<group>/config                  share group configs         none
//	security/scram/<user>/<mechanism>           credential (# Security)     none
//	security/acls/<sha256>                      binding (# Security)        none
//	security/quotas/u<c>/c<c>                   entity and quotas           none
//
// Everything every broker needs to know lives under cluster/, so that one
// watch on that prefix (Store.Watch) keeps a broker's View current in
// revision order; the busy per-partition keys, rewritten on every commit,
// live under partitions/ and are read only by a partition's leader.
// <base> is the entry's base offset as %020d, so that etcd's byte order of
// the keys is the numeric order of the offsets. <shard> is a partition of
// the internal topic OffsetsTopic, the coordinator shard a group hashes onto;
// <group> is the group id path-escaped (url.PathEscape), so that any group id
// makes one key segment. A shard's leader writes its groups with
// CommitGroups, guarded by the shard partition's fencing epoch like any
// leader's write, and a new leader reads them with LoadGroups. A Topic's Version is not
// stored: it is the ModRevision of its key when read. An assignment lists
// the broker the controller chose for each partition (index = partition,
// -1 for none).
//
// # Security
//
// SCRAM credentials, ACL bindings and client quotas live under security/,
// not under cluster/: the View that cluster/ feeds is cloned on every
// change there, leadership changes included, so it holds only the
// cluster's shape, while every broker keeps the security state current
// with a watch of its own (WatchSecurity). Nothing under security/ has a
// lease. The values are metadata's own structs, frozen whatever the JSON
// tags of the auth, acl and quota types become:
//
//   - a credential is {"mechanism", "iterations", "salt", "storedKey",
//     "serverKey"} (salt and keys in base64, as encoding/json writes
//     bytes): what RFC 5802 lets a server keep, never a password. <user> is
//     the user name path-escaped; <mechanism> is auth.Mechanism's number
//     (1 SCRAM-SHA-256, 2 SCRAM-SHA-512).
//   - a binding is {"resourceType", "resourceName", "patternType",
//     "principal", "host", "operation", "permission"}, the enums as Kafka's
//     numbers; <sha256> is the hex SHA-256 of exactly that value, so that a
//     binding has one key and creating it twice is idempotent. The key
//     function is frozen with the value: another one would store a second
//     copy of every binding created again.
//   - a quota entity's key is "u<c>/c<c>", user then client id, where <c>
//     is "=" and the name path-escaped for a name, "*" for the default and
//     "-" when the entity has no such component: the character after the
//     kind letter tells the three apart whatever the name. The value is
//     {"user": {"name", "default"}, "clientId": {…}, "quotas": {key: value}},
//     the entity repeated so that no key needs parsing. An entity left
//     with no quota has no key.
//
// # Membership and the controller
//
// Each Store holds a concurrency.Session: an etcd lease kept alive while the
// process lives. A broker registers under it, so a broker whose lease ends
// (crash, pause or network partition longer than the TTL, Close) leaves the
// cluster. One broker is the controller, elected with concurrency.Election on
// cluster/controller/ (Campaign); it writes assignments (Balance), each write
// guarded by its election key still existing (ErrNotController otherwise).
//
// # Leadership, leader epochs and fencing
//
// A partition's leader key is created under the leader's lease and only if
// absent, so at most one broker leads a partition, and the lease ending
// deletes it. Two numbers identify a tenure:
//
//   - the key's CreateRevision, the fencing epoch (Leadership.Epoch). Revisions
//     only grow, so every new tenure has a larger one than all earlier ones,
//     and one that is gone never comes back;
//   - the Kafka leader epoch (Leadership.LeaderEpoch): 0 for a partition's
//     first tenure, one more for each next, as Kafka counts. Clients see this
//     one (Metadata, Fetch, OffsetForLeaderEpoch).
//
// AcquireLeadership creates the key, and appends the new leader epoch with
// its start offset (the committed high watermark) to the partition's epoch
// history, in one transaction. The history (the last 128 tenures) answers
// OffsetForLeaderEpoch. As nothing else writes the history, its ModRevision
// is the fencing epoch of the partition's latest tenure: a broker back after
// its lease ended resumes that tenure (ResumeLeadership: same leader epoch,
// its WAL records committed under the new fencing epoch) only if it is still
// its own, that is if no broker led the partition since.
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
// CommitSegments packs a seal's commits into as few transactions as the
// Store's TxnLimits allow: one for up to some 900 partitions within
// LargeTxnLimits, which StartEmbedded configures, and one per further 512 KiB
// (maxCommitTxnBytes: a larger transaction stalls etcd's apply queue, and
// the lease renewals behind it). Against an etcd with
// smaller limits (a stock one: --max-txn-ops 128, --max-request-bytes
// 1.5 MiB), the first transaction it refuses lowers them to etcd's
// defaults, and the commits go again in smaller transactions. State keys
// are rewritten on every commit; the etcd cluster needs auto-compaction
// (StartEmbedded turns it on) or its revision history grows until the
// backend quota is reached.
package metadata

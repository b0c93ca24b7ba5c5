// Package coordinator is Strata's group coordinator: the coordinator shards
// this broker leads, the classic consumer-group protocol of each group on
// them (group.go), and the batched writer that stores committed offsets and
// completed generations in etcd. The transaction coordinator and KIP-848
// groups will live here too.
//
// Groups hash onto the partitions of the internal topic
// metadata.OffsetsTopic, which package partition leads like any other: the
// coordinator only follows the leaderships of those partitions (Sync, after
// every reconcile pass) and loads a shard's groups from etcd when this
// broker starts to lead it. Members are values (Client: a client id and a
// host), not connections: a JoinGroup or SyncGroup that waits for the rest
// of the group gets a channel its response arrives on.
//
// # Ordered writes
//
// Every shard's writes go through the one writer (Run): a handler queues a
// write in its ordered part (Shard.QueueWrite, which never blocks) and waits
// for it in its wait part (Write.Wait), so one connection's writes land in
// request order and pipelined ones share etcd transactions.
//
// Pending transactional offsets (TxnOffsetCommit) are group writes too,
// kept per producer apart from the committed offsets. Ending a producer's
// transaction in a group (ApplyTxnOffsets, for the group's marker) is a
// write the writer makes itself, under the shard lock, once every write
// queued before it is committed and applied: it reads the pending offsets
// it moves into the committed ones (or drops), and one etcd transaction
// does both.
//
// # Goroutines
//
// Run, until the coordinator's context ends: the writer, which commits the
// queued writes and applies them under their shard's lock. One load
// goroutine per shard this broker starts to lead (ensure), waited for by
// Run. The shards' timers (session, rebalance, pending sync) run on their
// own goroutines and take the shard lock. Connections call WithGroup and
// the Group methods from their own goroutines.
//
// # Locks
//
// Each mutex guards the fields declared after it in its struct. Locks are
// taken in this order and never the other way round:
//
//	Coordinator.mu → Shard.mu (every group of the shard) → Coordinator.queueMu
//
// No coordinator lock is held while a partition's lock is taken (reading a
// shard partition's leadership), nor across a wait on etcd: loads and
// commits run with no lock and take the shard lock only to install what
// they read or committed.
package coordinator

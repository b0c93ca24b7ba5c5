// Package coordinator is Strata's group coordinator: the coordinator shards
// this broker leads, the classic consumer-group protocol of each group on
// them (group.go), and the batched writer that stores committed offsets and
// completed generations in etcd; the transaction coordinator (Txns,
// txn.go, its state machine in txn_state.go) and the transaction marker
// dispatcher (Dispatcher, markers.go); KIP-848 consumer groups
// (consumer_group.go: server-side assignment, member epochs, one etcd record
// per group) and KIP-932 share groups (share_groups.go: membership here;
// share_partitions.go: the share-partition states kept at each partition's
// leader).
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
// # Transactions
//
// A transactional id hashes onto the same shards as a group id. Txns keeps,
// per shard this broker leads, the records of its transactional ids,
// loaded from etcd when it starts to lead the shard and written through
// metadata.Store.WriteTxn (guarded by the shard epoch) before a request is
// answered; a record being written answers CONCURRENT_TRANSACTIONS. Ending
// a transaction writes its Prepare state and its markers together; the
// Dispatcher of every broker writes the markers of the partitions and
// groups it leads and deletes them, and Txns.Run records the Complete
// state once the dispatcher's view shows none left. VerifyTxn reads a
// record straight from etcd.
//
// Transaction version 2 (KIP-890 part 2, txn_add.go): a partition leader
// (Produce v12) or a group coordinator (TxnOffsetCommit v5) adds its
// partition or group to the transaction itself, through etcd, since
// brokers talk only through etcd: Txns.AddImplicit reads the record and
// writes it changed with a compare of its ModRevision
// (metadata.Store.UpdateTxn), or, on the coordinator itself, changes its
// own record. So the coordinator is not the only writer of its records:
// each of its writes compares the record's ModRevision with the one it
// holds (a conflict reads the record again and answers
// CONCURRENT_TRANSACTIONS), its shards follow their records with a watch
// (metadata.Store.WatchTxns), which installs what others wrote, and EndTxn
// reads the record from etcd before it decides. Under version 2 every
// EndTxn bumps the epoch (txn_state.go, stepEnd).
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
// Txns.Run, until the coordinator's context ends: every 100 ms, and when
// kicked (a shard loaded, a record changed, markers changed, a transaction
// began to end), it completes the transactions whose markers are all
// written and aborts ongoing ones past their timeout, one etcd write at a
// time; then it waits for the loads of the transaction shards it started.
// A load is one goroutine per shard this broker starts to lead (from
// Txns.Sync or a request) that reads the shard's records and then follows
// them in etcd until the shard is dropped, installing each change under
// txnShard.mu.
// Connections call the Txns methods from their own goroutines; a write
// runs on the caller's goroutine with no lock held.
//
// Dispatcher.Run, until its context ends: one goroutine follows
// txnmarkers/ (metadata.Store.WatchTxnMarkers) and installs each change
// under Dispatcher.mu; Run's loop, every 100 ms and when kicked (markers
// changed, leaderships changed), starts one goroutine per marker this
// broker can write, at most Concurrency at once, and waits for them when
// it ends.
//
// # Locks
//
// Each mutex guards the fields declared after it in its struct. Locks are
// taken in this order and never the other way round:
//
//	Coordinator.shards.mu → Shard.mu (every group of the shard) → Coordinator.queueMu
//	Txns.shards.mu → txnShard.mu (every record of the shard) → Dispatcher.mu
//
// (shards is each side's shardSet, shards.go.) loads.mu (the shard loads
// of each side, loads.go) is a leaf, taken under the shardSet's mu when a
// load starts.
//
// The group and transaction chains are independent: no lock of one is
// held while a lock of the other is taken. Txns.Run asks the dispatcher
// for a transaction's pending markers under txnShard.mu; Dispatcher.mu is
// a leaf, and the dispatcher checks leaderships (partition locks), calls
// the marker writers and Txns.Kick with no lock held.
//
// No coordinator lock is held while a partition's lock is taken (reading a
// shard partition's leadership), nor across a wait on etcd, a marker's
// write or a producer id's allocation: loads and commits run with no lock
// and take the shard lock only to install what they read or committed.
package coordinator

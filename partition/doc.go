// Package partition holds the partitions a Strata broker knows: one
// partition's tenure (acquire, resume, hand-off, fencing, the undecided
// state of a leadership that ended with records not known to be committed),
// append with idempotent-producer deduplication, transactions in the log
// (markers, the last stable offset, aborted ranges), the high watermark and
// the commit notification that moves it, and reads (the committed tail from
// memory, older offsets from the object store through tiering.Reader). Its
// Manager keeps the topic cache and reconciles what this broker leads with
// the controller's assignments in etcd; it is the uploader's
// tiering.Leaders.
//
// A produced batch travels: Partition.Append (validate the producer state,
// assign offsets, hand the batch to the WAL under the partition lock, so
// that WAL order is offset order) → WAL fsync (acks=1 is answered by the
// caller) → sealed segment → tiering.Uploader (object PUT, manifest commit
// guarded by the leader epoch) → Manager.OnCommit: the high watermark moves,
// Partition.WaitCommitted (acks=all) returns and CommitSignal wakes
// long-polling fetches. While an acks=all produce waits in WaitCommitted, a
// hand-off waits to drain, or a fetch has asked for CommitSignal since the
// last commit, the Manager's commit demand (demand.go, lock-free) tells the
// uploader that something waits, so that it may seal the WAL at once
// (tiering.Demand, --max-put-rate).
//
// # Transactions
//
// A partition also keeps its transactions in the log (txn.go): per
// producer, the first offset of its ongoing transaction (opened by its
// first transactional batch since its last marker, ended by its COMMIT or
// ABORT marker, which AppendMarker appends and which raises the producer's
// epoch to the marker's), the transactions whose marker is not committed
// yet, and the aborted ranges not yet in the manifest. The transitions are
// metadata.OpenTxns.Apply's, which the uploader also applies to the same
// batches for the committed state (ProducerState.InTxn, TxnFirst) and each
// manifest entry's Aborted list, so that a new leader (lead) and a replay
// restore what the old leader had in memory. The last stable offset
// (LastStableOffset) is the high watermark, or the first offset of the
// oldest transaction whose marker is not committed, whichever is lower;
// ReadCommitted reads below it and collects the aborted ranges a
// read_committed fetch needs from the in-memory manifest (no reads of the
// object store). All of it is guarded by Partition.mu.
//
// # Backpressure
//
// Appends never wait: the caller waits for WAL room (wal.WAL.WaitRoom)
// before it calls Append, holding no lock. The uploader, the only thing that
// frees room, never waits on a produce: it takes partition locks only for an
// instant (OnCommit, the tiering.Leaders methods), so it always makes
// progress.
//
// # Goroutines
//
// Manager.Run runs, until the manager's context ends: the etcd watch
// feeding the cluster view (SetView, which also brings the topic cache in
// line), and the reconcile loop, which owns leadership changes of every
// partition: acquisitions (at most acquiresInFlight at once, each waiting on
// etcd), hand-offs (one goroutine each, waited for by Run), and rejoin when
// the etcd lease ends. Before Run, the broker's start calls SetUndecided,
// ReconcileAtStart and Replay from its own goroutine. The uploader's Run
// calls OnCommit and Fate, Fenced and TopicName. Connections call the
// Partition methods that append and read, and the topic lookups, from
// their own goroutines.
//
// # Locks
//
// Each mutex guards the fields declared after it in its struct. Locks are
// taken in this order and never the other way round:
//
//	topicCache.mu → Partition.mu → (wal.WAL's and the uploader's own locks)
//
// Manager.commitMu and clusterView.mu are leaves. No lock is held across a
// wait on another component (WAL room, an upload, etcd, the network):
// Partition.mu is held only to read or change the partition's state and to
// append to the WAL, whose Write never waits; a leadership acquisition,
// which waits on etcd, is kept to one at a time per partition by an atomic
// flag (Partition.acquiring), not a lock. A Topic is immutable once
// installed; its partitions are shared with the Topic that replaces it.
//
// Errors the front end maps to Kafka codes are kerr values
// (NOT_LEADER_OR_FOLLOWER, OFFSET_OUT_OF_RANGE, the producer-state errors).
package partition

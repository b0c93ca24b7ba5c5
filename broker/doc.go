// Package broker is Strata's Kafka protocol server: connections, request
// dispatch (one file per API key, named by key), the partitions this broker
// leads, fetch long-polling, and the wiring of the WAL, the uploader, the
// object store and etcd into one running broker.
//
// A produced batch travels: connection → partition (validate the header,
// deduplicate idempotent retries, assign offsets) → WAL (group-committed
// fsync; acks=1 answered here) → sealed segment → tiering.Uploader (object
// PUT, manifest commit in etcd guarded by the leader epoch) → the partition's
// high watermark moves, acks=all is answered and fetchers wake.
//
// # Backpressure
//
// The WAL holds at most --wal-max-bytes. A produce waits for room
// (wal.WAL.WaitRoom) in its ordered part, before it takes any lock, for at
// most its timeout, and then answers REQUEST_TIMED_OUT with nothing
// appended; the connection reads nothing more meanwhile, which is what slows
// the producer. The uploader, the only thing that frees room, never waits on
// a produce: it takes partition locks only for an instant (onCommit,
// tiering.Leaders), so it always makes progress.
//
// # Goroutines
//
// Start runs, each until the broker stops: acceptLoop (one reader and one
// writer goroutine per connection, and the concurrent part of its requests);
// watchLoop (the etcd watch feeding clusterView); reconcileLoop, which owns
// leadership changes of every partition: acquisitions (at most
// acquiresInFlight at once), hand-offs (one goroutine each), and rejoin when
// the etcd lease ends; controllerLoop (assignments and object GC while this
// broker is the controller); the coordinator's writeLoop; retentionLoop;
// compactionLoop; and the uploader's Run, which calls onCommit and the
// tiering.Leaders methods of topicCache.
//
// # Locks
//
// Each mutex guards the fields declared after it in its struct. Locks are
// taken in this order and never the other way round:
//
//	topicCache.mu → partition.mu → (wal.WAL's and the uploader's own locks)
//
// Broker.commitMu, Broker.connMu and clusterView.mu are leaves. No lock is
// held across a wait on another component (WAL room, an upload, etcd, the
// network): partition.mu is held only to read or change the partition's
// state and to append to the WAL, whose Write never waits; a leadership
// acquisition, which waits on etcd, is kept to one at a time per partition
// by an atomic flag (partition.acquiring), not a lock.
package broker

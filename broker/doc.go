// Package broker is Strata's Kafka protocol server: listeners, connections,
// request dispatch (one file per API key, named by key), fetch long-polling,
// and the wiring of the WAL, the uploader and the schedules (package
// tiering), the object store, etcd, the partition manager (package
// partition) and the group coordinator (package coordinator) into one
// running broker.
//
// Broker builds and owns the components; the front end is its server
// (server.go), which the listener, the connections and the handlers work
// with. The server reaches the partitions and the group coordinator only
// through the small interfaces defined in interfaces.go (partitions,
// groups), and nothing holds a pointer back to the Broker.
//
// apis.go lists the APIs served, their versions and how each handler runs:
// the ordered part on the connection's read loop, in request order, the
// wait part concurrently (conn.go). Most handlers are fillers: they fill in
// the response made for the request's version, and an adapter (ordered,
// concurrent, afterGroupWrites) places them; produce and the group writes
// are written as their two parts.
//
// A produced batch travels: connection → the WAL room wait (below) →
// partition.Partition.Append (validate the producer state, assign offsets,
// write to the WAL) → WAL (group-committed fsync; acks=1 answered here) →
// sealed segment → tiering.Uploader (object PUT, manifest commit in etcd
// guarded by the leader epoch) → partition.Manager.OnCommit: the high
// watermark moves, acks=all is answered and fetchers wake.
//
// # Backpressure
//
// The WAL holds at most --wal-max-bytes. A produce waits for room
// (wal.WAL.WaitRoom) in its ordered part, before it takes any lock, for at
// most its timeout, and then answers REQUEST_TIMED_OUT with nothing
// appended; the connection reads nothing more meanwhile, which is what slows
// the producer. The uploader, the only thing that frees room, never waits on
// a produce (see package partition).
//
// # Goroutines
//
// Start runs, each until the broker stops: the security watch
// (metadata.Store.WatchSecurity: credentials, ACLs and quotas, applied by
// server.applySecurity); the server's acceptLoop, one per listener (one
// reader and one writer goroutine per connection, and the concurrent part
// of its requests); the partition manager's Run (the etcd watch feeding the
// cluster view, and the reconcile loop that owns leadership changes: see
// package partition); controllerLoop (assignments and object GC while this
// broker is the controller); the coordinator's Run (its writer); the
// transaction coordinator's Run (completions and timeouts) and the
// transaction marker dispatcher's Run (its watch of txnmarkers/ and the
// markers it writes, through server.writeTxnMarker and
// Coordinator.ApplyTxnOffsets: see package coordinator); the
// retention and compaction schedules (tiering.Schedules); and the
// uploader's Run, which calls the manager's OnCommit and its
// tiering.Leaders methods.
//
// # Locks
//
// The partition manager's and the partitions' locks, and their order, are
// package partition's; no coordinator lock is held while one of them is
// taken. The group and transaction coordinators' order is package
// coordinator's. server.connMu, server.secMu, producerIDs.mu and
// Broker.topicIDsMu (the dispatcher's cache of topic ids, taken after
// reading the partition manager's view) are leaves. No lock is held across a
// wait on another component (WAL room, an upload, etcd, the network): a new
// block of producer ids is reserved in etcd without producerIDs.mu, and
// concurrent InitProducerId calls wait on a channel for that block rather
// than reserve another.
package broker

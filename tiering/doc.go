// Package tiering moves data between the broker's write-ahead log and object
// storage: the object formats (format.go), the Uploader (sealed WAL segment →
// segment object → manifest commit in etcd), the Compactor (small ranges →
// one archive object per partition, blocks optionally zstd-compressed), the
// Collector (garbage collection) and the Reader (manifest entry → blocks →
// checked batches, through a bounded cache in memory and on disk, with
// read-ahead).
//
// # Formats
//
// The formats tiering writes and reads back for years, the WAL entry header,
// segment objects (format version 1) and archive objects (version 2, blocks
// optionally zstd-compressed), are in format.go: every frozen constant, the
// encoders, decoders and their checks, and a diagram of each layout with
// every field, width, byte order and what each CRC covers in the doc
// comments of EntryHeaderSize, ObjectBuilder and ArchiveBuilder (go doc
// tiering.ObjectBuilder). Golden bytes of each are under testdata/format.
//
// # Range cache files
//
// The Reader's disk tier keeps each cached range in a file of its own under
// its directory, <hash>-<n>.rng (hash: 32 hex digits of the SHA-256 of the
// object name, position and size; n: unique per write), integers big endian:
//
//	offset  width  field
//	     0      8  magic                    "STRATRNG"
//	     8      4  format version           uint32, 1
//	    12      8  position                 int64
//	    20      8  size                     int64
//	    28      2  object name length       uint16
//	    30      n  object name
//	  30+n      4  header crc               uint32: CRC-32C of bytes [0, 30+n)
//	  34+n   size  the range's bytes as stored in the object
//
// A range is a segment object's range, an archive's block (kept compressed
// when stored compressed) or an archive's block index. Files are written
// under a temporary name and renamed when whole, without fsync: a served
// range is always decoded and checked again against its manifest entry or
// block, so a file that a crash left short or wrong is removed, never served. These
// files are a cache; their format may change with a new version, and files
// of another version are removed at start.
//
// # Upload invariants
//
// The uploader commits a batch only under the leadership whose Kafka leader
// epoch the batch carries (stamped on append; a resumed leadership keeps
// it), so a broker that lost a partition and leads it again never uploads
// the old tenure's records as the new one's: those are set aside in the
// quarantine (quarantine.go) unless the old tenure committed them.
//
// Object names are unique and never reused, so a retried or zombie PUT can
// never overwrite live data. A segment is removed from the WAL only after its
// object is stored and every batch in it is committed, was committed before,
// or is written to the quarantine; only a deleted topic's batches are dropped.
// When the object store is down, the uploader retries without end, the WAL
// fills up and producers slow down: backpressure, never loss.
//
// # Upload pipeline
//
// Uploads are pipelined one segment deep (Uploader.Run, upload): the
// uploader's goroutine reads segment N+1, builds its object and PUTs it while
// segment N's manifest commit is in etcd on a goroutine of its own; N+1's
// commit starts only when N's has ended, so at most one PUT and one commit
// are in flight, and commits, OnCommit (which moves the high watermark and
// answers acks=all produces) and the WAL's Removes stay in segment order. N+1
// is prepared on the partition states that N's commits will leave; it is
// committed as prepared only if every one of N's commits landed at the first
// attempt and nothing changed in between (no partition of N+1 re-seeded or
// forgotten, the same fates and tenures from Leaders). Otherwise (a commit of
// N fenced, refused or retried, a leadership change) N+1 is redone: prepared
// again on the committed state and PUT again under a new name, exactly as
// without the pipeline, so a partition's commit never lands after an earlier
// commit of it failed. The first object of a redone segment is never
// referenced, and the Collector deletes it after the grace period like any
// upload that was not committed; since a redo follows any commit that was
// retried, a pipelined object waits at most one first-attempt commit before
// its own, and the grace period (at least twice the session TTL) still
// covers it. Anything but the plain case while N is in flight (a batch to
// skip or set aside, a partition not led or undecided) is prepared only
// after N's commit. Truncate and Replace wait for the commit in flight and
// run before the next segment is prepared. An early seal (--max-put-rate)
// takes its token when the uploader asks for it, and may be asked for while
// the previous segment is being PUT or committed: the WAL's fsync of segment
// N+2, the PUT of N+1 and the commit of N can overlap, and the budget, not
// their sum, sets the pace of early seals.
package tiering

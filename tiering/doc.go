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
package tiering

// Package tiering moves data between the broker's write-ahead log and object
// storage: the segment object format, the Uploader (sealed WAL segment →
// object → manifest commit in etcd), the Compactor (small ranges → one
// archive object per partition, blocks optionally zstd-compressed; see
// archive.go for its format), the Collector (garbage collection) and the
// Reader (manifest entry → blocks → checked batches, through a bounded cache
// in memory and on disk, with read-ahead).
//
// # WAL entries
//
// The broker writes each Kafka batch to the WAL behind a 28-byte entry header
// naming its partition and the leadership it was appended under
// (AppendEntryHeader, DecodeEntry):
//
//	offset  width  field
//	     0     16  topic id                 raw UUID bytes
//	    16      4  partition                int32, big endian
//	    20      8  epoch                    int64, big endian: the leader key's etcd revision
//	    28      …  one or more whole v2 record batches, offsets assigned
//
// The uploader commits a batch only under the leadership whose Kafka leader
// epoch the batch carries (stamped on append; a resumed leadership keeps
// it), so a broker that lost a partition and leads it again never uploads
// the old tenure's records as the new one's: those are set aside in the
// quarantine (quarantine.go) unless the old tenure committed them.
//
// # Segment objects
//
// One sealed WAL segment becomes one object holding the batches of many
// partitions. Each partition's batches form one contiguous range of whole,
// unmodified Kafka v2 batches in offset order, so a manifest entry is a single
// ranged GET and a fetch response can hand the bytes out as they are. An index
// with one fixed-size entry per partition and a fixed footer follow the ranges:
//
//	+----------------------+ 0
//	| range 0              |  whole v2 batches of one partition, offset order
//	+----------------------+
//	| range 1              |
//	+----------------------+
//	| …                    |
//	+----------------------+ index position
//	| index entry 0        |  68 bytes each, ordered by position;
//	| index entry 1        |  the builder orders partitions by (topic id, partition)
//	| …                    |
//	+----------------------+ index position + index length
//	| footer               |  28 bytes
//	+----------------------+ end of object
//
// Index entry (68 bytes, integers big endian):
//
//	offset  width  field
//	     0     16  topic id                 raw UUID bytes
//	    16      4  partition                int32
//	    20      8  position                 int64: byte offset of the range in the object
//	    28      8  size                     int64: byte length of the range, > 0
//	    36      8  base offset              int64: base offset of the range's first batch
//	    44      8  last offset              int64: last offset of the range's last batch
//	    52      8  max timestamp            int64: max of the batches' max timestamps
//	    60      4  batch count              int32, > 0
//	    64      4  range crc                uint32: CRC-32C (Castagnoli) of the range's bytes
//
// Footer (28 bytes, integers big endian):
//
//	offset  width  field
//	     0      8  index position           uint64
//	     8      4  index length             uint32: a multiple of 68
//	    12      4  index crc                uint32: CRC-32C (Castagnoli) of the index bytes
//	    16      4  format version           uint32, 1
//	    20      8  magic                    "STRATSEG"
//
// The footer carries no checksum of its own: the index must end exactly where
// the footer starts, and version and magic must match, so a damaged position
// or length is caught by that check and a damaged index by its CRC. The range
// CRC is copied into the partition's manifest entry (metadata.ManifestEntry.CRC)
// so that a reader checks a range without reading the index. Ranges lie inside
// [0, index position) and do not overlap; a reader never trusts an index that
// says otherwise.
//
// Every constant above (sizes, field order, version 1, the magic) is frozen:
// objects live for years, and changing any of them needs a new format version.
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
// block,
// so a file that a crash left short or wrong is removed, never served. These
// files are a cache; their format may change with a new version, and files
// of another version are removed at start.
//
// # Upload invariants
//
// Object names are unique and never reused, so a retried or zombie PUT can
// never overwrite live data. A segment is removed from the WAL only after its
// object is stored and every batch in it is committed, was committed before,
// or is written to the quarantine; only a deleted topic's batches are dropped.
// When the object store is down, the uploader retries without end, the WAL
// fills up and producers slow down: backpressure, never loss.
package tiering

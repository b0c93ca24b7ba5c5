// Package wal is the broker's one shared write-ahead log: a single sequential
// stream of segment files for all partitions, appended with group commit and
// sealed into segments that the tiering uploader turns into objects.
//
// Records are opaque byte strings to the WAL. Write copies a record into the
// open segment's in-memory buffer and returns a *Pending at once; one flusher
// goroutine writes everything buffered since its last round with a single
// write and a single fsync, so one fsync covers every record that arrived
// while the previous one ran. Records become durable in Write order.
//
// Write costs one copy under a mutex and no system call; the records of one
// flush share a *Pending, whose Wait returns once they are fsynced. A failed
// write or fsync is never retried: it fails the WAL, every record not yet
// durable and every later Write (ErrFailed). Write never waits: WaitRoom is
// the backpressure, waiting (as long as its context allows) while the
// segments not yet Removed, the open one included, hold more than MaxBytes,
// so a stalled uploader slows producers down instead of filling the disk or
// dropping data. The caller waits for room before it takes the locks that
// order its Writes, so no lock is held across that wait.
//
// # Segments
//
// The log is a directory of segment files named by a sequence number,
// "%020d.wal". Sequence numbers only grow, across restarts too: Open starts at
// the highest number on disk plus one, and sealing always creates the next
// segment before delivering the sealed one, so the highest number in use stays
// on disk even after every sealed segment has been Removed.
//
// The open segment is sealed when it holds SegmentBytes bytes or when its
// oldest record is SealInterval old, whichever comes first, or earlier when
// asked (Seal, which waits until the segment is queued; SealEarly, which
// never waits and only asks once every sealed segment has been received
// from Sealed, so that the uploader is free; Sealable tells when it may),
// and never while it is empty. Sealing writes and fsyncs what is buffered, closes the file,
// creates the next segment crash-safely (temporary name, fsync, rename, fsync
// of the directory) and then delivers the sealed segment on Sealed(). Sealed
// segments are never written again; they stay on disk until Remove. A
// delivery goroutine feeds Sealed from an internal queue, so a slow consumer
// never holds up the flusher. Close seals the open segment (if it holds a
// record) and returns once the consumer of Sealed has received everything and
// the channel is closed.
//
// # File system
//
// Every file operation (create, write, fsync, rename, directory fsync,
// remove, read) goes through Options.FS, a vfs.FS: the operating system's
// in production, a fault injector (internal/vfs/errorfs) in tests. A failed
// write, fsync or creation of the next segment fails the WAL as above; a
// failed Remove returns an error and keeps the segment (nothing is lost); a
// read error during Open fails Open and is never mistaken for a torn tail.
//
// # Format
//
// Every integer is big-endian. The constants that define the format are marked
// FROZEN: changing one makes existing segments unreadable.
//
//	segment file %020d.wal
//	+-----------------+---------+---------+-----+---------+
//	| segment header  | frame 0 | frame 1 | ... | frame n |
//	|    20 bytes     |         |         |     |         |
//	+-----------------+---------+---------+-----+---------+
//
//	segment header (20 bytes)
//	 0           4           6           8                     16          20
//	+-----------+-----------+-----------+---------------------+-----------+
//	|   magic   |  version  | reserved  |   sequence number   |   CRC-32C |
//	|   "STWL"  | uint16 =1 | uint16 =0 |       uint64        |   uint32  |
//	+-----------+-----------+-----------+---------------------+-----------+
//	the CRC covers bytes 0..15; the sequence number must match the file name
//
//	record frame (8 bytes + payload)
//	 0           4           8
//	+-----------+-----------+---------------------------------------------+
//	|  length   |  CRC-32C  |              payload (length bytes)         |
//	|  uint32   |  uint32   |                                             |
//	+-----------+-----------+---------------------------------------------+
//	the CRC covers the 4 length bytes followed by the payload;
//	length <= MaxRecordBytes (128 MiB) so a corrupt length never makes a
//	reader allocate more than that
//
// CRC-32C is the Castagnoli polynomial, as in Kafka's record batches. Zero
// bytes (a zero-filled tail) never pass for a frame: the CRC-32C of four zero
// length bytes is not zero. Nothing pads, aligns or ends a segment: the end of
// a valid segment is the end of its last frame.
//
// # Recovery
//
// Open reads every segment in full. Every segment but the last was fsynced
// before its successor was created, so corruption there is real damage: Open
// fails with a *CorruptionError naming the segment and offset and changes
// nothing. The last segment may end in a torn write: it is cut at the end of
// its last valid frame, the cut bytes are first saved to
// "<segment>.corrupt-<unix nanos>", and Recovery reports the cut. Segments
// holding no record are deleted rather than returned. What Open returns never
// contains a record whose CRC did not verify.
package wal

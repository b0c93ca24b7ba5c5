package tiering

import (
	"encoding/binary"
	"fmt"

	"github.com/strata-io/strata/metadata"
)

// EntryHeaderSize is the size of the header the broker puts before each batch
// in a WAL record: topic id (16 bytes), partition (int32 big endian) and the
// fencing epoch (the leadership key's etcd creation revision, int64 big
// endian) under which the batch was appended. Frozen: WAL segments written by one version
// are read by the next.
const EntryHeaderSize = 28

// AppendEntryHeader appends the WAL entry header for key and epoch to dst.
func AppendEntryHeader(dst []byte, key metadata.PartitionKey, epoch int64) []byte {
	dst = append(dst, key.Topic[:]...)
	dst = binary.BigEndian.AppendUint32(dst, uint32(key.Partition))
	return binary.BigEndian.AppendUint64(dst, uint64(epoch))
}

// Entry is a decoded WAL record.
type Entry struct {
	Key   metadata.PartitionKey
	Epoch int64  // the leadership the batches were appended under
	Data  []byte // the batch bytes; they alias the record
}

// DecodeEntry splits a WAL record into its header and its batch bytes. It
// fails with ErrShortEntry if rec is shorter than the header; it does not
// look at the batch bytes.
func DecodeEntry(rec []byte) (Entry, error) {
	var e Entry
	if len(rec) < EntryHeaderSize {
		return e, fmt.Errorf("%w: %d bytes", ErrShortEntry, len(rec))
	}
	copy(e.Key.Topic[:], rec[:16])
	e.Key.Partition = int32(binary.BigEndian.Uint32(rec[16:]))
	e.Epoch = int64(binary.BigEndian.Uint64(rec[20:]))
	e.Data = rec[EntryHeaderSize:]
	return e, nil
}

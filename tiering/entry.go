package tiering

import (
	"encoding/binary"
	"fmt"

	"github.com/strata-io/strata/metadata"
)

// EntryHeaderSize is the size of the header the broker puts before each batch
// in a WAL record: topic id (16 bytes) and partition (int32 big endian).
// Frozen: WAL segments written by one version are read by the next.
const EntryHeaderSize = 20

// AppendEntryHeader appends the WAL entry header for key to dst.
func AppendEntryHeader(dst []byte, key metadata.PartitionKey) []byte {
	dst = append(dst, key.Topic[:]...)
	return binary.BigEndian.AppendUint32(dst, uint32(key.Partition))
}

// DecodeEntry splits a WAL record into its partition and its batch bytes. The
// batch bytes alias rec. It fails with ErrShortEntry if rec is shorter than
// the header; it does not look at the batch bytes.
func DecodeEntry(rec []byte) (metadata.PartitionKey, []byte, error) {
	var key metadata.PartitionKey
	if len(rec) < EntryHeaderSize {
		return key, nil, fmt.Errorf("%w: %d bytes", ErrShortEntry, len(rec))
	}
	copy(key.Topic[:], rec[:16])
	key.Partition = int32(binary.BigEndian.Uint32(rec[16:]))
	return key, rec[EntryHeaderSize:], nil
}

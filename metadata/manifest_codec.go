package metadata

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// manifestBinary tags the compact encoding of a manifest entry: its first
// byte. A JSON entry (as every entry was written before) starts with '{'.
const manifestBinary = 0x01

// writeCompactManifest says whether the Store writes manifest entries in
// the compact form (about 105 bytes less per partition of a seal's
// commit) or as JSON. This release reads both and writes JSON: a broker of
// the release before cannot read the compact form, and brokers of both
// releases lead partitions side by side during a rolling upgrade. The next
// release turns it on, so that every broker it meets reads what it writes.
const writeCompactManifest = false

// manifestValue is the value of a manifest key holding e.
func manifestValue(e ManifestEntry) ([]byte, error) {
	if writeCompactManifest {
		return encodeManifestEntry(e), nil
	}
	return json.Marshal(e)
}

// encodeManifestEntry is the value of e's manifest key: the tag, then the
// object name (length, bytes) and every field as a varint, the last
// offset as its distance from the base, then the aborted transactions
// (count, then each one's four offsets). About a third of the JSON form:
// every partition of a seal writes one, so this is most of a commit's
// bytes after the keys.
func encodeManifestEntry(e ManifestEntry) []byte {
	b := make([]byte, 0, 1+binary.MaxVarintLen64*(10+4*len(e.Aborted))+len(e.Object))
	b = append(b, manifestBinary)
	b = binary.AppendUvarint(b, uint64(len(e.Object)))
	b = append(b, e.Object...)
	for _, v := range []int64{e.Position, e.Size, e.BaseOffset, e.LastOffset - e.BaseOffset, e.MaxTimestamp,
		int64(e.Batches), int64(e.CRC), e.IndexSize, e.Committed, int64(len(e.Aborted))} {
		b = binary.AppendVarint(b, v)
	}
	for _, a := range e.Aborted {
		b = binary.AppendVarint(b, a.ProducerID)
		b = binary.AppendVarint(b, a.FirstOffset)
		b = binary.AppendVarint(b, a.LastOffset)
		b = binary.AppendVarint(b, a.Stable)
	}
	return b
}

var errManifestCodec = errors.New("malformed compact manifest entry")

// decodeManifestEntry decodes either form of a manifest entry's value: the
// compact one (encodeManifestEntry) or JSON, which entries committed
// before it stay in until compaction rewrites them.
func decodeManifestEntry(v []byte) (ManifestEntry, error) {
	var e ManifestEntry
	if len(v) == 0 || v[0] != manifestBinary {
		err := json.Unmarshal(v, &e)
		return e, err
	}
	r := varintReader{b: v[1:]}
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		return e, errManifestCodec
	}
	e.Object, r.b = string(r.b[:n]), r.b[n:]
	e.Position, e.Size, e.BaseOffset = r.varint(), r.varint(), r.varint()
	e.LastOffset = e.BaseOffset + r.varint()
	e.MaxTimestamp = r.varint()
	e.Batches, e.CRC = int32(r.varint()), uint32(r.varint())
	e.IndexSize, e.Committed = r.varint(), r.varint()
	aborted := r.varint()
	if r.err != nil || aborted < 0 || aborted > int64(len(r.b)/4) { // at least four bytes each
		return ManifestEntry{}, errManifestCodec
	}
	if aborted > 0 {
		e.Aborted = make([]AbortedTxn, aborted)
	}
	for i := range e.Aborted {
		e.Aborted[i] = AbortedTxn{ProducerID: r.varint(), FirstOffset: r.varint(), LastOffset: r.varint(), Stable: r.varint()}
	}
	if r.err != nil || len(r.b) != 0 {
		return ManifestEntry{}, errManifestCodec
	}
	return e, nil
}

// decodeManifestKV decodes a manifest key's value, naming the key in the error.
func decodeManifestKV(kv *mvccpb.KeyValue) (ManifestEntry, error) {
	e, err := decodeManifestEntry(kv.Value)
	if err != nil {
		return e, fmt.Errorf("metadata: manifest entry at %s: %w", kv.Key, err)
	}
	return e, nil
}

// varintReader reads varints off b until one fails (err, then zeros).
type varintReader struct {
	b   []byte
	err error
}

func (r *varintReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errManifestCodec
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *varintReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errManifestCodec
		return 0
	}
	r.b = r.b[n:]
	return v
}

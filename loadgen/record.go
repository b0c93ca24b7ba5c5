package loadgen

import (
	"encoding/binary"
	"math/rand/v2"
	"time"
)

// Every record value that loadgen produces starts with a header of 30
// bytes, big-endian; the rest of the value is payload:
//
//	0      2          10         14         22         30
//	+------+----------+----------+----------+----------+---------…
//	| 'S'  |  run id  | producer |   seq    | sent at  | payload
//	| 'L'  |  uint64  |  uint32  |  uint64  |  int64   |
//	+------+----------+----------+----------+----------+---------…
//
// The run id tells one run's records from any others in the same topic;
// producer and seq number each record (seq counts up from 0 per producer
// over all its topics and partitions); sent at is the Unix time in
// nanoseconds at which the record was due to be sent, from which consumers
// compute end-to-end latency. The layout is part of the result format:
// frozen.
const (
	headerSize  = 30
	headerMagic = "SL"
)

// RecordID names one record of a run: its producer and its number.
type RecordID struct {
	Producer uint32
	Seq      uint64
}

// header is a decoded value header.
type header struct {
	run    uint64
	id     RecordID
	sentAt int64 // Unix ns
}

// putHeader writes h at the start of v, which has at least headerSize bytes.
func putHeader(v []byte, h header) {
	v[0], v[1] = headerMagic[0], headerMagic[1]
	binary.BigEndian.PutUint64(v[2:], h.run)
	binary.BigEndian.PutUint32(v[10:], h.id.Producer)
	binary.BigEndian.PutUint64(v[14:], h.id.Seq)
	binary.BigEndian.PutUint64(v[22:], uint64(h.sentAt))
}

// parseHeader decodes the header of v; ok is false if v has none.
func parseHeader(v []byte) (h header, ok bool) {
	if len(v) < headerSize || v[0] != headerMagic[0] || v[1] != headerMagic[1] {
		return header{}, false
	}
	h.run = binary.BigEndian.Uint64(v[2:])
	h.id.Producer = binary.BigEndian.Uint32(v[10:])
	h.id.Seq = binary.BigEndian.Uint64(v[14:])
	h.sentAt = int64(binary.BigEndian.Uint64(v[22:]))
	return h, true
}

// sentTime is the header's send time.
func (h header) sentTime() time.Time { return time.Unix(0, h.sentAt) }

// payloadSource holds bytes that values copy their payload from: a window
// at a varying start, so that consecutive values differ (a codec cannot
// deduplicate them) while no value costs a random number per byte.
type payloadSource struct {
	buf []byte
}

// payloadWindow is how far apart payload windows start, at most.
const payloadWindow = 1 << 20

func newPayloadSource(kind string, maxSize int, seed uint64) *payloadSource {
	rng := rand.New(rand.NewPCG(seed, seed^0x5eed))
	buf := make([]byte, payloadWindow+maxSize)
	for i := range buf {
		if kind == "text" {
			buf[i] = 'a' + byte(rng.IntN(26))
		} else {
			buf[i] = byte(rng.Uint32())
		}
	}
	return &payloadSource{buf: buf}
}

// fill copies payload into v (past the header) from a window chosen by n.
func (p *payloadSource) fill(v []byte, n uint64) {
	off := int((n * 4099) % payloadWindow)
	copy(v[headerSize:], p.buf[off:])
}

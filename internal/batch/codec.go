package batch

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Decompression: every codec is read as a stream through a counter that
// fails with ErrTooLarge past the limit, so what a batch inflates to is never
// held whole and never grows from a size the batch claims. Three cases hold
// more than a stream's window, each bounded by the limit:
//   - a raw snappy block (what franz-go and librdkafka write) has no framing
//     to stream, so it is decoded whole; its claimed length is checked
//     against the limit and against snappy's largest ratio (a copy element
//     of 3 bytes yields at most 64) before anything is allocated;
//   - a xerial chunk (Java's snappy framing, 32 KiB in practice) is decoded
//     whole, under the same two checks;
//   - a zstd frame that needs a window over zstdStreamWindow is decoded
//     whole (the streaming decoder would allocate the claimed window up
//     front), into a buffer that grows with the output or, when the frame
//     declares its content size, is sized by it once that size is checked
//     against the limit.

const (
	// zstdStreamWindow is the largest zstd window decoded as a stream: what
	// RFC 8878 asks every decoder to support and encoders not to exceed, and
	// the window of zstd's level 19. The frames of Kafka clients at their
	// default levels need at most 2 MiB.
	zstdStreamWindow = 8 << 20
	// snappyMaxRatio bounds what a snappy block can decode to per byte.
	snappyMaxRatio = 22
	// streamBuffer is the read buffer over a decompressor.
	streamBuffer = 32 << 10
	// readChunk is how much a buffer for one key or record grows by at a
	// time, so that it grows with the bytes that arrive, not with a claim.
	readChunk = 64 << 10
)

// codecNames names the codecs in errors.
var codecNames = [...]string{"none", "gzip", "snappy", "lz4", "zstd"}

func codecName(codec int8) string {
	if codec >= 0 && int(codec) < len(codecNames) {
		return codecNames[codec]
	}
	return fmt.Sprintf("codec %d", codec)
}

// stream is a batch's records section, decompressed: all of it in mem, or
// read through br. release returns the decoder to its pool.
type stream struct {
	name    string
	mem     []byte
	br      *bufio.Reader
	release func()
}

func (s *stream) close() {
	if s.release != nil {
		s.release()
		s.release = nil
	}
	s.br, s.mem = nil, nil
}

// openRecords opens the records section src of a batch compressed with
// codec, allowing at most limit decompressed bytes.
func openRecords(codec int8, src []byte, limit int) (stream, error) {
	name := codecName(codec)
	switch codec {
	case 0:
		return stream{name: name, mem: src}, nil
	case 1:
		d := gzipPool.Get().(*gzipDecoder)
		d.src.Reset(src)
		if err := d.zr.Reset(&d.src); err != nil { // reads the header; members follow one another, as Java's GZIPInputStream reads them
			d.src.Reset(nil)
			gzipPool.Put(d)
			return stream{}, codecError(name, err)
		}
		return newStream(name, &d.zr, limit, func() { d.src.Reset(nil); gzipPool.Put(d) }), nil
	case 2:
		if len(src) > 16 && bytes.HasPrefix(src, xerialMagic) {
			d := xerialPool.Get().(*xerialReader)
			d.src, d.left, d.out = src[16:], limit, nil
			return newStream(name, d, limit, func() { d.src, d.out = nil, nil; xerialPool.Put(d) }), nil
		}
		mem, err := decodeSnappyBlock(nil, src, limit)
		if err != nil {
			return stream{}, err
		}
		return stream{name: name, mem: mem}, nil
	case 3:
		d := lz4Pool.Get().(*lz4Decoder)
		d.src.Reset(src)
		d.zr.Reset(&d.src)
		return newStream(name, d.zr, limit, func() { d.zr.Reset(nil); d.src.Reset(nil); lz4Pool.Put(d) }), nil
	case 4:
		return openZstd(src, limit)
	}
	return stream{}, fmt.Errorf("%w: unknown compression codec %d", ErrCorrupt, codec)
}

// bufStream is the pooled reading end of a streaming decompressor.
type bufStream struct {
	lim capReader
	br  *bufio.Reader
}

var bufPool = sync.Pool{New: func() any { return &bufStream{br: bufio.NewReaderSize(nil, streamBuffer)} }}

func newStream(name string, r io.Reader, limit int, release func()) stream {
	bs := bufPool.Get().(*bufStream)
	bs.lim = capReader{r: r, left: int64(limit), limit: limit}
	bs.br.Reset(&bs.lim)
	return stream{name: name, br: bs.br, release: func() {
		bs.br.Reset(nil)
		bs.lim = capReader{}
		bufPool.Put(bs)
		release()
	}}
}

// capReader passes on at most limit bytes of r and fails with ErrTooLarge if
// r has more.
type capReader struct {
	r     io.Reader
	left  int64
	limit int
}

func (c *capReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.left <= 0 {
		// At the limit: the stream must end here.
		var one [1]byte
		for range 100 {
			n, err := c.r.Read(one[:])
			if n > 0 {
				return 0, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, c.limit)
			}
			if err != nil {
				return 0, err
			}
		}
		return 0, io.ErrNoProgress
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// streamError turns what a decompressor or the end of its stream returned
// into ErrCorrupt or ErrTooLarge.
func streamError(name string, err error) error {
	switch {
	case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: the records end early", ErrCorrupt)
	case errors.Is(err, ErrTooLarge), errors.Is(err, ErrCorrupt):
		return err
	}
	return codecError(name, err)
}

func codecError(name string, err error) error {
	if errors.Is(err, zstd.ErrWindowSizeExceeded) || errors.Is(err, zstd.ErrDecoderSizeExceeded) {
		return fmt.Errorf("%w: %s: %v", ErrTooLarge, name, err)
	}
	return fmt.Errorf("%w: %s: %v", ErrCorrupt, name, err)
}

// gzip (RFC 1952 members, one after the other, as Java's GZIPInputStream reads).

type gzipDecoder struct {
	src bytes.Reader // an io.ByteReader: flate reads it without a bufio of its own
	zr  gzip.Reader
}

var gzipPool = sync.Pool{New: func() any { return new(gzipDecoder) }}

// lz4 (frames, as Kafka writes them for message format v2).

type lz4Decoder struct {
	src bytes.Reader
	zr  *lz4.Reader
}

var lz4Pool = sync.Pool{New: func() any { return &lz4Decoder{zr: lz4.NewReader(nil)} }}

// snappy: a raw block, or Java's xerial framing (a 16-byte header, then
// chunks of a 4-byte big-endian length and a raw block).

var xerialMagic = []byte{130, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

type xerialReader struct {
	src  []byte // chunks not yet decoded
	left int    // decoded bytes the limit still allows
	buf  []byte // the current chunk, decoded
	out  []byte // what of buf is not yet read
}

var xerialPool = sync.Pool{New: func() any { return new(xerialReader) }}

func (x *xerialReader) Read(p []byte) (int, error) {
	for len(x.out) == 0 {
		if len(x.src) == 0 {
			return 0, io.EOF
		}
		if len(x.src) < 4 {
			return 0, fmt.Errorf("%w: snappy: xerial chunk length cut short", ErrCorrupt)
		}
		size := binary.BigEndian.Uint32(x.src)
		x.src = x.src[4:]
		if uint64(size) > uint64(len(x.src)) {
			return 0, fmt.Errorf("%w: snappy: xerial chunk of %d bytes, %d left", ErrCorrupt, size, len(x.src))
		}
		b, err := decodeSnappyBlock(x.buf, x.src[:size], x.left)
		if err != nil {
			return 0, err
		}
		x.src = x.src[size:]
		x.buf, x.out = b, b
		x.left -= len(b)
	}
	n := copy(p, x.out)
	x.out = x.out[n:]
	return n, nil
}

// decodeSnappyBlock decodes one raw snappy block into dst's storage,
// checking the length it claims before allocating.
func decodeSnappyBlock(dst, src []byte, limit int) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return nil, codecError("snappy", err)
	}
	if n > limit {
		return nil, fmt.Errorf("%w: snappy block of %d bytes, more than the %d allowed", ErrTooLarge, n, limit)
	}
	if n > snappyMaxRatio*len(src) {
		return nil, fmt.Errorf("%w: snappy block of %d bytes claims %d", ErrCorrupt, len(src), n)
	}
	out, err := s2.Decode(slices.Grow(dst[:0], n)[:n], src)
	if err != nil {
		return nil, codecError("snappy", err)
	}
	return out, nil
}

// zstd: frames with a window up to zstdStreamWindow stream; larger ones are
// decoded whole (see above).

var zstdPool = sync.Pool{New: func() any {
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1), // synchronous: no goroutines
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(zstdStreamWindow),
		zstd.WithDecoderMaxMemory(zstdStreamWindow),
	)
	if err != nil {
		panic(err) // the options are constants
	}
	return &zstdDecoder{zr: d}
}}

type zstdDecoder struct {
	src bytes.Reader // not a *bytes.Buffer: the decoder would decode that whole
	zr  *zstd.Decoder
}

func openZstd(src []byte, limit int) (stream, error) {
	d := zstdPool.Get().(*zstdDecoder)
	d.src.Reset(src)
	if err := d.zr.Reset(&d.src); err != nil {
		d.src.Reset(nil)
		zstdPool.Put(d)
		return stream{}, codecError("zstd", err)
	}
	s := newStream("zstd", d.zr, limit, func() { _ = d.zr.Reset(nil); d.src.Reset(nil); zstdPool.Put(d) })
	// The first read parses the first frame's header.
	_, err := s.br.Peek(1)
	switch {
	case err == nil:
		return s, nil
	case errors.Is(err, zstd.ErrWindowSizeExceeded), errors.Is(err, zstd.ErrDecoderSizeExceeded):
		s.close()
		return decodeZstdWhole(src, limit)
	case err == io.EOF:
		s.close()
		return stream{name: "zstd"}, nil // no records
	}
	s.close()
	return stream{}, streamError("zstd", err)
}

// decodeZstdWhole decodes src into a buffer that grows with the output, up
// to limit bytes.
func decodeZstdWhole(src []byte, limit int) (stream, error) {
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(uint64(max(limit, zstd.MinWindowSize))),
		zstd.WithDecoderMaxMemory(uint64(max(limit, 1))),
	)
	if err != nil {
		return stream{}, codecError("zstd", err)
	}
	defer d.Close()
	out, err := d.DecodeAll(src, nil)
	if err != nil {
		return stream{}, codecError("zstd", err)
	}
	if len(out) > limit {
		return stream{}, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, limit)
	}
	return stream{name: "zstd", mem: out}, nil
}

// Compression of the batches Filter rewrites: each codec as a stream into
// the output, so that what is kept is never held uncompressed. Snappy is
// written with Java's xerial framing (the only snappy that streams), which
// every Kafka client reads.

// compressor is a pooled streaming compressor of one codec.
type compressor interface {
	io.WriteCloser
	Reset(w io.Writer)
}

// compressorKey names a pool: a codec and its (normalised) level.
type compressorKey struct {
	codec int8
	level int
}

// compressorPools holds a pool per codec and level used; levels are
// normalised first (zstd's to its encoder's four speeds), so they are few.
var compressorPools sync.Map // compressorKey → *sync.Pool

// DefaultLevel is the level argument that asks for a codec's default level.
const DefaultLevel = math.MinInt32

// normaliseLevel maps a Kafka compression level to the level the encoder
// has: gzip's 1 to 9 (-1 and DefaultLevel: its default), zstd's speeds,
// for lz4 0 (its fast mode) at Kafka's default 9, as Kafka's
// Lz4BlockOutputStream does, else high compression at depth 1 to 9
// (Kafka's 1 to 8 as they are, 10 to 17 as 9), none for snappy.
func normaliseLevel(codec int8, level int) int {
	switch codec {
	case CodecGzip:
		if level == DefaultLevel || level < gzip.BestSpeed || level > gzip.BestCompression {
			return gzip.DefaultCompression
		}
		return level
	case CodecZstd:
		if level == DefaultLevel {
			return int(zstd.SpeedDefault)
		}
		return int(zstd.EncoderLevelFromZstd(level))
	case CodecLZ4:
		if level == DefaultLevel || level == 9 {
			return 0
		}
		return min(max(level, 1), 9)
	}
	return 0
}

func newPooledCompressor(k compressorKey) compressor {
	switch k.codec {
	case CodecGzip:
		w, err := gzip.NewWriterLevel(nil, k.level)
		if err != nil {
			panic(err) // the level is normalised
		}
		return w
	case CodecSnappy:
		return new(xerialWriter)
	case CodecLZ4:
		w := lz4.NewWriter(nil)
		opts := []lz4.Option{lz4.BlockSizeOption(lz4.Block64Kb)} // Kafka's Java client's block size
		if k.level > 0 {
			opts = append(opts, lz4.CompressionLevelOption(lz4.CompressionLevel(1<<(8+k.level)))) // Level1 to Level9
		}
		if err := w.Apply(opts...); err != nil {
			panic(err)
		}
		return w
	}
	w, err := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(1<<20),
		zstd.WithEncoderLevel(zstd.EncoderLevel(k.level)))
	if err != nil {
		panic(err) // the options are constants and a normalised level
	}
	return w
}

// newCompressor returns a streaming compressor for codec at its default
// level writing to w, and a function that returns it to its pool after
// Close.
func newCompressor(codec int8, w io.Writer) (compressor, func(), error) {
	return newCompressorLevel(codec, DefaultLevel, w)
}

// newCompressorLevel is newCompressor at a Kafka compression level
// (DefaultLevel: the codec's default).
func newCompressorLevel(codec int8, level int, w io.Writer) (compressor, func(), error) {
	if codec < CodecGzip || codec > CodecZstd {
		return nil, nil, fmt.Errorf("%w: unknown compression codec %d", ErrCorrupt, codec)
	}
	k := compressorKey{codec, normaliseLevel(codec, level)}
	p, ok := compressorPools.Load(k)
	if !ok {
		p, _ = compressorPools.LoadOrStore(k, &sync.Pool{New: func() any { return newPooledCompressor(k) }})
	}
	pool := p.(*sync.Pool)
	c := pool.Get().(compressor)
	c.Reset(w)
	return c, func() { c.Reset(nil); pool.Put(c) }, nil
}

// xerialHeader starts a xerial stream: the magic, version 1, compatible
// with version 1.
var xerialHeader = append(append([]byte{}, xerialMagic...), 0, 0, 0, 1, 0, 0, 0, 1)

// xerialBlock is the block size Java's xerial stream writes.
const xerialBlock = 32 << 10

// xerialWriter compresses into xerial framing, one block per 32 KiB.
type xerialWriter struct {
	dst     io.Writer
	pending []byte
	enc     []byte
	started bool
}

func (x *xerialWriter) Reset(w io.Writer) { x.dst, x.pending, x.started = w, x.pending[:0], false }

func (x *xerialWriter) Write(p []byte) (int, error) {
	n := len(p)
	if !x.started {
		if _, err := x.dst.Write(xerialHeader); err != nil {
			return 0, err
		}
		x.started = true
	}
	for len(p) > 0 {
		k := min(len(p), xerialBlock-len(x.pending))
		x.pending = append(x.pending, p[:k]...)
		p = p[k:]
		if len(x.pending) == xerialBlock {
			if err := x.flush(); err != nil {
				return 0, err
			}
		}
	}
	return n, nil
}

func (x *xerialWriter) flush() error {
	if len(x.pending) == 0 {
		return nil
	}
	x.enc = slices.Grow(x.enc[:0], 4+s2.MaxEncodedLen(len(x.pending)))
	block := s2.EncodeSnappy(x.enc[4:cap(x.enc)], x.pending) // in place: it has the room
	x.enc = binary.BigEndian.AppendUint32(x.enc, uint32(len(block)))[:4+len(block)]
	x.pending = x.pending[:0]
	_, err := x.dst.Write(x.enc)
	return err
}

func (x *xerialWriter) Close() error {
	if !x.started {
		if _, err := x.dst.Write(xerialHeader); err != nil {
			return err
		}
		x.started = true
	}
	return x.flush()
}

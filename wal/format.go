package wal

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"path/filepath"
	"strconv"
	"strings"
)

// Format constants. FROZEN: every segment ever written depends on them.
const (
	segmentMagic    = "STWL" // FROZEN
	formatVersion   = 1      // FROZEN: bump only with a reader for the old version
	headerSize      = 20     // FROZEN: magic 4, version 2, reserved 2, seq 8, CRC 4
	frameHeaderSize = 8      // FROZEN: length 4, CRC 4

	// MaxRecordBytes is the largest record payload. FROZEN: readers reject a
	// larger length as corruption, so a flipped length bit never makes them
	// allocate more than this.
	MaxRecordBytes = 128 << 20
)

// castagnoli is the CRC-32C table. FROZEN.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

const (
	segmentSuffix = ".wal"
	tmpSuffix     = ".tmp"
	corruptInfix  = ".corrupt-"
	seqDigits     = 20
)

// segmentName is the file name of segment seq.
func segmentName(seq uint64) string { return fmt.Sprintf("%020d%s", seq, segmentSuffix) }

func segmentPath(dir string, seq uint64) string { return filepath.Join(dir, segmentName(seq)) }

// parseSegmentName returns the sequence number of a segment file name, or false
// for any other name (temporary files, saved corrupt tails, foreign files).
func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segmentSuffix)
	if !ok || len(digits) != seqDigits {
		return 0, false
	}
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	seq, err := strconv.ParseUint(digits, 10, 64)
	return seq, err == nil
}

// appendHeader appends the segment header of seq to b.
func appendHeader(b []byte, seq uint64) []byte {
	start := len(b)
	b = append(b, segmentMagic...)
	b = binary.BigEndian.AppendUint16(b, formatVersion)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint64(b, seq)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// checkHeader validates a segment header against the expected sequence number.
func checkHeader(h []byte, seq uint64) error {
	if string(h[0:4]) != segmentMagic {
		return fmt.Errorf("%w: magic %q", ErrBadHeader, h[0:4])
	}
	if got, want := binary.BigEndian.Uint32(h[16:20]), crc32.Checksum(h[:16], castagnoli); got != want {
		return fmt.Errorf("%w: header checksum %#08x, computed %#08x", ErrBadHeader, got, want)
	}
	if v := binary.BigEndian.Uint16(h[4:6]); v != formatVersion {
		return fmt.Errorf("%w: format version %d, want %d", ErrBadHeader, v, formatVersion)
	}
	if r := binary.BigEndian.Uint16(h[6:8]); r != 0 {
		return fmt.Errorf("%w: reserved field %#04x", ErrBadHeader, r)
	}
	if got := binary.BigEndian.Uint64(h[8:16]); got != seq {
		return fmt.Errorf("%w: sequence number %d in segment %d", ErrBadHeader, got, seq)
	}
	return nil
}

// frameHeader returns the 8-byte frame header of a record made of parts, whose
// lengths add up to n.
func frameHeader(n int, parts [][]byte) [frameHeaderSize]byte {
	var h [frameHeaderSize]byte
	binary.BigEndian.PutUint32(h[0:4], uint32(n))
	crc := lengthCRC(uint32(n))
	for _, p := range parts {
		crc = crc32.Update(crc, castagnoli, p)
	}
	binary.BigEndian.PutUint32(h[4:8], crc)
	return h
}

// lengthCRC is the CRC-32C of the 4 big-endian bytes of n, the start of every
// frame's checksum. It is computed here, byte by byte, because handing a stack
// array to crc32.Update makes it escape: one allocation per record.
func lengthCRC(n uint32) uint32 {
	crc := ^uint32(0)
	for shift := 24; shift >= 0; shift -= 8 {
		crc = castagnoli[byte(crc)^byte(n>>shift)] ^ crc>>8
	}
	return ^crc
}

// appendFrame appends one framed record to b.
func appendFrame(b []byte, payload []byte) []byte {
	h := frameHeader(len(payload), [][]byte{payload})
	return append(append(b, h[:]...), payload...)
}

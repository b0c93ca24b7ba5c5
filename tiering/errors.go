package tiering

import "errors"

var (
	// ErrCorruptObject: a segment object or range failed its checks.
	ErrCorruptObject = errors.New("tiering: corrupt segment object")
	// ErrShortEntry: a WAL record is shorter than its entry header.
	ErrShortEntry = errors.New("tiering: WAL entry shorter than its header")
	// ErrInvalidBatch: ObjectBuilder.Add was given something other than one or
	// more whole v2 batches in offset order.
	ErrInvalidBatch = errors.New("tiering: invalid batch")
	// ErrSetAside: a partition's batches were quarantined instead of
	// committed (see quarantine.go).
	ErrSetAside = errors.New("tiering: batches set aside in the quarantine")
	// ErrOutOfRange: a log start offset above the partition's high watermark.
	ErrOutOfRange = errors.New("tiering: offset out of range")
)

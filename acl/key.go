package acl

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
)

// keyVersion is the first byte of the encoding Key hashes. Frozen: changing
// the encoding changes every key, and the store would hold each binding
// twice.
const keyVersion = 1

// Key returns a stable, unique name for b made of 64 lowercase hex digits,
// safe as one segment of a path or an etcd key. Equal bindings have equal
// keys, so storing a binding under its key makes creating it twice
// idempotent.
//
// Key is the hex SHA-256 of this encoding (frozen):
//
//	+---------+------+---------+------+------+------+-----------+------+
//	| version | type | pattern | op   | perm | name | principal | host |
//	| 1 byte  | int8 | int8    | int8 | int8 | str  | str       | str  |
//	+---------+------+---------+------+------+------+-----------+------+
//
// where version is 1 and each str is its length as an unsigned varint
// followed by its bytes, so no two bindings share an encoding.
func (b Binding) Key() string {
	buf := make([]byte, 0, 5+3*binary.MaxVarintLen64+len(b.ResourceName)+len(b.Principal)+len(b.Host))
	buf = append(buf, keyVersion,
		byte(b.ResourceType), byte(b.PatternType), byte(b.Operation), byte(b.Permission))
	for _, s := range [...]string{b.ResourceName, b.Principal, b.Host} {
		buf = binary.AppendUvarint(buf, uint64(len(s)))
		buf = append(buf, s...)
	}
	sum := sha256.Sum256(buf)
	return hex.EncodeToString(sum[:])
}

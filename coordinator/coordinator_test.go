package coordinator

import "testing"

// TestShardOf: groups hash onto shards as Kafka hashes them onto offsets
// partitions (Java's String.hashCode, Utils.abs, modulo), so that a group
// id lands on the same shard number as in Kafka.
func TestShardOf(t *testing.T) {
	for _, tc := range []struct {
		group string
		hash  int32 // Java's "group".hashCode()
		shard int32 // of 50
	}{
		{"", 0, 0},
		{"a", 97, 47},
		{"hello", 99162322, 22},
		{"Aa", 2112, 12},
		{"BB", 2112, 12},
		{"polygenelubricants", -1 << 31, 0}, // Utils.abs(MIN_VALUE) is 0
		{"\U0001F600", 1772899, 49},         // a surrogate pair in UTF-16
	} {
		if got := javaHash(tc.group); got != tc.hash {
			t.Errorf("javaHash(%q) = %d, want %d", tc.group, got, tc.hash)
		}
		if got := shardOf(tc.group, 50); got != tc.shard {
			t.Errorf("shardOf(%q, 50) = %d, want %d", tc.group, got, tc.shard)
		}
	}
}

package coordinator

import (
	"context"
	"sort"

	"github.com/strata-io/strata/metadata"
)

// shardBase is what a group shard (Shard) and a transaction shard
// (txnShard) share: the partition, the epoch it is led under and its load.
type shardBase struct {
	key   metadata.PartitionKey
	epoch int64

	ctx    context.Context // ends when the shard is dropped
	cancel context.CancelFunc
	loaded chan struct{} // closed when the load ended; then loadOK is set
	loadOK bool
}

// newShardBase returns the base of a shard of key under epoch, not loaded
// yet, whose context ends with parent or when the shard is dropped.
func newShardBase(parent context.Context, key metadata.PartitionKey, epoch int64) shardBase {
	ctx, cancel := context.WithCancel(parent)
	return shardBase{key: key, epoch: epoch, ctx: ctx, cancel: cancel, loaded: make(chan struct{})}
}

func (b *shardBase) base() *shardBase { return b }

// loadState reports whether the shard's load ended, and if it succeeded.
func (b *shardBase) loadState() (loaded, ok bool) {
	select {
	case <-b.loaded:
		return true, b.loadOK
	default:
		return false, false
	}
}

// shard is a group or a transaction shard.
type shard interface {
	comparable
	base() *shardBase
	load()  // loads the shard and then closes its loaded channel
	close() // stops the shard's work; called with its side's lock held
}

// shardMap is one side's shards by partition; the side's lock guards it.
type shardMap[S shard] map[int32]S

// current returns the shard of partition n under epoch unless there is
// none or its load failed (it is to be loaded again).
func (m shardMap[S]) current(n int32, epoch int64) (S, bool) {
	s, ok := m[n]
	if ok && s.base().epoch == epoch {
		if loaded, ok := s.base().loadState(); !loaded || ok {
			return s, true
		}
	}
	var none S
	return none, false
}

// start makes s its partition's shard, dropping the one it replaces, and
// starts its load on l.
func (m shardMap[S]) start(s S, l *loads) {
	n := s.base().key.Partition
	m.drop(n)
	m[n] = s
	if !l.Go(s.load) {
		close(s.base().loaded) // never loads: the broker is stopping
	}
}

// drop closes and forgets the shard of partition n, if any.
func (m shardMap[S]) drop(n int32) {
	if s, ok := m[n]; ok {
		delete(m, n)
		s.close()
	}
}

// dropShard drops s if it is still the current shard of its partition.
func (m shardMap[S]) dropShard(s S) {
	if n := s.base().key.Partition; m[n] == s {
		m.drop(n)
	}
}

// loaded returns every loaded shard, by partition, and whether some are
// still loading.
func (m shardMap[S]) loaded() (shards []S, loading bool) {
	for _, s := range m {
		switch done, ok := s.base().loadState(); {
		case !done:
			loading = true
		case ok:
			shards = append(shards, s)
		}
	}
	sort.Slice(shards, func(i, j int) bool { return shards[i].base().key.Partition < shards[j].base().key.Partition })
	return shards, loading
}

package coordinator

import (
	"context"
	"sort"
	"sync"

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
	close() // stops the shard's work; called with its shardSet's lock held
}

// shardSet is one side's shards (groups or transactions) by partition,
// and their loads.
type shardSet[S shard] struct {
	loads loads

	mu     sync.Mutex
	shards map[int32]S
}

func newShardSet[S shard]() *shardSet[S] {
	return &shardSet[S]{shards: map[int32]S{}}
}

// ensure returns the shard of partition n under epoch. When there is none,
// or its load failed, it drops the one there was, makes a new one with
// newShard and starts its load.
func (set *shardSet[S]) ensure(n int32, epoch int64, newShard func() S) S {
	set.mu.Lock()
	defer set.mu.Unlock()
	if s, ok := set.shards[n]; ok && s.base().epoch == epoch {
		if loaded, ok := s.base().loadState(); !loaded || ok {
			return s
		}
	}
	set.dropLocked(n)
	s := newShard()
	set.shards[n] = s
	if !set.loads.Go(s.load) {
		close(s.base().loaded) // never loads: the broker is stopping
	}
	return s
}

// drop drops the shard of partition n, if any.
func (set *shardSet[S]) drop(n int32) {
	set.mu.Lock()
	defer set.mu.Unlock()
	set.dropLocked(n)
}

// dropShard drops s if it is still the current shard of its partition.
func (set *shardSet[S]) dropShard(s S) {
	set.mu.Lock()
	defer set.mu.Unlock()
	if n := s.base().key.Partition; set.shards[n] == s {
		set.dropLocked(n)
	}
}

// dropAll drops every shard.
func (set *shardSet[S]) dropAll() {
	set.mu.Lock()
	defer set.mu.Unlock()
	for n := range set.shards {
		set.dropLocked(n)
	}
}

// dropLocked closes and forgets the shard of partition n, if any. set.mu
// is held.
func (set *shardSet[S]) dropLocked(n int32) {
	if s, ok := set.shards[n]; ok {
		delete(set.shards, n)
		s.close()
	}
}

// loaded returns every loaded shard, by partition, and whether some are
// still loading.
func (set *shardSet[S]) loaded() (shards []S, loading bool) {
	set.mu.Lock()
	defer set.mu.Unlock()
	for _, s := range set.shards {
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

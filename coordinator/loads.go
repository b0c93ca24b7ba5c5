package coordinator

import (
	"sync"

	"github.com/sourcegraph/conc"
)

// loads runs the shard loads of one side of the coordinator (groups,
// transactions) until Stop: a load started once Stop's wait has begun
// would race with it, so Go refuses it instead. Its mutex is a leaf: Go
// is called with its shardSet's lock held (shards.go).
type loads struct {
	mu      sync.Mutex
	stopped bool
	wg      conc.WaitGroup
}

// Go runs load on a goroutine of its own and reports true, or reports
// false once Stop was called.
func (l *loads) Go(load func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return false
	}
	l.wg.Go(load)
	return true
}

// Stop refuses new loads and waits for those running.
func (l *loads) Stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
	l.wg.Wait()
}

package broker

import (
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/metadata"
)

// TestProducerIDsConcurrent: InitProducerId calls racing across block
// boundaries each get an id of their own, and the broker reserves no more
// blocks than it uses (calls wait for the reservation in flight).
func TestProducerIDsConcurrent(t *testing.T) {
	e, err := metadata.StartEmbedded(t.TempDir(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	client, err := metadata.Connect(t.Context(), e.Endpoints(), 10*time.Second, metadata.ClientAuth{})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	store, err := metadata.New(t.Context(), client, metadata.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	const workers, each = 8, producerIDBlock/4 + 3 // 2,024 ids: three blocks
	var (
		pi  producerIDs
		mu  sync.Mutex
		ids = map[int64]bool{}
		wg  sync.WaitGroup
	)
	for range workers {
		wg.Go(func() {
			for range each {
				id, err := pi.get(t.Context(), store)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if ids[id] {
					t.Errorf("producer id %d given twice", id)
				}
				ids[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(ids) != workers*each {
		t.Fatalf("%d distinct ids, want %d", len(ids), workers*each)
	}
	// The next block starts right after the three used: none was reserved
	// and thrown away by calls racing for a refill.
	next, err := store.AllocateProducerIDs(t.Context(), producerIDBlock)
	if err != nil {
		t.Fatal(err)
	}
	var lowest int64 = -1
	for id := range ids {
		if lowest < 0 || id < lowest {
			lowest = id
		}
	}
	if want := lowest + 3*producerIDBlock; next != want {
		t.Errorf("next block starts at %d, want %d (three blocks used from %d)", next, want, lowest)
	}
}

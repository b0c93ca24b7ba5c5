package broker

// InitProducerId: v0-v4, idempotent producers only.
//
// Every call gets a new producer id with epoch 0, taken from a block of ids
// reserved in etcd (so ids are unique across brokers and restarts). A
// producer's sequence state lives with each partition and is committed with
// its manifest, so deduplication survives restarts. A transactional id gets
// INVALID_REQUEST: transactions are not implemented (and not advertised).

import (
	"context"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/metadata"
)

// producerIDBlock is how many ids one etcd reservation covers.
const producerIDBlock = 1000

// producerIDs hands out producer ids from blocks reserved in etcd.
type producerIDs struct {
	mu         sync.Mutex
	next, last int64         // next to give, last of the block (inclusive)
	refill     chan struct{} // closed when the block reservation in flight ends; nil: none
}

// get hands out the next producer id, reserving a new block in etcd when
// the current one is used up. The reservation runs without the lock held;
// calls meanwhile wait for it rather than reserve another block.
func (pi *producerIDs) get(ctx context.Context, store *metadata.Store) (int64, error) {
	for {
		pi.mu.Lock()
		if pi.next != 0 && pi.next <= pi.last {
			id := pi.next
			pi.next++
			pi.mu.Unlock()
			return id, nil
		}
		if ch := pi.refill; ch != nil {
			pi.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return 0, ctx.Err()
			}
		}
		ch := make(chan struct{})
		pi.refill = ch
		pi.mu.Unlock()

		first, err := store.AllocateProducerIDs(ctx, producerIDBlock)
		pi.mu.Lock()
		if err == nil {
			pi.next, pi.last = first, first+producerIDBlock-1
		}
		pi.refill = nil
		close(ch)
		pi.mu.Unlock()
		if err != nil {
			return 0, err
		}
	}
}

func handleInitProducerID(ctx context.Context, c *conn, req *kmsg.InitProducerIDRequest, resp *kmsg.InitProducerIDResponse) {
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	if req.TransactionalID != nil {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return
	}
	id, err := c.srv.prodID.get(ctx, c.srv.store)
	if err != nil {
		c.srv.log.Error("allocate producer id", "error", err)
		resp.ErrorCode = kerr.CoordinatorNotAvailable.Code // retriable
		return
	}
	resp.ProducerID, resp.ProducerEpoch = id, 0
}

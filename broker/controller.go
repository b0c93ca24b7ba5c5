package broker

// The controller: one broker, elected through etcd, computes
// metadata.Balance on every view change (but a change of leaders only, see
// metadata.Balancer) and writes the assignments that changed; every broker's partition.Manager then follows them. The
// controller also collects the bucket's garbage during its term.

import (
	"context"
	"errors"
	"time"

	"github.com/strata-io/strata/metadata"
)

// controllerEvery retries the controller's work without a view change.
const controllerEvery = time.Second

// etcdTimeout bounds one etcd call of the broker's loops (resigning the
// controller's term, a batch of group writes, a retention truncation).
const etcdTimeout = 5 * time.Second

// controllerLoop campaigns to be the controller and, once elected, assigns
// partitions until the term ends; then it campaigns again.
func (b *Broker) controllerLoop() {
	for b.ctx.Err() == nil && !b.srv.isClosing() {
		ctl, err := b.res.store.Campaign(b.ctx, b.srv.id)
		if err != nil {
			select {
			case <-b.ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
			continue
		}
		b.log.Info("elected controller")
		b.srv.metrics.controller.Set(1)
		b.control(ctl)
		b.srv.metrics.controller.Set(0)
	}
}

// control writes the assignments Balance asks for after every view change,
// and collects garbage in the bucket, until the term ends or the broker
// stops.
func (b *Broker) control(ctl *metadata.Controller) {
	gcCtx, stopGC := context.WithCancel(b.ctx)
	gcDone := make(chan struct{})
	go func() {
		defer close(gcDone)
		b.collectGarbage(gcCtx)
	}()
	defer func() {
		stopGC()
		<-gcDone
	}()
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), etcdTimeout)
		defer cancel()
		_ = ctl.Resign(ctx)
	}()
	var balancer metadata.Balancer
	for {
		v, changed := b.topics.View()
		if v != nil {
			if moves := balancer.Balance(v); len(moves) > 0 {
				err := ctl.SetAssignments(b.ctx, moves)
				switch {
				case errors.Is(err, metadata.ErrNotController):
					b.log.Warn("no longer the controller")
					return
				case err != nil:
					b.log.Warn("write partition assignments; retrying", "error", err)
					changed = nil // retry on the tick below
				default:
					b.log.Info("assigned partitions", "topics", len(moves), "brokers", len(v.Brokers))
				}
			}
		}
		select {
		case <-changed:
		case <-time.After(controllerEvery):
		case <-ctl.Done():
			return
		case <-b.srv.closingCh:
			return
		case <-b.ctx.Done():
			return
		}
	}
}

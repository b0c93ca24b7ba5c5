package broker

// InitProducerId: v0-v4.
//
// An idempotent producer gets a new producer id with epoch 0, taken from a
// block of ids reserved in etcd (so ids are unique across brokers and
// restarts). A producer's sequence state lives with each partition and is
// committed with its manifest, so deduplication survives restarts.
//
// A transactional producer is answered by the transactional id's
// coordinator (coordinator.Txns.InitProducerID): a new id gets a new
// producer id with epoch 0, a known one its epoch bumped (a new producer
// id when the epoch is used up), after its ongoing transaction, if any, is
// aborted (CONCURRENT_TRANSACTIONS until then); a v3+ request's producer
// id and epoch are checked as Kafka does (KIP-360). A timeout above
// Config.MaxTxnTimeout gets INVALID_TRANSACTION_TIMEOUT; PRODUCER_FENCED is
// INVALID_PRODUCER_EPOCH before v4; an empty transactional id is
// INVALID_REQUEST.
//
// As in Kafka, a transactional id needs WRITE on it
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), and an idempotent producer needs
// IDEMPOTENT_WRITE on the cluster or WRITE on some topic
// (CLUSTER_AUTHORIZATION_FAILED).

import (
	"context"
	"net/netip"
	"sync"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/acl"
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
	switch txn := req.TransactionalID; {
	case txn != nil && !c.allowed(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, *txn):
		resp.ErrorCode = kerr.TransactionalIDAuthorizationFailed.Code
		return
	case txn != nil && *txn == "":
		resp.ErrorCode = kerr.InvalidRequest.Code
		return
	case txn != nil:
		pid, epoch := int64(-1), int16(-1)
		if req.Version >= 3 {
			pid, epoch = req.ProducerID, req.ProducerEpoch
		}
		var err error
		resp.ProducerID, resp.ProducerEpoch, err = c.srv.txns.InitProducerID(ctx, *txn, req.TransactionTimeoutMillis, pid, epoch)
		if err != nil {
			resp.ProducerID, resp.ProducerEpoch = -1, -1
		}
		resp.ErrorCode = txnErrorCode(err, req.Version < 4)
		return
	case !c.allowedOnCluster(kmsg.ACLOperationIdempotentWrite) && !c.writesSomeTopic():
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
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

// writesSomeTopic reports whether the principal may WRITE some topic, as
// Kafka's Authorizer.authorizeByResourceType decides it (KIP-679), which
// package acl does not offer: an ALLOW of WRITE (or ALL) on any literal or
// prefixed topic pattern for the principal (or User:*) and the host (or
// *), unless a DENY of the literal wildcard, of the same literal name, or
// of a prefix of the name takes it back (a DENY of the wildcard takes back
// everything). It reads the whole binding set,
// which only InitProducerId does, once per producer.
func (c *conn) writesSomeTopic() bool {
	const op, rt = kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTopic
	// Kafka's probe of a name no binding is likely to name: it allows super
	// users, and everyone when no binding applies and
	// allow.everyone.if.no.acl.found is on.
	if c.allowed(op, rt, "hardcode") {
		return true
	}
	bs := c.srv.authz.Bindings().Matching(acl.Filter{
		ResourceType: rt,
		PatternType:  kmsg.ACLResourcePatternTypeAny,
		Operation:    kmsg.ACLOperationAny,
		Permission:   kmsg.ACLPermissionTypeAny,
	})
	type pattern struct {
		typ  kmsg.ACLResourcePatternType
		name string
	}
	wildcard := pattern{kmsg.ACLResourcePatternTypeLiteral, acl.WildcardResource}
	allowed, denied := map[pattern]bool{}, map[pattern]bool{}
	for _, b := range bs {
		switch {
		case b.Principal != c.id.name && b.Principal != acl.WildcardPrincipal,
			b.Host != acl.WildcardHost && !sameHost(b.Host, c.id.host),
			b.Operation != op && b.Operation != kmsg.ACLOperationAll:
			continue
		}
		p := pattern{b.PatternType, b.ResourceName}
		switch b.Permission {
		case kmsg.ACLPermissionTypeDeny:
			if p == wildcard {
				return false
			}
			denied[p] = true
		case kmsg.ACLPermissionTypeAllow:
			allowed[p] = true
		}
	}
	if allowed[wildcard] {
		return true
	}
	for p := range allowed {
		if p.typ == kmsg.ACLResourcePatternTypeLiteral && denied[p] {
			continue
		}
		dominated := false
		for n := 1; n <= len(p.name) && !dominated; n++ {
			dominated = denied[pattern{kmsg.ACLResourcePatternTypePrefixed, p.name[:n]}]
		}
		if !dominated {
			return true
		}
	}
	return false
}

// sameHost reports whether a binding's host names the client's address
// (in netip's canonical form, as c.id.host holds it).
func sameHost(bindingHost, clientHost string) bool {
	a, err := netip.ParseAddr(bindingHost)
	return err == nil && a.Unmap().String() == clientHost
}

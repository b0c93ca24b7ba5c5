package broker

// TxnOffsetCommit: v0-v5.
//
// Stores a transactional producer's offsets as pending in the group: they
// are kept in etcd under the group's coordinator shard (guarded by the
// shard's epoch), apart from the committed offsets, and become committed
// when the producer's transaction commits (the group's marker:
// coordinator.ApplyTxnOffsets) or are dropped when it aborts. Until then
// OffsetFetch does not show them, and one with require_stable gets
// UNSTABLE_OFFSET_COMMIT for their partitions. As with OffsetCommit, one
// connection's writes land in request order (queued in the ordered part,
// waited for in the wait part), and the answer comes once they are in
// etcd.
//
// Authorization is Kafka's: WRITE on the transactional id
// (TRANSACTIONAL_ID_AUTHORIZATION_FAILED), READ on the group
// (GROUP_AUTHORIZATION_FAILED), each for every partition, then READ on each
// topic (TOPIC_AUTHORIZATION_FAILED for its partitions). A topic or
// partition that does not exist gets UNKNOWN_TOPIC_OR_PARTITION, metadata
// past 4 KiB OFFSET_METADATA_TOO_LARGE. The group is checked as Kafka's
// group coordinator checks a transactional commit: a group that does not
// exist is created for a commit with no generation (ILLEGAL_GENERATION
// otherwise); from v3, a member id, group instance id or generation given
// must be current (UNKNOWN_MEMBER_ID, FENCED_INSTANCE_ID,
// ILLEGAL_GENERATION); a commit with neither is taken whatever the group's
// state, and a rebalancing group takes it too. The producer id and epoch
// are not checked against the transaction coordinator (AddOffsetsToTxn
// added the group to the transaction) before v5. v5 is transaction
// version 2 (KIP-890 part 2) when the broker finalizes it: the client
// sends no AddOffsetsToTxn, and the commit adds the group to the
// producer's transaction itself (coordinator.Txns.AddImplicit, through
// etcd), beginning one if none is ongoing, before its offsets are
// queued; its error (INVALID_PRODUCER_EPOCH for a fenced producer,
// CONCURRENT_TRANSACTIONS, …) is every partition's.

import (
	"context"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
	"github.com/strata-io/strata/metadata"
)

// txnAddTimeout bounds a TxnOffsetCommit's implicit addition of its group
// to the producer's transaction.
const txnAddTimeout = 10 * time.Second

// handleTxnOffsetCommit validates the commit and queues its pending
// offsets in the ordered part; the wait part waits for them to land.
func handleTxnOffsetCommit(c *conn, kreq kmsg.Request) func(context.Context) kmsg.Response {
	req := kreq.(*kmsg.TxnOffsetCommitRequest)
	b := c.srv
	// codes[i][j] is the answer for req.Topics[i].Partitions[j]; the
	// partitions left at -1 are written.
	codes := make([][]int16, len(req.Topics))
	failAll := func(code *kerr.Error) func(context.Context) kmsg.Response {
		for i, rt := range req.Topics {
			codes[i] = make([]int16, len(rt.Partitions))
			for j := range codes[i] {
				codes[i][j] = code.Code
			}
		}
		return func(context.Context) kmsg.Response { return txnOffsetCommitResponse(req, codes, nil) }
	}
	if !c.allowed(kmsg.ACLOperationWrite, kmsg.ACLResourceTypeTransactionalId, req.TransactionalID) {
		return failAll(kerr.TransactionalIDAuthorizationFailed)
	}
	if !c.allowed(kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, req.Group) {
		return failAll(kerr.GroupAuthorizationFailed)
	}
	now := time.Now().UnixMilli()
	pending := &metadata.TxnOffsets{ProducerID: req.ProducerID, Offsets: map[metadata.GroupPartition]metadata.CommittedOffset{}}
	for i, rt := range req.Topics {
		codes[i] = make([]int16, len(rt.Partitions))
		ct := c.commitTopic(rt.Topic)
		for j, rp := range rt.Partitions {
			if codes[i][j] = ct.commitCode(rp.Partition, rp.Metadata); codes[i][j] == -1 {
				pending.Offsets[metadata.GroupPartition{Topic: rt.Topic, Partition: rp.Partition}] = metadata.CommittedOffset{
					Offset: rp.Offset, LeaderEpoch: rp.LeaderEpoch, Metadata: rp.Metadata, CommitTime: now,
				}
			}
		}
	}
	if len(pending.Offsets) > 0 {
		// Holding no lock: the ordered part waits for etcd here, as
		// Produce's verification does. Version 2 adds the group to the
		// transaction; version 1 checks that AddOffsetsToTxn did, under
		// this producer id and epoch, so that a zombie writes nothing.
		ctx, cancel := context.WithTimeout(c.ctx, txnAddTimeout)
		var err error
		if b.txnVersion(req.Version, 5) >= 2 {
			err = implicitAddError(b.txns.AddImplicit(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, nil, []string{req.Group}))
		} else {
			err = b.txns.VerifyTxnGroup(ctx, req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group)
		}
		cancel()
		if err != nil {
			settle(codes, asKerr(err))
			return func(context.Context) kmsg.Response { return txnOffsetCommitResponse(req, codes, nil) }
		}
	}
	var s *coordinator.Shard
	var code *kerr.Error
	err := b.groups.WithGroup(req.Group, req.Generation < 0, func(sh *coordinator.Shard, g *coordinator.Group) {
		s = sh
		if g == nil {
			code = kerr.IllegalGeneration // a generation named, of a group that does not exist
			return
		}
		code = g.CheckTxnCommit(req.Generation, req.MemberID, req.InstanceID)
	})
	outcome := c.queueOffsets(s, metadata.GroupWrite{Group: req.Group, TxnOffsets: pending}, err, code)
	return func(ctx context.Context) kmsg.Response { return txnOffsetCommitResponse(req, codes, outcome(ctx)) }
}

// txnOffsetCommitResponse answers each partition with its code in codes,
// or, where that is -1 (written), with code (nil: no error): it settles
// codes.
func txnOffsetCommitResponse(req *kmsg.TxnOffsetCommitRequest, codes [][]int16, code *kerr.Error) *kmsg.TxnOffsetCommitResponse {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	settle(codes, code)
	for i, rt := range req.Topics {
		st := kmsg.NewTxnOffsetCommitResponseTopic()
		st.Topic = rt.Topic
		for j, rp := range rt.Partitions {
			sp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = codes[i][j]
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}

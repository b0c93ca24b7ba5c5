package broker

// ShareFetch: v0-v1 (KIP-932).
//
// Acquires records of a share group's partitions for one member, at the
// partitions' leader (coordinator/share_partitions.go): the available
// records from the share-partition start offset up to the high watermark
// (share.isolation.level=read_uncommitted, the default) or the last stable
// offset (read_committed: the records of aborted transactions and the
// control records are archived, never delivered), at most MaxRecords (500 when 0) in all, each under an acquisition lock of
// the group's share.record.lock.duration.ms (the response's
// acquisition_lock_timeout_ms), with its delivery count. Records come as the
// whole batches that hold them, with the acquired ranges beside.
//
// The share session (per group, member and broker) is opened by epoch 0
// with the request's partitions, grown by the partitions of a later request
// and shrunk by its forgotten topics; each request's epoch is the one after
// the last (INVALID_SHARE_SESSION_EPOCH, SHARE_SESSION_NOT_FOUND); epoch -1
// closes it and releases the member's records of its partitions, and so
// does an epoch 0 that replaces it, and so does the close of the
// connection that opened it, as in Kafka (connShares). A partition new to
// the session first has its stored state's revision checked, so that an
// admin's change to it (AlterShareGroupOffsets, …) is read before any
// delivery (Shares.Revalidate). A
// partition is in the response when it has records, an error or
// acknowledgements, or is new to the session. Piggybacked acknowledgements
// (not with epoch 0: INVALID_REQUEST) are applied and stored in etcd before
// the answer; their errors are acknowledge_error_code. Without records, the
// fetch waits up to MaxWaitMs for a commit or a released record. Needs
// READ on the group (GROUP_AUTHORIZATION_FAILED) and on each topic
// (TOPIC_AUTHORIZATION_FAILED). A member id that is not a member of the
// group (never joined, left, or removed by its session timeout) gets
// UNKNOWN_MEMBER_ID, and its share session here ends, releasing its
// records; only the group's coordinator knows the members, so a broker
// that does not coordinate the group serves the member until its session
// ends. Deviations: no current-leader hint with NOT_LEADER_OR_FOLLOWER
// (clients refresh their metadata); MinBytes and BatchSize are not used
// (at most MaxRecords are acquired, in whole batches' ranges).

import (
	"context"
	"sort"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/partition"
)

// shareAcks is one partition's acknowledgement batches.
type shareAcks struct {
	tp      coordinator.ShareTP
	batches []partition.ShareAckBatch
}

// applyShareAcks applies the acknowledgements of each partition and returns
// the wait for their storage, which gives their error codes (0: stored),
// by partition.
func applyShareAcks(ctx context.Context, c *conn, sh *coordinator.Shares, group, member string, acks []shareAcks) func(context.Context) map[coordinator.ShareTP]int16 {
	out := make(map[coordinator.ShareTP]int16, len(acks))
	waits := map[coordinator.ShareTP]func(context.Context) error{}
	for _, a := range acks {
		p, code := sharePartition(c, a.tp)
		if code != 0 {
			out[a.tp] = code
			continue
		}
		waits[a.tp] = sh.ApplyAcks(ctx, group, member, p, a.batches, partition.AckReject)
	}
	return func(ctx context.Context) map[coordinator.ShareTP]int16 {
		for tp, wait := range waits {
			out[tp] = kerrCode(wait(ctx))
		}
		return out
	}
}

// sharePartition resolves a session partition: the partition, or the error
// code to answer.
func sharePartition(c *conn, tp coordinator.ShareTP) (*partition.Partition, int16) {
	t := c.srv.topics.Resolve(true, "", tp.Topic)
	switch {
	case t == nil:
		return nil, kerr.UnknownTopicID.Code
	case !c.allowed(kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, t.Meta.Name):
		return nil, kerr.TopicAuthorizationFailed.Code
	case t.Partition(tp.Partition) == nil:
		return nil, kerr.UnknownTopicOrPartition.Code
	}
	return t.Partition(tp.Partition), 0
}

// shareRequest checks what ShareFetch and ShareAcknowledge share: a
// coordinator, READ on the group, a group id and a member id, and, on the
// broker that coordinates the group, that the member is in it
// (UNKNOWN_MEMBER_ID otherwise; other brokers cannot tell: membership lives
// in the coordinator's memory). It returns
// the share partitions with the group and member, or the error code; lock
// is the group's acquisition lock duration, for the response.
func shareRequest(c *conn, groupID, memberID *string) (sh *coordinator.Shares, group, member string, lock int32, code int16) {
	if groupID != nil {
		group = *groupID
	}
	if memberID != nil {
		member = *memberID
	}
	co := c.srv.groups
	switch {
	case co == nil:
		return nil, group, member, 0, kerr.UnsupportedVersion.Code
	case !c.allowed(kmsg.ACLOperationRead, kmsg.ACLResourceTypeGroup, group):
		return nil, group, member, 0, kerr.GroupAuthorizationFailed.Code
	case group == "" || member == "" || len(member) > 36:
		return nil, group, member, 0, kerr.InvalidRequest.Code
	}
	sh = co.Shares()
	if known, decided := sh.Member(group, member); decided && !known {
		// Not a member (never joined, left, or fenced): as Kafka, no
		// share session serves it, and the one it had here ends.
		sh.EndMember(group, member, func(tp coordinator.ShareTP) *partition.Partition {
			p, _ := sharePartition(c, tp)
			return p
		})
		return nil, group, member, 0, kerr.UnknownMemberID.Code
	}
	return sh, group, member, int32(sh.LockDuration(group) / time.Millisecond), 0
}

func handleShareFetch(ctx context.Context, c *conn, req *kmsg.ShareFetchRequest, resp *kmsg.ShareFetchResponse) {
	sh, group, member, lock, code := shareRequest(c, req.GroupID, req.MemberID)
	if code != 0 {
		resp.ErrorCode = code
		return
	}
	resp.AcquisitionLockTimeoutMillis = lock

	var add, forget []coordinator.ShareTP
	var acks []shareAcks
	for _, rt := range req.Topics {
		for _, rp := range rt.Partitions {
			tp := coordinator.ShareTP{Topic: rt.TopicID, Partition: rp.Partition}
			add = append(add, tp)
			if len(rp.AcknowledgementBatches) > 0 {
				a := shareAcks{tp: tp}
				for _, b := range rp.AcknowledgementBatches {
					a.batches = append(a.batches, partition.ShareAckBatch{First: b.FirstOffset, Last: b.LastOffset, Types: b.AcknowledgeTypes})
				}
				acks = append(acks, a)
			}
		}
	}
	for _, ft := range req.ForgottenTopicsData {
		for _, p := range ft.Partitions {
			forget = append(forget, coordinator.ShareTP{Topic: ft.TopicID, Partition: p})
		}
	}
	if req.ShareSessionEpoch == 0 && len(acks) > 0 {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return
	}
	if req.ShareSessionEpoch == -1 {
		add, forget = nil, nil
	}
	session, old, err := sh.OpenSession(group, member, req.ShareSessionEpoch, true, add, forget)
	if err != nil {
		resp.ErrorCode = kerrCode(err)
		return
	}
	resolve := func(tp coordinator.ShareTP) *partition.Partition {
		p, _ := sharePartition(c, tp)
		return p
	}
	if old != nil {
		sh.ReleaseSession(group, member, old, resolve)
	}
	switch req.ShareSessionEpoch {
	case 0:
		c.shares.opened(group, member, session)
	case -1:
		c.shares.closed(group, member, session)
	}
	if req.ShareSessionEpoch != -1 {
		for _, tp := range sh.Added(session) {
			if p := resolve(tp); p != nil {
				sh.Revalidate(ctx, group, p)
			}
		}
	}

	// The response's partitions, by topic, in the order first named.
	index := map[coordinator.ShareTP]*kmsg.ShareFetchResponseTopicPartition{}
	entry := func(tp coordinator.ShareTP) *kmsg.ShareFetchResponseTopicPartition {
		if sp := index[tp]; sp != nil {
			return sp
		}
		sp := kmsg.NewShareFetchResponseTopicPartition()
		sp.Partition = tp.Partition
		sp.CurrentLeader.LeaderID, sp.CurrentLeader.LeaderEpoch = -1, -1
		index[tp] = &sp
		return &sp
	}
	defer func() {
		byTopic := map[[16]byte][]*kmsg.ShareFetchResponseTopicPartition{}
		var topics [][16]byte
		for tp, sp := range index {
			if byTopic[tp.Topic] == nil {
				topics = append(topics, tp.Topic)
			}
			byTopic[tp.Topic] = append(byTopic[tp.Topic], sp)
		}
		sort.Slice(topics, func(i, j int) bool { return string(topics[i][:]) < string(topics[j][:]) })
		for _, id := range topics {
			rt := kmsg.NewShareFetchResponseTopic()
			rt.TopicID = id
			ps := byTopic[id]
			sort.Slice(ps, func(i, j int) bool { return ps[i].Partition < ps[j].Partition })
			for _, sp := range ps {
				rt.Partitions = append(rt.Partitions, *sp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}()

	// The acknowledgements apply now and are answered once stored; records
	// are acquired meanwhile.
	acked := applyShareAcks(ctx, c, sh, group, member, acks)
	defer func() {
		for tp, code := range acked(ctx) {
			entry(tp).AcknowledgeErrorCode = code
		}
	}()
	if req.ShareSessionEpoch == -1 {
		sh.ReleaseSession(group, member, session, resolve)
		return
	}

	parts := sh.SessionParts(session)
	order := make([]coordinator.ShareTP, 0, len(parts))
	for tp := range parts {
		order = append(order, tp)
	}
	sort.Slice(order, func(i, j int) bool {
		if order[i].Topic != order[j].Topic {
			return string(order[i].Topic[:]) < string(order[j].Topic[:])
		}
		return order[i].Partition < order[j].Partition
	})
	if n := len(order); n > 1 { // rotate, so that no partition starves the others
		k := int(time.Now().UnixNano() % int64(n))
		order = append(order[k:], order[:k]...)
	}
	maxRecords := int(req.MaxRecords)
	if maxRecords <= 0 {
		maxRecords = 500
	}
	maxBytes := int(req.MaxBytes)
	if maxBytes <= 0 {
		maxBytes = 50 << 20
	}
	deadline := time.Now().Add(time.Duration(req.MaxWaitMillis) * time.Millisecond)
	for {
		commit, released := c.srv.topics.CommitSignal(), sh.Released()
		taken, bytes := 0, 0
		for _, tp := range order {
			p, code := sharePartition(c, tp)
			if code != 0 {
				entry(tp).ErrorCode = code
				sh.Answered(session, tp, true)
				continue
			}
			if taken >= maxRecords || bytes >= maxBytes {
				continue
			}
			limit := min(maxBytes-bytes, 8<<20)
			got, err := sh.Acquire(ctx, group, member, p, maxRecords-taken, func(offset int64, committed bool) ([][]byte, []metadata.AbortedTxn, error) {
				if committed {
					batches, _, aborted, err := p.ReadCommitted(ctx, c.srv.reader, offset, limit)
					return batches, aborted, err
				}
				batches, err := p.Read(ctx, c.srv.reader, offset, limit)
				return batches, nil, err
			})
			if err != nil {
				entry(tp).ErrorCode = kerrCode(err)
				if entry(tp).ErrorCode == kerr.UnknownServerError.Code {
					c.srv.log.Error("share fetch: read", "group", group, "partition", tp.Partition, "error", err)
					entry(tp).ErrorCode = kerr.KafkaStorageError.Code
				}
				sh.Answered(session, tp, true)
				continue
			}
			if len(got.Runs) == 0 {
				continue
			}
			sp := entry(tp)
			sp.Records = got.Records
			for _, r := range got.Runs {
				ar := kmsg.NewShareFetchResponseTopicPartitionAcquiredRecord()
				ar.FirstOffset, ar.LastOffset, ar.DeliveryCount = r.First, r.Last, r.Count
				sp.AcquiredRecords = append(sp.AcquiredRecords, ar)
				taken += int(r.Last - r.First + 1)
			}
			bytes += len(got.Records)
			sh.Answered(session, tp, false)
		}
		remaining := time.Until(deadline)
		if taken > 0 || remaining <= 0 || c.srv.isClosing() {
			break
		}
		select {
		case <-commit:
		case <-released:
		case <-time.After(remaining):
		case <-ctx.Done():
		case <-c.srv.closingCh:
		}
		if ctx.Err() != nil {
			break
		}
	}
	// New partitions, and those whose last answer was an error, are in
	// the response even without records.
	for tp, need := range parts {
		if need && index[tp] == nil {
			entry(tp)
			sh.Answered(session, tp, false)
		}
	}
}

// connShares are the share sessions a connection opened, by group and
// member. When the connection closes, each that is still its member's
// session ends and the records its member holds through it are released at
// once, not at their lock's expiry: Kafka ends a share session with its
// connection, and clients (franz-go) open a new one on their next
// connection.
type connShares struct {
	mu       sync.Mutex // the wait parts of the connection's ShareFetches
	sessions map[connShare]*coordinator.ShareSession
}

type connShare struct{ group, member string }

func (cs *connShares) opened(group, member string, s *coordinator.ShareSession) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.sessions == nil {
		cs.sessions = map[connShare]*coordinator.ShareSession{}
	}
	cs.sessions[connShare{group, member}] = s
}

func (cs *connShares) closed(group, member string, s *coordinator.ShareSession) {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	if cs.sessions[connShare{group, member}] == s {
		delete(cs.sessions, connShare{group, member})
	}
}

// end ends the connection's share sessions; the connection is closed and
// its requests are answered.
func (cs *connShares) end(c *conn) {
	cs.mu.Lock()
	sessions := cs.sessions
	cs.sessions = nil
	cs.mu.Unlock()
	co := c.srv.groups
	if len(sessions) == 0 || co == nil {
		return
	}
	resolve := func(tp coordinator.ShareTP) *partition.Partition {
		if t := c.srv.topics.Resolve(true, "", tp.Topic); t != nil {
			return t.Partition(tp.Partition)
		}
		return nil
	}
	for k, s := range sessions {
		co.Shares().EndSession(k.group, k.member, s, resolve)
	}
}

package e2e

// KIP-932 share groups: share.isolation.level and the member check, against
// a real `strata serve`.
//
// TestShareGroupReadCommitted: a transactional producer commits two
// transactions, aborts one between them, and leaves a fourth open; plain
// records come before and after the open one. A share group set to
// read_committed is delivered exactly the committed and plain records below
// the last stable offset, never an aborted one nor a control record; its
// share-partition start offset moves past the aborted records to the LSO;
// nothing at or past the LSO is delivered until the open transaction
// commits, and then its records and the plain ones after it are. A
// read_uncommitted group on the same topic is delivered every record,
// aborted and open ones included.
//
// TestShareGroupUnknownMember: ShareFetch and ShareAcknowledge from a member
// id that never joined the group, that left it, or that its session
// timeout removed get UNKNOWN_MEMBER_ID; the records a member held when it
// left are released at once (delivered again under a 10-minute lock).

import (
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// shareHeartbeat sends one ShareGroupHeartbeat (routed to the group's
// coordinator) and returns its answer.
func shareHeartbeat(t *testing.T, cl *kgo.Client, group, member string, epoch int32, topics ...string) *kmsg.ShareGroupHeartbeatResponse {
	t.Helper()
	req := kmsg.NewPtrShareGroupHeartbeatRequest()
	req.GroupID, req.MemberID, req.MemberEpoch = group, member, epoch
	req.SubscribedTopicNames = topics
	resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// joinShareGroup joins member to a share group subscribed to topic.
func joinShareGroup(t *testing.T, cl *kgo.Client, group, member, topic string) {
	t.Helper()
	if err := kerr.ErrorForCode(shareHeartbeat(t, cl, group, member, 0, topic).ErrorCode); err != nil {
		t.Fatalf("join %s as %s: %v", group, member, err)
	}
}

// rawShareFetch sends one ShareFetch for partition 0 of topic id to the
// first seed broker, with acks (nil: none) piggybacked.
func rawShareFetch(t *testing.T, cl *kgo.Client, group, member string, epoch int32, id [16]byte, maxWait int32, acks []kmsg.ShareFetchRequestTopicPartitionAcknowledgementBatch) *kmsg.ShareFetchResponse {
	t.Helper()
	req := kmsg.NewPtrShareFetchRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr(group), kmsg.StringPtr(member), epoch
	req.MaxWaitMillis, req.MaxBytes, req.MaxRecords, req.BatchSize = maxWait, 1<<20, 500, 500
	rt := kmsg.NewShareFetchRequestTopic()
	rt.TopicID = id
	rp := kmsg.NewShareFetchRequestTopicPartition()
	rp.AcknowledgementBatches = acks
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	raw, err := cl.SeedBrokers()[0].Request(testContext(t, 10*time.Second), req)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(*kmsg.ShareFetchResponse)
}

// rawShareAck sends one ShareAcknowledge of offsets first..last of
// partition 0 of topic id, as ackType, to the first seed broker.
func rawShareAck(t *testing.T, cl *kgo.Client, group, member string, epoch int32, id [16]byte, first, last int64, ackType int8) *kmsg.ShareAcknowledgeResponse {
	t.Helper()
	req := kmsg.NewPtrShareAcknowledgeRequest()
	req.GroupID, req.MemberID, req.ShareSessionEpoch = kmsg.StringPtr(group), kmsg.StringPtr(member), epoch
	rt := kmsg.NewShareAcknowledgeRequestTopic()
	rt.TopicID = id
	rp := kmsg.NewShareAcknowledgeRequestTopicPartition()
	b := kmsg.NewShareAcknowledgeRequestTopicPartitionAcknowledgementBatch()
	b.FirstOffset, b.LastOffset, b.AcknowledgeTypes = first, last, []int8{ackType}
	rp.AcknowledgementBatches = append(rp.AcknowledgementBatches, b)
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	raw, err := cl.SeedBrokers()[0].Request(testContext(t, 10*time.Second), req)
	if err != nil {
		t.Fatal(err)
	}
	return raw.(*kmsg.ShareAcknowledgeResponse)
}

// acquiredOffsets returns the offsets a ShareFetch answer acquired, failing
// on an error.
func acquiredOffsets(t *testing.T, resp *kmsg.ShareFetchResponse) []int64 {
	t.Helper()
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		t.Fatalf("share fetch: %v", err)
	}
	var out []int64
	for _, rt := range resp.Topics {
		for _, rp := range rt.Partitions {
			if err := kerr.ErrorForCode(rp.ErrorCode); err != nil {
				t.Fatalf("share fetch partition %d: %v", rp.Partition, err)
			}
			for _, ar := range rp.AcquiredRecords {
				for o := ar.FirstOffset; o <= ar.LastOffset; o++ {
					out = append(out, o)
				}
			}
		}
	}
	return out
}

// groupConfig is a group config's value as DescribeConfigs shows it.
func groupConfig(t *testing.T, cl *kgo.Client, group, name string) string {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	r := kmsg.NewDescribeConfigsRequestResource()
	r.ResourceType, r.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	req.Resources = append(req.Resources, r)
	resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Resources[0].ErrorCode); err != nil {
		t.Fatalf("describe configs of %s: %v", group, err)
	}
	for _, c := range resp.Resources[0].Configs {
		if c.Name == name && c.Value != nil {
			return *c.Value
		}
	}
	return ""
}

// lastStableOffset asks ListOffsets at read_committed for the end of
// partition 0: the last stable offset.
func lastStableOffset(t *testing.T, cl *kgo.Client, topic string) int64 {
	t.Helper()
	req := listOffsetsRequest(topic, 0, -1)
	req.IsolationLevel = 1
	resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	p := resp.Topics[0].Partitions[0]
	if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
		t.Fatalf("list offsets: %v", err)
	}
	return p.Offset
}

func TestShareGroupReadCommitted(t *testing.T) {
	s := StartStrata(t, Options{})
	admin := s.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const topic, committedGroup, uncommittedGroup = "share-txn", "share-txn-rc", "share-txn-ru"
	setGroupConfigs(t, admin, committedGroup, map[string]string{"share.auto.offset.reset": "earliest", "share.isolation.level": "read_committed"})
	setGroupConfigs(t, admin, uncommittedGroup, map[string]string{"share.auto.offset.reset": "earliest"})
	// DescribeConfigs shows the level, set or default; another value is
	// refused.
	for group, want := range map[string]string{committedGroup: "read_committed", uncommittedGroup: "read_uncommitted"} {
		if got := groupConfig(t, admin, group, "share.isolation.level"); got != want {
			t.Errorf("share.isolation.level of %s: %q, want %q", group, got, want)
		}
	}
	bad := kmsg.NewPtrIncrementalAlterConfigsRequest()
	br := kmsg.NewIncrementalAlterConfigsRequestResource()
	br.ResourceType, br.ResourceName = kmsg.ConfigResourceTypeGroupConfig, uncommittedGroup
	bc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	bc.Name, bc.Op, bc.Value = "share.isolation.level", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("read_dirty")
	br.Configs = append(br.Configs, bc)
	bad.Resources = append(bad.Resources, br)
	if bresp, err := bad.RequestWith(testContext(t, 10*time.Second), admin); err != nil {
		t.Fatal(err)
	} else if bresp.Resources[0].ErrorCode == 0 {
		t.Error("share.isolation.level=read_dirty accepted")
	}

	resp, err := createTopicsRequest(topic, 1, nil).RequestWith(testContext(t, 60*time.Second), admin)
	if err != nil {
		t.Fatal(err)
	}
	if err := kerr.ErrorForCode(resp.Topics[0].ErrorCode); err != nil {
		t.Fatal(err)
	}
	id := topicID(t, admin, topic)

	ctx := testContext(t, 5*time.Minute) // a guard against a hang, not a measure
	txn, err := kgo.NewClient(kgo.SeedBrokers(s.Addr), kgo.TransactionalID("share-txn-producer"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic(topic),
		kgo.TransactionTimeout(5*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	defer txn.Close()
	produce := func(cl *kgo.Client, prefix string, n int) {
		t.Helper()
		var recs []*kgo.Record
		for i := range n {
			recs = append(recs, &kgo.Record{Topic: topic, Value: []byte(prefix + strconv.Itoa(i))})
		}
		if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", prefix, err)
		}
	}
	transaction := func(prefix string, n int, end kgo.TransactionEndTry) {
		t.Helper()
		if err := txn.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		produce(txn, prefix, n)
		if err := txn.EndTransaction(ctx, end); err != nil {
			t.Fatalf("end transaction %s: %v", prefix, err)
		}
	}
	transaction("c1-", 5, kgo.TryCommit)
	transaction("ab-", 5, kgo.TryAbort)
	transaction("c2-", 5, kgo.TryCommit)
	produce(admin, "plain-", 3)
	// The open transaction, and plain records after it: both at or past
	// the last stable offset until it commits.
	if err := txn.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	produce(txn, "open-", 5)
	produce(admin, "late-", 3)
	lso := lastStableOffset(t, admin, topic)

	committed := map[string]bool{}
	for _, p := range []string{"c1-", "c2-", "plain-"} {
		for i := range 5 {
			if p != "plain-" || i < 3 {
				committed[p+strconv.Itoa(i)] = true
			}
		}
	}
	accept := func(string, int) kgo.AckStatus { return kgo.AckAccept }

	// read_uncommitted: every record, aborted and open ones included.
	ru := newShareTrack()
	ruMember := startShareMember(t, []string{s.Addr}, uncommittedGroup, topic, ru, accept)
	const all = 5 + 5 + 5 + 3 + 5 + 3
	waitFor(t, 60*time.Second, "every record delivered to the read_uncommitted group", func() bool { return ru.acceptedCount() == all })
	ruMember.stop()

	// read_committed: the committed and plain records below the LSO.
	rc := newShareTrack()
	rcMember := startShareMember(t, []string{s.Addr}, committedGroup, topic, rc, accept)
	waitFor(t, 60*time.Second, "the committed records delivered to the read_committed group", func() bool { return rc.acceptedCount() == len(committed) })
	// The start offset moves to the LSO: the aborted records and the
	// markers below it are archived, never delivered.
	waitFor(t, 30*time.Second, "the read_committed start offset at the LSO", func() bool {
		return shareStartOffsets(t, admin, committedGroup, topic)[0] == lso
	})
	rcMember.pause(t)
	rc.mu.Lock()
	for v := range rc.delivered {
		if !committed[v] {
			t.Errorf("read_committed group delivered %q before the open transaction ended", v)
		}
	}
	rc.mu.Unlock()
	rcMember.resume()

	// Another member asking now gets nothing: what remains is at or past
	// the LSO.
	probe := s.Client()
	joinShareGroup(t, probe, committedGroup, "probe-member-00000000001", topic)
	if got := acquiredOffsets(t, rawShareFetch(t, probe, committedGroup, "probe-member-00000000001", 0, id, 200, nil)); len(got) != 0 {
		t.Errorf("read_committed share fetch acquired %v at or past the LSO %d", got, lso)
	}
	shareHeartbeat(t, probe, committedGroup, "probe-member-00000000001", -1)

	// The open transaction commits: its records and the late plain ones
	// come.
	if err := txn.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit the open transaction: %v", err)
	}
	for i := range 5 {
		committed["open-"+strconv.Itoa(i)] = true
	}
	for i := range 3 {
		committed["late-"+strconv.Itoa(i)] = true
	}
	waitFor(t, 60*time.Second, "the open transaction's records delivered once it committed", func() bool { return rc.acceptedCount() == len(committed) })
	rcMember.stop()
	end := lastStableOffset(t, admin, topic)
	waitFor(t, 30*time.Second, "the read_committed start offset at the end", func() bool {
		return shareStartOffsets(t, admin, committedGroup, topic)[0] == end
	})

	rc.mu.Lock()
	for v := range committed {
		if rc.delivered[v] != 1 || rc.accepted[v] != 1 {
			t.Errorf("read_committed: %s delivered %d times, accepted %d; want once", v, rc.delivered[v], rc.accepted[v])
		}
	}
	for v := range rc.delivered {
		if !committed[v] {
			t.Errorf("read_committed group delivered %q (aborted)", v)
		}
	}
	rc.mu.Unlock()
	ru.mu.Lock()
	for v, n := range ru.delivered {
		if n != 1 {
			t.Errorf("read_uncommitted: %s delivered %d times", v, n)
		}
	}
	for i := range 5 {
		if ru.delivered["ab-"+strconv.Itoa(i)] != 1 {
			t.Errorf("read_uncommitted group was not delivered aborted record ab-%d", i)
		}
	}
	ru.mu.Unlock()
}

func TestShareGroupUnknownMember(t *testing.T) {
	s := StartStrata(t, Options{})
	admin := s.Client(kgo.RecordPartitioner(kgo.ManualPartitioner()))
	const topic, group = "share-unknown", "share-unknown-g"
	setGroupConfigs(t, admin, group, map[string]string{
		"share.auto.offset.reset":       "earliest",
		"share.record.lock.duration.ms": "600000", // outlasts the test: only a release brings records back
	})
	createShareTopic(t, admin, topic, 1, 10)
	id := topicID(t, admin, topic)
	cl := s.Client()
	isUnknown := func(what string, code int16) {
		t.Helper()
		if code != kerr.UnknownMemberID.Code {
			t.Errorf("%s: %v, want UNKNOWN_MEMBER_ID", what, kerr.ErrorForCode(code))
		}
	}

	// Never joined.
	const stranger = "stranger-member-00000001"
	isUnknown("ShareFetch of a member that never joined", rawShareFetch(t, cl, group, stranger, 0, id, 0, nil).ErrorCode)
	isUnknown("ShareAcknowledge of a member that never joined", rawShareAck(t, cl, group, stranger, 1, id, 0, 0, 1).ErrorCode)

	// Joined: served.
	const left = "left-member-000000000001"
	hb := shareHeartbeat(t, cl, group, left, 0, topic)
	if err := kerr.ErrorForCode(hb.ErrorCode); err != nil {
		t.Fatal(err)
	}
	got := acquiredOffsets(t, rawShareFetch(t, cl, group, left, 0, id, 5000, nil))
	if len(got) != 10 {
		t.Fatalf("a member acquired %v, want the 10 records", got)
	}
	if code := rawShareAck(t, cl, group, left, 1, id, 0, 0, 1).ErrorCode; code != 0 {
		t.Fatalf("a member's ShareAcknowledge: %v", kerr.ErrorForCode(code))
	}
	// Left: its records (1..9, under a 10-minute lock) are released, and it
	// is refused.
	if err := kerr.ErrorForCode(shareHeartbeat(t, cl, group, left, -1).ErrorCode); err != nil {
		t.Fatal(err)
	}
	isUnknown("ShareAcknowledge of a member that left", rawShareAck(t, cl, group, left, 2, id, 1, 1, 1).ErrorCode)
	isUnknown("ShareFetch of a member that left", rawShareFetch(t, cl, group, left, 2, id, 0, nil).ErrorCode)
	isUnknown("ShareFetch of a member that left, new session", rawShareFetch(t, cl, group, left, 0, id, 0, nil).ErrorCode)

	const next = "next-member-000000000001"
	joined := shareHeartbeat(t, cl, group, next, 0, topic)
	if err := kerr.ErrorForCode(joined.ErrorCode); err != nil {
		t.Fatal(err)
	}
	resp := rawShareFetch(t, cl, group, next, 0, id, 5000, nil)
	got = acquiredOffsets(t, resp)
	if len(got) != 9 || got[0] != 1 || got[8] != 9 {
		t.Fatalf("the next member acquired %v, want 1..9: the records of the member that left", got)
	}
	for _, ar := range resp.Topics[0].Partitions[0].AcquiredRecords {
		if ar.DeliveryCount != 2 {
			t.Errorf("records %d..%d delivered again with count %d, want 2", ar.FirstOffset, ar.LastOffset, ar.DeliveryCount)
		}
	}

	// Removed by its session timeout: a heartbeat under a 1 s timeout, then
	// silence. Refused too.
	setGroupConfigs(t, cl, group, map[string]string{"share.session.timeout.ms": "1000"})
	if err := kerr.ErrorForCode(shareHeartbeat(t, cl, group, next, joined.MemberEpoch).ErrorCode); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the silent member removed from the group", func() bool {
		req := kmsg.NewPtrShareGroupDescribeRequest()
		req.GroupIDs = []string{group}
		resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
		if err != nil || len(resp.Groups) != 1 || resp.Groups[0].ErrorCode != 0 {
			return false
		}
		for _, m := range resp.Groups[0].Members {
			if m.MemberID == next {
				return false
			}
		}
		return true
	})
	isUnknown("ShareFetch of a member removed by its session timeout", rawShareFetch(t, cl, group, next, 1, id, 0, nil).ErrorCode)
	isUnknown("ShareAcknowledge of a member removed by its session timeout", rawShareAck(t, cl, group, next, 1, id, 1, 9, 1).ErrorCode)
}

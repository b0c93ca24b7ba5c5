package broker_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/acl"
	"github.com/strata-io/strata/broker/brokertest"
)

// txnOffsetCommit is a TxnOffsetCommit (v3) of offsets of topic's
// partitions, by partition, with no generation or member.
func txnOffsetCommit(txnID, group string, producerID int64, topic string, offsets map[int32]int64) *kmsg.TxnOffsetCommitRequest {
	req := kmsg.NewPtrTxnOffsetCommitRequest()
	req.SetVersion(3)
	req.TransactionalID, req.Group, req.ProducerID, req.ProducerEpoch = txnID, group, producerID, 0
	rt := kmsg.NewTxnOffsetCommitRequestTopic()
	rt.Topic = topic
	for p := range int32(len(offsets)) {
		rp := kmsg.NewTxnOffsetCommitRequestTopicPartition()
		rp.Partition, rp.Offset = p, offsets[p]
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	return req
}

// openOffsetsTxn begins transactional id id's transaction with group in
// it (InitProducerId, then AddOffsetsToTxn, as a version 1 client does
// before TxnOffsetCommit) and returns its producer id, at epoch 0.
func openOffsetsTxn(t *testing.T, c *brokertest.Conn, id, group string) int64 {
	t.Helper()
	tc := txnClient{t, c}
	var resp *kmsg.InitProducerIDResponse
	until(t, func() int16 { resp = tc.initPID(id, 60_000, 4, -1, -1); return resp.ErrorCode })
	if resp.ErrorCode != 0 || resp.ProducerEpoch != 0 {
		t.Fatalf("InitProducerId %s: %v, epoch %d", id, kerr.ErrorForCode(resp.ErrorCode), resp.ProducerEpoch)
	}
	if code := until(t, func() int16 { return tc.addOffsets(id, resp.ProducerID, 0, group) }); code != 0 {
		t.Fatalf("AddOffsetsToTxn %s: %v", id, kerr.ErrorForCode(code))
	}
	return resp.ProducerID
}

// txnCodes is a TxnOffsetCommit's answer, by partition of its one topic.
func txnCodes(resp kmsg.Response) map[int32]int16 {
	out := map[int32]int16{}
	for _, rt := range resp.(*kmsg.TxnOffsetCommitResponse).Topics {
		for _, rp := range rt.Partitions {
			out[rp.Partition] = rp.ErrorCode
		}
	}
	return out
}

// fetchedOffset is one partition of an OffsetFetch answer.
type fetchedOffset struct {
	offset int64
	code   int16
}

// offsetFetchReq asks group's offsets of topic's partitions 0 and 1 (all
// with a nil topic) at version, with requireStable from v7.
func offsetFetchReq(version int16, group, topic string, requireStable bool) *kmsg.OffsetFetchRequest {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.SetVersion(version)
	req.RequireStable = requireStable
	rg := kmsg.NewOffsetFetchRequestGroup()
	rg.Group = group
	if topic != "" {
		rt := kmsg.NewOffsetFetchRequestGroupTopic()
		rt.Topic, rt.Partitions = topic, []int32{0, 1}
		rg.Topics = append(rg.Topics, rt)
	}
	if version >= 8 {
		req.Groups = append(req.Groups, rg)
		return req
	}
	req.Group = group
	for _, gt := range rg.Topics {
		rt := kmsg.NewOffsetFetchRequestTopic()
		rt.Topic, rt.Partitions = gt.Topic, gt.Partitions
		req.Topics = append(req.Topics, rt)
	}
	return req
}

// fetched is an OffsetFetch's answer by partition, and its group's code.
func fetched(resp kmsg.Response) (map[int32]fetchedOffset, int16) {
	r := resp.(*kmsg.OffsetFetchResponse)
	out := map[int32]fetchedOffset{}
	if len(r.Groups) > 0 {
		for _, rt := range r.Groups[0].Topics {
			for _, rp := range rt.Partitions {
				out[rp.Partition] = fetchedOffset{rp.Offset, rp.ErrorCode}
			}
		}
		return out, r.Groups[0].ErrorCode
	}
	for _, rt := range r.Topics {
		for _, rp := range rt.Partitions {
			out[rp.Partition] = fetchedOffset{rp.Offset, rp.ErrorCode}
		}
	}
	return out, r.ErrorCode
}

// fetchLoaded fetches group's offsets, waiting while its coordinator
// loads the group.
func fetchLoaded(t *testing.T, c *brokertest.Conn, req *kmsg.OffsetFetchRequest) map[int32]fetchedOffset {
	t.Helper()
	var got map[int32]fetchedOffset
	var code int16
	whileLoading(t, func() error {
		got, code = fetched(c.RoundTrip(req))
		return kerr.ErrorForCode(code)
	})
	wantCode(t, "offset fetch", code, nil)
	return got
}

// applyTxnOffsets ends a producer's transaction in group, waiting while
// the group's coordinator loads.
func applyTxnOffsets(t *testing.T, b *brokertest.Broker, group string, producerID int64, commit bool) {
	t.Helper()
	err := whileLoading(t, func() error { return b.ApplyTxnOffsets(t.Context(), group, producerID, 0, commit) })
	if err != nil {
		t.Fatalf("apply transactional offsets: %v", err)
	}
}

// whileLoading repeats do while it fails because the group's coordinator
// is loading the group (or is elsewhere), and returns its other answer;
// a minute of loading fails the test.
func whileLoading(t *testing.T, do func() error) error {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; {
		err := do()
		if !errors.Is(err, kerr.CoordinatorLoadInProgress) && !errors.Is(err, kerr.NotCoordinator) {
			return err
		}
		if time.Now().After(deadline) {
			t.Fatal("the group's coordinator did not load within a minute")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func wantFetched(t *testing.T, what string, got, want map[int32]fetchedOffset) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: fetched %v, want %v", what, got, want)
	}
}

// TestTxnOffsetCommit: a transactional commit's offsets are not shown by
// OffsetFetch until its transaction commits (and never if it aborts);
// with require_stable their partitions are UNSTABLE_OFFSET_COMMIT; they
// survive a reload of the coordinator's shards.
func TestTxnOffsetCommit(t *testing.T) {
	b := brokertest.Start(t)
	createTopic(t, b, "tx-offsets", 2, nil)
	c := b.Dial(t)
	const group = "txn-group"
	unstable := fetchedOffset{-1, kerr.UnstableOffsetCommit.Code}

	// A committed offset of partition 0 first; then, pipelined, the
	// transactional commit and fetches that must see it.
	fetchLoaded(t, c, offsetFetchReq(9, group, "tx-offsets", false))
	wantCode(t, "offset commit", offsetCommitCode(c, offsetCommit(8, group, "tx-offsets", 1)), nil)

	pid := openOffsetsTxn(t, c, "tx-a", group)
	tc := txnOffsetCommit("tx-a", group, pid, "tx-offsets", map[int32]int64{0: 10, 1: 11})
	plainFetch := offsetFetchReq(9, group, "tx-offsets", false)
	stableFetch := offsetFetchReq(9, group, "tx-offsets", true)
	stableV7 := offsetFetchReq(7, group, "tx-offsets", true)
	allStable := offsetFetchReq(9, group, "", true)
	for _, req := range []kmsg.Request{tc, plainFetch, stableFetch, stableV7, allStable} {
		c.Send(req)
	}
	for p, code := range txnCodes(c.Receive(tc)) {
		wantCode(t, fmt.Sprintf("transactional commit of partition %d", p), code, nil)
	}
	committed := map[int32]fetchedOffset{0: {1, 0}, 1: {-1, 0}}
	got, _ := fetched(c.Receive(plainFetch))
	wantFetched(t, "without require_stable", got, committed)
	got, _ = fetched(c.Receive(stableFetch))
	wantFetched(t, "require_stable", got, map[int32]fetchedOffset{0: unstable, 1: unstable})
	got, _ = fetched(c.Receive(stableV7))
	wantFetched(t, "require_stable v7", got, map[int32]fetchedOffset{0: unstable, 1: unstable})
	got, _ = fetched(c.Receive(allStable))
	wantFetched(t, "every offset, require_stable", got, map[int32]fetchedOffset{0: unstable})

	// The pending offsets survive the coordinator reloading its shards.
	b.ReloadGroups()
	wantFetched(t, "after a reload", fetchLoaded(t, c, plainFetch), committed)
	wantFetched(t, "after a reload, require_stable", fetchLoaded(t, c, stableFetch), map[int32]fetchedOffset{0: unstable, 1: unstable})

	applyTxnOffsets(t, b, group, pid, true)
	visible := map[int32]fetchedOffset{0: {10, 0}, 1: {11, 0}}
	wantFetched(t, "committed", fetchLoaded(t, c, stableFetch), visible)
	applyTxnOffsets(t, b, group, pid, true) // again: nothing pending, nothing changes
	wantFetched(t, "committed twice", fetchLoaded(t, c, stableFetch), visible)

	// An aborted transaction's offsets are dropped.
	pid2 := openOffsetsTxn(t, c, "tx-b", group)
	tc = txnOffsetCommit("tx-b", group, pid2, "tx-offsets", map[int32]int64{0: 20, 1: 21})
	for p, code := range txnCodes(c.RoundTrip(tc)) {
		wantCode(t, fmt.Sprintf("transactional commit of partition %d", p), code, nil)
	}
	b.ReloadGroups()
	wantFetched(t, "pending after a reload", fetchLoaded(t, c, stableFetch), map[int32]fetchedOffset{0: unstable, 1: unstable})
	applyTxnOffsets(t, b, group, pid2, false)
	wantFetched(t, "aborted", fetchLoaded(t, c, stableFetch), visible)
	b.ReloadGroups()
	wantFetched(t, "aborted, after a reload", fetchLoaded(t, c, stableFetch), visible)
}

// TestTxnOffsetCommitChecks: the partitions and the group are checked as
// Kafka checks them.
func TestTxnOffsetCommitChecks(t *testing.T) {
	b := brokertest.Start(t)
	createTopic(t, b, "tx-checked", 2, nil)
	c := b.Dial(t)
	for _, g := range []string{"checked", "nosuch-group", "v0-group"} { // their shards loaded
		fetchLoaded(t, c, offsetFetchReq(9, g, "tx-checked", false))
	}

	t.Run("partitions", func(t *testing.T) {
		req := txnOffsetCommit("tx", "checked", 1, "tx-checked", map[int32]int64{0: 1, 1: 2})
		req.Topics[0].Partitions[1].Partition = 7
		long := string(make([]byte, 4097))
		req.Topics[0].Partitions[0].Metadata = &long
		nosuch := kmsg.NewTxnOffsetCommitRequestTopic()
		nosuch.Topic = "nosuch-topic"
		nosuch.Partitions = []kmsg.TxnOffsetCommitRequestTopicPartition{kmsg.NewTxnOffsetCommitRequestTopicPartition()}
		req.Topics = append(req.Topics, nosuch)
		resp := c.RoundTrip(req).(*kmsg.TxnOffsetCommitResponse)
		wantCode(t, "metadata too large", resp.Topics[0].Partitions[0].ErrorCode, kerr.OffsetMetadataTooLarge)
		wantCode(t, "no such partition", resp.Topics[0].Partitions[1].ErrorCode, kerr.UnknownTopicOrPartition)
		wantCode(t, "no such topic", resp.Topics[1].Partitions[0].ErrorCode, kerr.UnknownTopicOrPartition)
	})
	t.Run("generation of a group that does not exist", func(t *testing.T) {
		pid := openOffsetsTxn(t, c, "tx-nosuch", "nosuch-group")
		req := txnOffsetCommit("tx-nosuch", "nosuch-group", pid, "tx-checked", map[int32]int64{0: 1})
		req.Generation, req.MemberID = 3, "m"
		wantCode(t, "commit", txnCodes(c.RoundTrip(req))[0], kerr.IllegalGeneration)
	})
	t.Run("member of an empty group", func(t *testing.T) {
		pid := openOffsetsTxn(t, c, "tx-checked", "checked")
		req := txnOffsetCommit("tx-checked", "checked", pid, "tx-checked", map[int32]int64{0: 1})
		req.Generation, req.MemberID = 0, "nobody"
		wantCode(t, "commit", txnCodes(c.RoundTrip(req))[0], kerr.UnknownMemberID)
	})
	t.Run("transaction checked with its coordinator", func(t *testing.T) {
		pid := openOffsetsTxn(t, c, "tx-z", "checked")
		req := txnOffsetCommit("tx-z", "v0-group", pid, "tx-checked", map[int32]int64{0: 1})
		wantCode(t, "group not added to the transaction", txnCodes(c.RoundTrip(req))[0], kerr.InvalidTxnState)
		req = txnOffsetCommit("tx-z", "checked", pid+1, "tx-checked", map[int32]int64{0: 1})
		wantCode(t, "another producer id", txnCodes(c.RoundTrip(req))[0], kerr.InvalidProducerIDMapping)
		// A new instance fences the transaction's producer: its commit,
		// sent late, writes nothing.
		tc := txnClient{t, c}
		var init *kmsg.InitProducerIDResponse
		until(t, func() int16 { init = tc.initPID("tx-z", 60_000, 4, -1, -1); return init.ErrorCode })
		if init.ErrorCode != 0 || init.ProducerID != pid || init.ProducerEpoch < 1 {
			t.Fatalf("InitProducerId again: %v, producer %d epoch %d; want %d at a higher epoch", kerr.ErrorForCode(init.ErrorCode), init.ProducerID, init.ProducerEpoch, pid)
		}
		req = txnOffsetCommit("tx-z", "checked", pid, "tx-checked", map[int32]int64{0: 1})
		wantCode(t, "zombie", txnCodes(c.RoundTrip(req))[0], kerr.ProducerFenced)
		got := fetchLoaded(t, c, offsetFetchReq(9, "checked", "tx-checked", true))
		wantCode(t, "nothing pending after the zombie", got[0].code, nil)
	})
	t.Run("v0, no generation", func(t *testing.T) {
		pid := openOffsetsTxn(t, c, "tx-v0", "v0-group")
		req := txnOffsetCommit("tx-v0", "v0-group", pid, "tx-checked", map[int32]int64{0: 1})
		req.SetVersion(0)
		wantCode(t, "commit", txnCodes(c.RoundTrip(req))[0], nil)
		got := fetchLoaded(t, c, offsetFetchReq(9, "v0-group", "tx-checked", true))
		wantCode(t, "fetch", got[0].code, kerr.UnstableOffsetCommit)
	})
}

// TestTxnOffsetCommitDeletes: deleting a group with pending offsets
// deletes them too, and so does deleting the committed offset of their
// partition, as in Kafka.
func TestTxnOffsetCommitDeletes(t *testing.T) {
	b := brokertest.Start(t)
	createTopic(t, b, "tx-deleted", 2, nil)
	c := b.Dial(t)
	adm := b.Admin(t)
	ctx := context.Background()
	const group = "deleted"
	stable := offsetFetchReq(9, group, "tx-deleted", true)
	fetchLoaded(t, c, stable)
	wantCode(t, "offset commit", offsetCommitCode(c, offsetCommit(8, group, "tx-deleted", 1)), nil)
	pid := openOffsetsTxn(t, c, "tx-deleted", group)
	for p, code := range txnCodes(c.RoundTrip(txnOffsetCommit("tx-deleted", group, pid, "tx-deleted", map[int32]int64{0: 10, 1: 11}))) {
		wantCode(t, fmt.Sprintf("transactional commit of partition %d", p), code, nil)
	}

	// OffsetDelete of partition 0 (the one with a committed offset) drops
	// its pending offset; partition 1's stays.
	wantCode(t, "offset delete", offsetDeleteCode(c, group, "tx-deleted"), nil)
	wantFetched(t, "after offset delete", fetchLoaded(t, c, stable),
		map[int32]fetchedOffset{0: {-1, 0}, 1: {-1, kerr.UnstableOffsetCommit.Code}})

	resps, err := adm.DeleteGroups(ctx, group)
	if err == nil {
		err = resps[group].Err
	}
	if err != nil {
		t.Fatalf("delete group with pending offsets: %v", err)
	}
	wantFetched(t, "after delete", fetchLoaded(t, c, stable), map[int32]fetchedOffset{0: {-1, 0}, 1: {-1, 0}})
	applyTxnOffsets(t, b, group, pid, true) // the marker arrives late: nothing to commit
	b.ReloadGroups()
	wantFetched(t, "after delete and reload", fetchLoaded(t, c, stable), map[int32]fetchedOffset{0: {-1, 0}, 1: {-1, 0}})
}

// TestAuthorizeTxnOffsetCommit: WRITE on the transactional id, READ on the
// group and READ on each topic, as Kafka checks them.
func TestAuthorizeTxnOffsetCommit(t *testing.T) {
	e := startAuthorized(t)
	e.createTopic(t, authTopic, 1)
	c := e.anon
	txnID := allow(kmsg.ACLResourceTypeTransactionalId, "tx", kmsg.ACLOperationWrite)
	group := allowGroup(authGroup, kmsg.ACLOperationRead)
	topic := allowTopic(authTopic, kmsg.ACLOperationRead)
	pid := int64(1) // refused before the transaction is looked at
	do := func() int16 {
		return txnCodes(c.RoundTrip(txnOffsetCommit("tx", authGroup, pid, authTopic, map[int32]int64{0: 1})))[0]
	}
	for _, tc := range []struct {
		name    string
		granted []acl.Binding
		want    error
	}{
		{"no transactional id", []acl.Binding{group, topic}, kerr.TransactionalIDAuthorizationFailed},
		{"no group", []acl.Binding{txnID, topic}, kerr.GroupAuthorizationFailed},
		{"no topic", []acl.Binding{txnID, group}, kerr.TopicAuthorizationFailed},
		{"all", []acl.Binding{txnID, group, topic}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.setACLs(t, tc.granted...)
			if tc.want == nil {
				pid = openOffsetsTxn(t, c, "tx", authGroup)
			}
			wantCode(t, "commit", untilSettled(t, do), tc.want)
		})
	}
}

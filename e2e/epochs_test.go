package e2e

// Leader epochs as a Kafka client sees them (KIP-320): Metadata's leader
// epoch, the epoch stamped on every batch, the checks of a client's current
// epoch, and OffsetForLeaderEpoch answered from the history kept in etcd.

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/batch"
)

// TestLeaderEpochs: a graceful restart hands the partition to a new tenure
// (leader epoch 0, then 1); clients see both epochs and where each began.
func TestLeaderEpochs(t *testing.T) {
	const topic = "e2e-epochs"
	s, k := startBadInputTopic(t, topic, 1, nil)
	produce := func(k *kafkaConn, values ...string) {
		t.Helper()
		var vs [][]byte
		for _, v := range values {
			vs = append(vs, []byte(v))
		}
		resp := k.produce(-1, topic, map[int32][]byte{0: encodeBatch(noProducer, vs)})
		wantCode(t, "Produce", producePartition(t, resp, topic, 0).ErrorCode, nil)
	}
	produce(k, "a", "b", "c")
	if got := metadataLeaderEpoch(t, k, topic); got != 0 {
		t.Fatalf("leader epoch %d after creation, want 0", got)
	}

	if code := s.Stop(); code != 0 {
		t.Fatalf("graceful stop exited %d", code)
	}
	s.Restart() // ready once it has taken its partitions back
	k = dialKafka(t, s)
	if got := metadataLeaderEpoch(t, k, topic); got != 1 {
		t.Fatalf("leader epoch %d after a restart, want 1", got)
	}
	produce(k, "d", "e")

	// Every batch carries the epoch it was appended under.
	var epochs []string
	if err := batch.Iter(k.fetchBatches(topic, 0, 0), func(h batch.Header, _ []byte) error {
		epochs = append(epochs, fmt.Sprintf("%d@%d", h.PartitionLeaderEpoch, h.BaseOffset))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(epochs); got != "[0@0 1@3]" {
		t.Errorf("batches' leader epochs %s, want [0@0 1@3]", got)
	}

	for _, tc := range []struct {
		current int32
		want    *kerr.Error
	}{
		{-1, nil}, {1, nil}, {0, kerr.FencedLeaderEpoch}, {2, kerr.UnknownLeaderEpoch},
	} {
		fp := k.fetchAtEpoch(topic, 0, 0, 0, tc.current)
		wantCode(t, fmt.Sprintf("Fetch with current leader epoch %d", tc.current), fp.ErrorCode, tc.want)
		lo, _ := k.listOffsetsAt(topic, 0, -1, tc.current)
		wantCode(t, fmt.Sprintf("ListOffsets with current leader epoch %d", tc.current), lo.ErrorCode, tc.want)
		if tc.want == nil && (lo.LeaderEpoch != 1 || lo.Offset != 5) {
			t.Errorf("ListOffsets latest = offset %d at epoch %d, want 5 at 1", lo.Offset, lo.LeaderEpoch)
		}
	}

	for _, tc := range []struct {
		requested, wantEpoch int32
		wantEnd              int64
	}{
		{0, 0, 3},   // epoch 0 ended where epoch 1 began
		{1, 1, 5},   // the current epoch ends at the high watermark
		{2, -1, -1}, // unknown epoch
	} {
		ep := offsetForLeaderEpoch(t, k, topic, 1, tc.requested)
		wantCode(t, fmt.Sprintf("OffsetForLeaderEpoch %d", tc.requested), ep.ErrorCode, nil)
		if ep.LeaderEpoch != tc.wantEpoch || ep.EndOffset != tc.wantEnd {
			t.Errorf("OffsetForLeaderEpoch %d = epoch %d end %d, want epoch %d end %d",
				tc.requested, ep.LeaderEpoch, ep.EndOffset, tc.wantEpoch, tc.wantEnd)
		}
	}
	ep := offsetForLeaderEpoch(t, k, topic, 0, 0)
	wantCode(t, "OffsetForLeaderEpoch with a stale current epoch", ep.ErrorCode, kerr.FencedLeaderEpoch)
}

func metadataLeaderEpoch(t *testing.T, k *kafkaConn, topic string) int32 {
	t.Helper()
	mp := metadataPartition(t, k, topic)
	wantCode(t, "Metadata partition", mp.ErrorCode, nil)
	return mp.LeaderEpoch
}

func metadataPartition(t *testing.T, k *kafkaConn, topic string) kmsg.MetadataResponseTopicPartition {
	t.Helper()
	resp := k.metadata(topic)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("metadata for %s: %+v", topic, resp.Topics)
	}
	return resp.Topics[0].Partitions[0]
}

func offsetForLeaderEpoch(t *testing.T, k *kafkaConn, topic string, current, requested int32) kmsg.OffsetForLeaderEpochResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrOffsetForLeaderEpochRequest()
	req.ReplicaID = -1
	rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
	rp.Partition, rp.CurrentLeaderEpoch, rp.LeaderEpoch = 0, current, requested
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := k.request(req, 0).(*kmsg.OffsetForLeaderEpochResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("OffsetForLeaderEpoch response: %+v", resp.Topics)
	}
	return resp.Topics[0].Partitions[0]
}

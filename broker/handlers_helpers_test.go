package broker_test

import (
	"context"
	"encoding/binary"
	"errors"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/broker/brokertest"
	"github.com/strata-io/strata/internal/batch/batchtest"
)

// Versions the raw-connection tests speak: the newest that still name
// topics (Produce and Fetch v13+ name them by id).
const (
	produceVersion     = 9
	fetchVersion       = 12
	listOffsetsVersion = 6
)

// createTopic creates a topic and waits until the broker leads each of its
// partitions (a ListOffsets for it answers without error).
func createTopic(t *testing.T, b *brokertest.Broker, name string, partitions int32, configs map[string]*string) {
	t.Helper()
	resp, err := b.Admin(t).CreateTopic(context.Background(), partitions, -1, configs, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	c := b.Dial(t)
	for p := range partitions {
		for {
			code := listOffset(t, c, name, p, -1).ErrorCode
			if code == 0 {
				break
			}
			// Until the broker has loaded the new partition and taken its
			// leadership: UNKNOWN_TOPIC_OR_PARTITION, NOT_LEADER_OR_FOLLOWER.
			if err := kerr.ErrorForCode(code); !kerr.IsRetriable(err) {
				t.Fatalf("partition %s/%d: %v", name, p, err)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// produce sends one batch to one partition and returns the partition's
// answer, or nil for acks=0, which has none.
func produce(t *testing.T, c *brokertest.Conn, acks int16, topic string, partition int32, records []byte) *kmsg.ProduceResponseTopicPartition {
	t.Helper()
	return produceAs(t, c, acks, nil, topic, partition, records)
}

// produceAs is produce with a transactional id (nil: none).
func produceAs(t *testing.T, c *brokertest.Conn, acks int16, txnID *string, topic string, partition int32, records []byte) *kmsg.ProduceResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(produceVersion)
	req.Acks, req.TimeoutMillis, req.TransactionID = acks, 60_000, txnID
	rt := kmsg.NewProduceRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewProduceRequestTopicPartition()
	rp.Partition, rp.Records = partition, records
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	if acks == 0 {
		c.Send(req)
		return nil
	}
	resp := c.RoundTrip(req).(*kmsg.ProduceResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("produce response for one partition has %d topics", len(resp.Topics))
	}
	return &resp.Topics[0].Partitions[0]
}

// listOffset asks for one partition's offset at timestamp (-2 earliest,
// -1 latest).
func listOffset(t *testing.T, c *brokertest.Conn, topic string, partition int32, timestamp int64) kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	return listOffsetAt(t, c, topic, partition, timestamp, 0)
}

// listOffsetAt is listOffset at an isolation level (1: read committed).
func listOffsetAt(t *testing.T, c *brokertest.Conn, topic string, partition int32, timestamp int64, isolation int8) kmsg.ListOffsetsResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.SetVersion(listOffsetsVersion)
	req.ReplicaID, req.IsolationLevel = -1, isolation
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = partition, timestamp
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := c.RoundTrip(req).(*kmsg.ListOffsetsResponse)
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("list offsets response for one partition has %d topics", len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// fetch reads one partition from offset, waiting at most maxWait for a
// byte.
func fetch(t *testing.T, c *brokertest.Conn, topic string, partition int32, offset int64, maxWait time.Duration) kmsg.FetchResponseTopicPartition {
	t.Helper()
	return fetchAt(t, c, topic, partition, offset, maxWait, 0)
}

// fetchAt is fetch at an isolation level (1: read committed).
func fetchAt(t *testing.T, c *brokertest.Conn, topic string, partition int32, offset int64, maxWait time.Duration, isolation int8) kmsg.FetchResponseTopicPartition {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(fetchVersion)
	req.ReplicaID, req.IsolationLevel = -1, isolation
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes = int32(maxWait.Milliseconds()), 1, 1<<20
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewFetchRequestTopicPartition()
	rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes = partition, offset, 1<<20
	rp.CurrentLeaderEpoch, rp.LogStartOffset = -1, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := c.RoundTrip(req).(*kmsg.FetchResponse)
	if resp.ErrorCode != 0 {
		t.Fatalf("fetch: %v", kerr.ErrorForCode(resp.ErrorCode))
	}
	if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions) != 1 {
		t.Fatalf("fetch response for one partition has %d topics", len(resp.Topics))
	}
	return resp.Topics[0].Partitions[0]
}

// offsetCommit is a commit of offset for partition 0 of topic in group at
// version, as a simple consumer sends it: no member, no generation.
func offsetCommit(version int16, group, topic string, offset int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.SetVersion(version)
	req.Group, req.Generation = group, -1
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset, rp.LeaderEpoch = 0, offset, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// offsetCommitCode sends req, a commit of one partition, and returns the
// partition's code.
func offsetCommitCode(c *brokertest.Conn, req *kmsg.OffsetCommitRequest) int16 {
	return c.RoundTrip(req).(*kmsg.OffsetCommitResponse).Topics[0].Partitions[0].ErrorCode
}

// recordOffsets returns the offsets of the records in the batches of a
// fetch response.
func recordOffsets(t *testing.T, raw []byte) []int64 {
	t.Helper()
	var offsets []int64
	for len(raw) >= 12 {
		size := int(binary.BigEndian.Uint32(raw[8:])) + 12
		if size > len(raw) {
			break // a partial batch at the end of a response is allowed
		}
		var rb kmsg.RecordBatch
		if err := rb.ReadFrom(raw[:size]); err != nil {
			t.Fatalf("fetched batch: %v", err)
		}
		for i := range rb.LastOffsetDelta + 1 {
			offsets = append(offsets, rb.FirstOffset+int64(i))
		}
		raw = raw[size:]
	}
	return offsets
}

// records builds the batch s describes.
func records(t *testing.T, s batchtest.Spec) []byte {
	t.Helper()
	raw, _ := batchtest.Make(t, s)
	return raw
}

// plain describes a non-idempotent batch of n records, record i at
// timestamp ts+i.
func plain(n int, ts int64) batchtest.Spec {
	s := batchtest.Plain(n)
	s.Timestamp = ts
	return s
}

// sized gives each record of s a value of n bytes.
func sized(s batchtest.Spec, n int) batchtest.Spec {
	s.ValueSize = n
	return s
}

// wantCode fails the test unless code is want.
func wantCode(t *testing.T, what string, code int16, want error) {
	t.Helper()
	if got := kerr.ErrorForCode(code); !errors.Is(got, want) {
		t.Errorf("%s: error %v, want %v", what, got, want)
	}
}

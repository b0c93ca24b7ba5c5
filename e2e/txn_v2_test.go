package e2e

import (
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestTxnV2BackToBack: a franz-go transactional producer of transaction
// version 2 (KIP-890 part 2: no AddPartitionsToTxn, every EndTxn v5 bumps
// the epoch) commits transactions one right after another, each writing
// to two partitions. EndTxn answers once the end is decided, so each
// transaction's first produce reaches the partitions while the previous
// transaction's markers are still being written. The leader must wait for
// them (as Kafka's does) rather than answer CONCURRENT_TRANSACTIONS or
// NOT_ENOUGH_REPLICAS: franz-go retries a produce with either only after
// a metadata refresh, at most every MetadataMinAge (5 s by default), so
// each transaction took about 5 s. The broker's count of produced batches
// by outcome shows every answer it gave.
func TestTxnV2BackToBack(t *testing.T) {
	s := StartStrata(t, Options{})
	const topic, transactions = "txn-v2-back-to-back", 5
	ensureTopic(t, s, topic, 2, nil)

	var addPartitions, produces atomic.Int64
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.Addr), kgo.TransactionalID("back-to-back"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.DefaultProduceTopic(topic),
		kgo.WithHooks(brokerWriteHook(func(key int16) {
			switch key {
			case int16(kmsg.AddPartitionsToTxn):
				addPartitions.Add(1)
			case int16(kmsg.Produce):
				produces.Add(1)
			}
		})))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx := testContext(t, 5*time.Minute) // a guard against a hang, not a measure

	before := producedByResult(t, s)
	for i := range transactions {
		if err := cl.BeginTransaction(); err != nil {
			t.Fatalf("begin %d: %v", i, err)
		}
		for p := range int32(2) {
			r := &kgo.Record{Partition: p, Value: []byte("txn-" + strconv.Itoa(i))}
			if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatalf("transaction %d, partition %d: %v", i, p, err)
			}
		}
		if err := cl.EndTransaction(ctx, kgo.TryCommit); err != nil {
			t.Fatalf("commit %d: %v", i, err)
		}
	}
	after := producedByResult(t, s)

	if n := addPartitions.Load(); n != 0 {
		t.Fatalf("the client sent AddPartitionsToTxn %d times: it did not use transaction version 2", n)
	}
	answers := map[string]float64{}
	for result, n := range after {
		if d := n - before[result]; d > 0 {
			answers[result] = d
		}
	}
	for _, code := range []*kerr.Error{kerr.ConcurrentTransactions, kerr.NotEnoughReplicas} {
		if answers[code.Message] > 0 {
			t.Errorf("the broker answered %v to %v transactional batches of %d back-to-back transactions (answers by outcome: %v; the client sent %d produce requests)",
				code.Message, answers[code.Message], transactions, answers, produces.Load())
		}
	}
	if answers["ok"] != 2*transactions || len(answers) != 1 {
		t.Errorf("produced batches by outcome %v, want %d ok and nothing else", answers, 2*transactions)
	}
}

// brokerWriteHook calls fn with the key of every request a client writes.
type brokerWriteHook func(key int16)

func (h brokerWriteHook) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err == nil {
		h(key)
	}
}

// producedByResult reads the broker's strata_produced_batches_total by
// result (an error code's name, or ok).
func producedByResult(t *testing.T, s *Strata) map[string]float64 {
	t.Helper()
	resp, err := http.Get("http://" + s.HTTPAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	const name = "strata_produced_batches_total"
	for _, result := range []string{"ok", kerr.ConcurrentTransactions.Message, kerr.NotEnoughReplicas.Message,
		kerr.InvalidProducerEpoch.Message, kerr.InvalidTxnState.Message, kerr.OutOfOrderSequenceNumber.Message} {
		if v, ok := sumMetric(string(body), name, map[string]string{"result": result}); ok {
			out[result] = v
		}
	}
	var total float64
	if v, ok := sumMetric(string(body), name, nil); ok {
		total = v
	}
	var known float64
	for _, v := range out {
		known += v
	}
	if other := total - known; other > 0 {
		out["other"] = other
	}
	return out
}

package e2e

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/strata-io/strata/internal/testenv"
)

// BenchmarkGroupCommit measures offset commits, the etcd write load of
// consumer groups: 256 simple-consumer groups, each committing one offset
// after another through OffsetCommit, on one broker on a real etcd, with the
// default 50 coordinator shards and with all groups on one shard. The
// reference, measured in the same run, is the same etcd's rate of one-key
// transactions issued one after another by one client: what committing
// every offset in a transaction of its own would be held to. It reports
// committed offsets per second, their ratio to the reference, and how many
// offsets one etcd transaction carried.
func BenchmarkGroupCommit(b *testing.B) {
	for _, shards := range []int{50, 1} {
		b.Run(fmt.Sprintf("shards=%d", shards), func(b *testing.B) {
			// An etcd of its own: the shard count is fixed by the first broker.
			etcd := testenv.StartEtcd(b)
			refRate := sequentialTxnRate(b, etcd.Endpoint)
			s := StartStrata(b, Options{EtcdEndpoints: etcd.Endpoint, Args: []string{"--log-level", "info", "--offsets-topic-partitions", strconv.Itoa(shards)}})
			benchCommits(b, s, refRate)
		})
	}
}

// sequentialTxnRate is the rate of one-key etcd transactions issued one
// after another by one client.
func sequentialTxnRate(b *testing.B, endpoint string) float64 {
	b.Helper()
	ec, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer ec.Close()
	const txns = 2000
	start := time.Now()
	for i := range txns {
		if _, err := ec.Txn(context.Background()).Then(clientv3.OpPut("/bench/ref/"+strconv.Itoa(i%256), strconv.Itoa(i))).Commit(); err != nil {
			b.Fatal(err)
		}
	}
	return txns / time.Since(start).Seconds()
}

// benchCommits runs BenchmarkGroupCommit's commits against s.
func benchCommits(b *testing.B, s *Strata, refRate float64) {
	const groups = 256
	ctx := context.Background()
	cl := s.Client()
	topic := "bench-commits"
	if _, err := cl.Request(ctx, createTopicsRequest(topic, 1, nil)); err != nil {
		b.Fatal(err)
	}
	commit := func(group string, offset int64) error {
		resp, err := groupsCommitRequest(group, -1, "", topic, 0, offset).RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		return kerr.ErrorForCode(resp.Topics[0].Partitions[0].ErrorCode)
	}
	for g := range groups { // warm up: coordinators found, shards loaded
		if err := commit(fmt.Sprint("bench-", g), 0); err != nil {
			b.Fatal(err)
		}
	}
	txns0 := metricValue(b, s, "strata_group_commit_seconds_count")

	b.ResetTimer()
	var next atomic.Int64
	var wg sync.WaitGroup
	var failed atomic.Value
	for g := range groups {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if err := commit(fmt.Sprint("bench-", g), i); err != nil {
					failed.Store(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	rate := float64(b.N) / b.Elapsed().Seconds()
	txns := metricValue(b, s, "strata_group_commit_seconds_count") - txns0
	b.ReportMetric(0, "ns/op")
	b.ReportMetric(rate, "offsets/s")
	b.ReportMetric(refRate, "ref-txns/s")
	b.ReportMetric(rate/refRate, "offsets/ref-txn")
	b.ReportMetric(float64(b.N)/txns, "offsets/etcd-txn")
}

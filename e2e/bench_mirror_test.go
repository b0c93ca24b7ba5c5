package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkMirror measures `strata mirror` (the real binary) copying b.N
// records of 1 KiB in 4 partitions from one Strata to another (both the
// single-node default: embedded etcd, filesystem store), at least once and
// exactly once, as a ratio to the reference measured in the same run: a
// plain franz-go consumer reading the same records from the source and a
// producer writing them to the same partitions of a target topic
// (acks=all, idempotent), which is the least a copy costs. The mirror's
// time runs from its start (process, group join, topic creation included)
// until the target holds every record. `mirror/plain` is the ratio of
// records/s; each case checks the copy's record count.
//
//	CI=true go test -run '^$' -bench '^BenchmarkMirror$' -benchtime 100000x ./e2e/
func BenchmarkMirror(b *testing.B) {
	const partitions = 4
	source := StartStrata(b, Options{Args: []string{"--log-level", "info"}})
	target := StartStrata(b, Options{Args: []string{"--log-level", "info"}})
	ctx := context.Background()
	srcCl := mirrorClient(b, source.Addr, kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	srcAdm, tgtAdm := kadm.NewClient(srcCl), kadm.NewClient(mirrorClient(b, target.Addr))

	topic := fmt.Sprintf("bench-%d", b.N)
	if _, err := srcAdm.CreateTopic(ctx, partitions, -1, nil, topic); err != nil {
		b.Fatal(err)
	}
	value := []byte(strings.Repeat("v", 1024))
	var rs []*kgo.Record
	for i := 0; i < b.N; i++ {
		rs = append(rs, &kgo.Record{Topic: topic, Partition: int32(i % partitions), Key: []byte(fmt.Sprint(i)), Value: value})
		if len(rs) == 10000 || i == b.N-1 {
			if err := srcCl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
				b.Fatal(err)
			}
			rs = rs[:0]
		}
	}

	// The reference: consume and produce the same records.
	plainTopic := "plain-" + topic
	if _, err := tgtAdm.CreateTopic(ctx, partitions, -1, nil, plainTopic); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	startPlain := time.Now()
	plainCopy(b, source.Addr, target.Addr, topic, plainTopic, b.N)
	plain := time.Since(startPlain)
	if n := endSum(b, tgtAdm, plainTopic); n != int64(b.N) {
		b.Fatalf("the reference copied %d records, want %d", n, b.N)
	}
	plainRate := float64(b.N) / plain.Seconds()

	for _, mode := range []struct {
		name string
		args []string
	}{
		{"at-least-once", nil},
		{"exactly-once", []string{"--exactly-once"}},
	} {
		prefix := strings.ReplaceAll(mode.name, "-", "") + "."
		args := append([]string{"--source-bootstrap", source.Addr, "--target-bootstrap", target.Addr,
			"--topics", topic, "--name", "bench-" + mode.name, "--instance-id", "a", "--target-prefix", prefix,
			"--batch-records", "10000"}, mode.args...)
		start := time.Now()
		m := startMirror(b, "mirror "+mode.name, args...)
		deadline := start.Add(10 * time.Minute)
		var n int64
		for n < int64(b.N) {
			if time.Now().After(deadline) {
				b.Fatalf("%s: the mirror copied %d of %d records in 10 minutes", mode.name, n, b.N)
			}
			time.Sleep(20 * time.Millisecond)
			n = copiedRecords(m)
		}
		el := time.Since(start)
		m.proc.Kill(b)
		if got := endSum(b, tgtAdm, prefix+topic); got < int64(b.N) {
			b.Fatalf("%s: the target holds %d records, want %d", mode.name, got, b.N)
		}
		rate := float64(b.N) / el.Seconds()
		b.ReportMetric(rate, mode.name+"-records/s")
		b.ReportMetric(rate/plainRate, mode.name+"/plain")
		b.Logf("%s: %d records in %s (%.0f records/s); plain consume+produce %s (%.0f records/s); ratio %.2f (timings on a shared machine are noisy)",
			mode.name, b.N, el.Round(time.Millisecond), rate, plain.Round(time.Millisecond), plainRate, rate/plainRate)
	}
	b.ReportMetric(plainRate, "plain-records/s")
	b.ReportMetric(0, "ns/op")
}

// copiedRecords is what the mirror reports it copied.
func copiedRecords(m *mirrorProc) int64 {
	v, _ := m.metric("strata_mirror_records_total")
	return int64(v)
}

// plainCopy reads n records of topic from the source and writes them to
// the same partitions of to on the target, waiting for every ack.
func plainCopy(b *testing.B, src, dst, topic, to string, n int) {
	ctx := context.Background()
	cons, err := kgo.NewClient(kgo.SeedBrokers(src), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		b.Fatal(err)
	}
	defer cons.Close()
	prod, err := kgo.NewClient(kgo.SeedBrokers(dst), kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(1<<20), kgo.MaxBufferedRecords(1<<16))
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close()
	got := 0
	for got < n {
		fs := cons.PollFetches(ctx)
		fs.EachError(func(_ string, _ int32, err error) { b.Fatal(err) })
		fs.EachRecord(func(r *kgo.Record) {
			got++
			prod.Produce(ctx, &kgo.Record{Topic: to, Partition: r.Partition, Key: r.Key, Value: r.Value, Headers: r.Headers, Timestamp: r.Timestamp},
				func(_ *kgo.Record, err error) {
					if err != nil {
						b.Error(err)
					}
				})
		})
	}
	if err := prod.Flush(ctx); err != nil {
		b.Fatal(err)
	}
}

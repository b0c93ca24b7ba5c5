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

// TestLogCompaction, on a real etcd and MinIO: a cleanup.policy=compact
// topic written in rounds, each with another codec, ends with the latest
// value of every key and nothing older, a tombstone dropped once
// delete.retention.ms has passed, records without a key all kept, and every
// record at the offset it was produced at, in order.
func TestLogCompaction(t *testing.T) {
	const topic, keys = "log-compact", 10
	s, _, _ := startExternal(t, "logcompact", "--compaction-interval", "300ms", "--compaction-min-age", "0s")
	ctx := testContext(t, 3*time.Minute)
	adm := kadm.NewClient(s.Client())
	if _, err := adm.CreateTopic(ctx, 1, 1, map[string]*string{
		"cleanup.policy": kadm.StringPtr("compact"), "min.compaction.lag.ms": kadm.StringPtr("0"),
		"delete.retention.ms": kadm.StringPtr("1000"), "segment.bytes": kadm.StringPtr("65536"),
	}, topic); err != nil {
		t.Fatal(err)
	}
	produced := map[int64]string{} // offset → key=value, "-" for no key
	latest := map[string]string{}  // key → last value produced (nil value: "")
	codecs := []kgo.CompressionCodec{kgo.NoCompression(), kgo.GzipCompression(), kgo.SnappyCompression(), kgo.Lz4Compression(), kgo.ZstdCompression()}
	for round, codec := range codecs {
		cl := s.Client(kgo.ProducerBatchCompression(codec), kgo.DefaultProduceTopic(topic))
		var rs []*kgo.Record
		for k := range keys {
			r := &kgo.Record{Key: []byte(fmt.Sprint("k", k)), Value: []byte(fmt.Sprint("v", round))}
			if k == keys-1 && round == len(codecs)-1 {
				r.Value = nil // a tombstone for the last key
			}
			rs = append(rs, r)
		}
		// Each round ends with a record of a key of its own (compacted
		// topics refuse records without a key): it stays, so every other
		// keyed record is subject to compaction alone.
		rs = append(rs, &kgo.Record{Key: []byte(fmt.Sprint("marker", round)), Value: []byte(fmt.Sprint("marker", round))})
		results := cl.ProduceSync(ctx, rs...)
		if err := results.FirstErr(); err != nil {
			t.Fatal(err)
		}
		for _, res := range results {
			r := res.Record
			if r.Key == nil {
				produced[r.Offset] = "-=" + string(r.Value)
				continue
			}
			produced[r.Offset] = string(r.Key) + "=" + string(r.Value)
			latest[string(r.Key)] = string(r.Value)
		}
	}
	// Eventually only the latest value of each key is left, the tombstoned
	// key is gone, and every marker is there.
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := readCompacted(t, s, topic, int64(len(produced)))
		problem := ""
		keyed, markers := map[string]string{}, 0
		last := int64(-1)
		for _, r := range got {
			want, ok := produced[r.Offset]
			switch {
			case !ok || want != r.KV:
				t.Fatalf("offset %d holds %q, produced %q", r.Offset, r.KV, want)
			case r.Offset <= last:
				t.Fatalf("offset %d after %d", r.Offset, last)
			}
			last = r.Offset
			if strings.HasPrefix(r.Key, "marker") {
				markers++
			}
			if _, dup := keyed[r.Key]; dup && problem == "" {
				problem = "key " + r.Key + " more than once"
			}
			keyed[r.Key] = r.Value
		}
		if markers != len(codecs) {
			t.Fatalf("%d marker records read, produced %d", markers, len(codecs))
		}
		if problem == "" {
			for k, v := range latest {
				if got, present := keyed[k]; v != "" && (!present || got != v) {
					t.Fatalf("key %s: read %q (present %v), its latest value is %q", k, got, present, v)
				}
				if _, present := keyed[k]; v == "" && present {
					problem = "the tombstone of " + k + " is still there"
				}
			}
		}
		if problem == "" {
			t.Logf("compacted: %d of %d records left", len(got), len(produced))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not compacted within 60s: %s", problem)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

type compactedRecord struct {
	Offset     int64
	Key, Value string
	KV         string
}

// readCompacted reads partition 0 of topic from the beginning to end.
func readCompacted(t *testing.T, s *Strata, topic string, end int64) []compactedRecord {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(s.Addr), kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: {0: kgo.NewOffset().AtStart()}}))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []compactedRecord
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v after %d records", topic, ctx.Err(), len(out))
		}
		done := false
		fs.EachRecord(func(r *kgo.Record) {
			k := "-"
			if r.Key != nil {
				k = string(r.Key)
			}
			out = append(out, compactedRecord{Offset: r.Offset, Key: string(r.Key), Value: string(r.Value), KV: k + "=" + string(r.Value)})
			done = done || r.Offset == end-1
		})
		if done {
			return out
		}
	}
}

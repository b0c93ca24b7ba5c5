package e2e

// Client quotas: a producer_byte_rate quota set for alice with
// AlterClientQuotas holds her to it while bob, on the same broker at the
// same time, is not held back.

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
)

const (
	// quotaRate is alice's producer_byte_rate, bytes a second.
	quotaRate = 512 << 10
	// quotaMeasure is how long the producers run, and the rates are
	// measured over, from their first record. Kafka measures a rate over
	// at least 10 one-second windows, so a new client may send a burst of
	// up to ten seconds' worth of its quota at once and is then throttled
	// until the burst is paid for: a rate measured from the start over
	// those ten seconds is the quota, one measured after the burst is far
	// below it, one over a longer run climbs again with the next burst.
	quotaMeasure = 10 * time.Second
	// quotaTolerance is the criterion: alice's measured rate is
	// within 20% of her quota.
	quotaTolerance = 0.20
	// quotaBobAbove is how far above alice's quota bob's rate must be to
	// show that he is not throttled with her: a generous floor, far below
	// what an unthrottled producer reaches on a loaded CI machine.
	quotaBobAbove = 2.0
)

func TestSecurityQuotas(t *testing.T) {
	pki := newSecPKI(t) // for the users file
	s := startSecureStrata(t, Options{}, []string{"SASL_PLAINTEXT"},
		"--sasl-bootstrap-users", pki.usersFile, "--log-level", "info")
	addr := s.addr["SASL_PLAINTEXT"]
	clientFor := func(user string, opts ...kgo.Opt) *kgo.Client {
		return secClient(t, user, append([]kgo.Opt{kgo.SeedBrokers(addr),
			kgo.SASL(plain.Auth{User: user, Pass: secUsers[user]}.AsMechanism())}, opts...)...)
	}
	const topic = "sec-quota"
	admin := clientFor("admin")
	secCreateTopics(t, admin, topic)

	ctx := testContext(t, ctStep)
	alice := "alice"
	altered, err := kadm.NewClient(admin).AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{
		Entity: kadm.ClientQuotaEntity{{Type: "user", Name: &alice}},
		Ops:    []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: quotaRate}},
	}})
	if err != nil {
		t.Fatalf("kadm: alter client quotas: %v", err)
	}
	for _, a := range altered {
		if a.Err != nil {
			t.Fatalf("kadm: alter client quotas of %v: %v (%s)", a.Entity, a.Err, a.ErrMessage)
		}
	}
	described, err := kadm.NewClient(admin).DescribeClientQuotas(ctx, false, []kadm.DescribeClientQuotaComponent{
		{Type: "user", MatchName: &alice, MatchType: 0},
	})
	if err != nil || len(described) != 1 || len(described[0].Values) != 1 || described[0].Values[0].Value != quotaRate {
		t.Fatalf("kadm: describe client quotas of alice: %+v, %v; want producer_byte_rate %d", described, err, quotaRate)
	}

	// Uncompressed, so that the bytes acknowledged are the bytes the
	// broker counts; 1 KiB values in batches of at most 64 KiB, so that a
	// throttled client's requests stay small beside its quota.
	value := []byte(strings.Repeat("q", 1<<10))
	producerOpts := []kgo.Opt{kgo.ProducerBatchCompression(kgo.NoCompression()), kgo.ProducerBatchMaxBytes(64 << 10)}
	type producer struct {
		name  string
		cl    *kgo.Client
		acked atomic.Int64 // value bytes acknowledged
		errs  atomic.Int64
		first atomic.Pointer[error]
	}
	producers := []*producer{
		{name: "alice", cl: clientFor("alice", producerOpts...)},
		{name: "bob", cl: clientFor("bob", producerOpts...)},
	}
	runCtx, stop := context.WithCancel(ctx)
	start := time.Now()
	var wg sync.WaitGroup
	for _, p := range producers {
		wg.Go(func() {
			for runCtx.Err() == nil {
				// Produce blocks while the client's buffer is full: as
				// fast as the broker acknowledges.
				p.cl.Produce(runCtx, &kgo.Record{Topic: topic, Value: value}, func(r *kgo.Record, err error) {
					switch {
					case err == nil:
						p.acked.Add(int64(len(r.Value)))
					case runCtx.Err() == nil:
						p.errs.Add(1)
						p.first.CompareAndSwap(nil, &err)
					}
				})
			}
		})
	}
	// Each second's bytes, for the log: how the quota was enforced over
	// time (the first burst, then the throttling).
	var series []string
	for tick := time.NewTicker(time.Second); len(series) < int(quotaMeasure/time.Second); {
		<-tick.C
		series = append(series, fmt.Sprintf("%.0fs alice %d bob %d", time.Since(start).Seconds(), producers[0].acked.Load(), producers[1].acked.Load()))
		if len(series) == int(quotaMeasure/time.Second) {
			tick.Stop()
		}
	}
	elapsed := time.Since(start).Seconds()
	rates := []float64{float64(producers[0].acked.Load()) / elapsed, float64(producers[1].acked.Load()) / elapsed}
	stop()
	wg.Wait()
	for _, p := range producers {
		abortCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_ = p.cl.AbortBufferedRecords(abortCtx)
		cancel()
	}

	t.Logf("bytes acknowledged since the start:\n\t%s", strings.Join(series, "\n\t"))
	t.Logf("over %.1fs: alice %.0f B/s (quota %d B/s, %+.1f%%), bob %.0f B/s (%.1fx alice's quota)",
		elapsed, rates[0], quotaRate, 100*(rates[0]/quotaRate-1), rates[1], rates[1]/quotaRate)
	for _, p := range producers {
		if n := p.errs.Load(); n > 0 {
			t.Errorf("%s: %d produces failed; first: %v", p.name, n, *p.first.Load())
		}
	}
	if math.Abs(rates[0]-quotaRate) > quotaTolerance*quotaRate {
		t.Errorf("alice produced %.0f B/s, want her producer_byte_rate %d B/s within %.0f%%", rates[0], quotaRate, 100*quotaTolerance)
	}
	if rates[1] < quotaBobAbove*quotaRate {
		t.Errorf("bob, who has no quota, produced %.0f B/s, want at least %.0fx alice's quota (%d B/s)", rates[1], quotaBobAbove, quotaRate)
	}
}

package loadgen

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"
)

// deadlineSlack is how long after its deadline a run may take to return:
// closing clients after the deadline is immediate, so this only absorbs a
// loaded machine. A run that hangs takes minutes.
const deadlineSlack = 30 * time.Second

// blackHole listens on 127.0.0.1 and accepts connections that it reads
// and never answers, as a deadlocked broker does.
func blackHole(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() { io.Copy(io.Discard, c) })
		}
	})
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// newCluster starts a one-broker kfake cluster, closed at the test's end.
func newCluster(t *testing.T) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// swallow makes c read the requests for which drop is true and never
// answer them.
func swallow(c *kfake.Cluster, key int16, drop func() bool) {
	c.ControlKey(key, func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, drop()
	})
}

// deadlineWorkload is a short workload: one second of producing and one of
// drain timeout, small records and a small producer buffer, so that a
// cluster that stops acknowledging blocks the producer at once.
func deadlineWorkload() Workload {
	w := DefaultWorkload()
	w.Partitions = 2
	w.Warmup = 0
	w.Duration = time.Second
	w.DrainTimeout = time.Second
	w.MessageSize = SizeDist{64, 64}
	w.BufferedRecords = 100
	return w
}

// runUntilDeadline runs w and checks that Run returned by its deadline
// plus deadlineSlack, and that it stopped every goroutine it started.
func runUntilDeadline(t *testing.T, w Workload, o Options) (*Result, error) {
	t.Helper()
	limit := deadline(w, o)
	before := goleak.IgnoreCurrent()
	began := time.Now()
	res, err := Run(context.Background(), w, o)
	took := time.Since(began)
	t.Logf("Run took %s (deadline %s): %v", took.Round(time.Millisecond), limit, err)
	if took > limit+deadlineSlack {
		t.Errorf("Run took %s, more than its deadline %s and %s of slack", took, limit, deadlineSlack)
	}
	if res == nil {
		t.Fatalf("Run returned no result: %v", err)
	}
	// kfake keeps a connection's goroutines until the cluster closes when
	// a request on it is never answered, even once the client has gone.
	goleak.VerifyNone(t, before,
		goleak.IgnoreTopFunction("github.com/twmb/franz-go/pkg/kfake.(*clientConn).read"),
		goleak.IgnoreTopFunction("github.com/twmb/franz-go/pkg/kfake.(*clientConn).write"))
	return res, err
}

// checkCutShort checks a result and error of a run its deadline cut short.
func checkCutShort(t *testing.T, res *Result, err error, phases ...string) {
	t.Helper()
	if !errors.Is(err, ErrDeadline) {
		t.Errorf("error %v, want ErrDeadline", err)
	}
	if !res.CutShort || res.Error == "" || err != nil && res.Error != err.Error() {
		t.Errorf("result cut short %v, error %q; want cut short, with the error %v", res.CutShort, res.Error, err)
	}
	if err != nil && strings.Contains(err.Error(), "\n") {
		t.Errorf("error %q is more than one line", err)
	}
	if err != nil && !slices.ContainsFunc(phases, func(p string) bool { return strings.HasSuffix(err.Error(), "passed during "+p) }) {
		t.Errorf("error %q, want the deadline passed during one of %v", err, phases)
	}
	if res.Consume != nil && res.Consume.Drained {
		t.Error("drained, though cut short")
	}
}

// TestRunDeadlineBlackHole runs against a listener that never answers:
// setup never ends, and the deadline cuts it short.
func TestRunDeadlineBlackHole(t *testing.T) {
	w := deadlineWorkload()
	o := testOptions(blackHole(t))
	o.Grace = 2 * time.Second // the setup timeout (30 s) would be later
	res, err := runUntilDeadline(t, w, o)
	checkCutShort(t, res, err, "setup")
	if res.Produce.Records != 0 || len(res.Intervals) != 0 {
		t.Errorf("figures %+v of a run that never produced", res.Produce)
	}
}

// TestRunDeadlineProduceUnanswered runs against a cluster that answers
// everything but produce requests: the producers block with their buffers
// full, the consumers wait, and the deadline cuts the run short.
func TestRunDeadlineProduceUnanswered(t *testing.T) {
	for _, acks := range []string{"all", "1"} {
		t.Run("acks="+acks, func(t *testing.T) {
			c := newCluster(t)
			swallow(c, int16(kmsg.Produce), func() bool { return true })
			w := deadlineWorkload()
			w.Acks, w.Verify = acks, true
			o := testOptions(c.ListenAddrs()...)
			o.Grace = 5 * time.Second // setup against kfake takes well under this
			res, err := runUntilDeadline(t, w, o)
			// Setup on a loaded machine may exceed the grace; else the
			// producers are blocked when the deadline passes.
			checkCutShort(t, res, err, "measure", "setup")
			if res.Produce.Records != 0 {
				t.Errorf("%d records acknowledged by a cluster that answers no produce request", res.Produce.Records)
			}
			if res.Verify != nil && res.Verify.OK {
				t.Error("a verified run cut short passed its verification")
			}
		})
	}
}

// TestRunDeadlineSilentAfterSetup runs against a cluster that stops
// answering anything once the first records arrive: producing at a rate
// that never fills the buffer, the flush, the end offsets and the
// consumers' reading all wait on it. The drain timeout ends the run's work
// and the run returns by its deadline, not drained, with its clients
// stopped.
func TestRunDeadlineSilentAfterSetup(t *testing.T) {
	c := newCluster(t)
	var silent atomic.Bool
	swallow(c, int16(kmsg.Produce), func() bool { silent.Store(true); return true })
	c.Control(func(kmsg.Request) (kmsg.Response, error, bool) {
		c.KeepControl()
		return nil, nil, silent.Load()
	})
	w := deadlineWorkload()
	w.Rate = 50
	o := testOptions(c.ListenAddrs()...)
	o.Grace = 5 * time.Second
	res, err := runUntilDeadline(t, w, o)
	if !silent.Load() {
		t.Fatal("no produce request reached the cluster")
	}
	if err != nil && !errors.Is(err, ErrDeadline) {
		t.Errorf("Run: %v, want no error, or ErrDeadline on a machine slow enough for setup to take the grace", err)
	}
	if res.Produce.Records != 0 || res.Consume == nil || res.Consume.Drained {
		t.Errorf("produce %+v, consume %+v: want nothing acknowledged, not drained", res.Produce, res.Consume)
	}
	if err == nil && (res.Produce.Errors == 0 || res.Produce.FirstError == "") {
		t.Errorf("produce %+v: want the records the flush gave up on counted as errors", res.Produce)
	}
}

func TestRunDeadlineNotReachedByAHealthyRun(t *testing.T) {
	w := testWorkload(500)
	o := testOptions("kfake")
	res := runOK(t, w, o)
	if res.CutShort || res.Error != "" || !res.Consume.Drained {
		t.Errorf("cut short %v, error %q, drained %v: want a whole run", res.CutShort, res.Error, res.Consume.Drained)
	}
}

func TestOptionsValidate(t *testing.T) {
	o := Options{Interval: -1, Grace: -time.Second}
	err := o.Validate()
	if err == nil || err.Error() != "--interval must be 0 or more, got -1ns; --grace must be 0 or more, got -1s" {
		t.Errorf("Validate: %v", err)
	}
	if _, err := Run(context.Background(), testWorkload(1), o); err == nil {
		t.Error("Run with bad options ran")
	}
	if err := (&Options{}).Validate(); err != nil {
		t.Errorf("zero Options: %v", err)
	}
}

// TestCutShortReported checks that every form of a result marks a run cut
// short: result.json, the summary, the HTML report and the comparison.
func TestCutShortReported(t *testing.T) {
	reason := "loadgen: cut short by the run's deadline: 4s (warm-up 0s + duration 1s + drain-timeout 1s + grace 2s) passed during measure"
	cut := &Result{Version: ResultVersion, Label: "cut", Workload: DefaultWorkload(), CutShort: true, Error: reason}
	whole := &Result{Version: ResultVersion, Label: "whole", Workload: DefaultWorkload()}

	path := filepath.Join(t.TempDir(), "result.json")
	if err := cut.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if back, err := ReadResult(path); err != nil || !back.CutShort || back.Error != reason {
		t.Errorf("read back %+v, %v", back, err)
	}
	if err := whole.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || strings.Contains(string(b), "cut_short") {
		t.Errorf("result.json of a whole run names cut_short:\n%s", b)
	}

	var sum, html strings.Builder
	WriteSummary(&sum, cut)
	for _, want := range []string{"cut short: the run's deadline passed before it ended", "ended early: " + reason} {
		if !strings.Contains(sum.String(), want) {
			t.Errorf("summary lacks %q:\n%s", want, sum.String())
		}
	}
	if err := WriteHTML(&html, []*Result{cut}); err != nil || !strings.Contains(html.String(), "cut short, these are the figures measured until then") {
		t.Errorf("report.html lacks the cut short mark (%v)", err)
	}
	rows := CompareRows([]*Result{whole, cut})
	if last := rows[len(rows)-1]; !slices.Equal(last, []string{"cut short", "no", "yes", ""}) {
		t.Errorf("comparison's last row %q, want the cut short row", last)
	}
	if rows := CompareRows([]*Result{whole}); slices.ContainsFunc(rows, func(r []string) bool { return r[0] == "cut short" }) {
		t.Error("a comparison of whole runs has a cut short row")
	}
}

package mirror

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A record that reaches the target after a preserve-offsets instance
// first read the ends (a killed instance's write, committed at the
// broker's next seal) moves the start: targetEnds returns the end after
// it, not before.
func TestTargetEndsWaitForLateWrites(t *testing.T) {
	m, cl := targetEndsSetup(t)
	ctx := testCtx(t)
	late := make(chan error, 1)
	go func() {
		time.Sleep(targetEndsSettle / 2)
		late <- cl.ProduceSync(ctx, &kgo.Record{Value: []byte("1")}).FirstErr()
	}()
	ends, err := m.targetEnds(ctx, map[string]map[int32]kgo.Offset{"orders": {0: kgo.NewOffset()}})
	if err != nil {
		t.Fatal(err)
	}
	if err := <-late; err != nil {
		t.Fatal(err)
	}
	if got := ends[TopicPartition{"orders", 0}]; got != 2 {
		t.Fatalf("end %d, want 2 (the late record included)", got)
	}
}

// Ends that never stop moving (another writer) do not hold the mirror
// back forever: targetEnds answers after ten settle times, well before
// the context ends.
func TestTargetEndsKeepMoving(t *testing.T) {
	defer func(d time.Duration) { targetEndsSettle = d }(targetEndsSettle)
	targetEndsSettle = 100 * time.Millisecond
	m, cl := targetEndsSetup(t)
	ctx := testCtx(t)
	writer, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for writer.Err() == nil {
			cl.ProduceSync(writer, &kgo.Record{Value: []byte("w")})
			time.Sleep(20 * time.Millisecond)
		}
	}()
	defer func() { stop(); <-done }()
	ends, err := m.targetEnds(ctx, map[string]map[int32]kgo.Offset{"orders": {0: kgo.NewOffset()}})
	if err != nil {
		t.Fatalf("targetEnds: %v (it should have given up waiting for the ends to settle)", err)
	}
	if got := ends[TopicPartition{"orders", 0}]; got < 2 {
		t.Fatalf("end %d, want the moving end (at least 2)", got)
	}
}

// targetEndsSetup is a kfake target with a topic keep.orders of one
// partition holding one record, and a Mirror that mirrors orders into it
// with the prefix "keep.".
func targetEndsSetup(t *testing.T) (*Mirror, *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "keep.orders"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("keep.orders"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := cl.ProduceSync(testCtx(t), &kgo.Record{Value: []byte("0")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	return &Mirror{log: slog.New(slog.NewTextHandler(io.Discard, nil)), names: topicNames{prefix: "keep."}, tgtAdm: kadm.NewClient(cl)}, cl
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

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
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "keep.orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.DefaultProduceTopic("keep.orders"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("0")}).FirstErr(); err != nil {
		t.Fatal(err)
	}

	m := &Mirror{log: slog.New(slog.NewTextHandler(io.Discard, nil)), names: topicNames{prefix: "keep."}, tgtAdm: kadm.NewClient(cl)}
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

package metadata

import (
	"errors"
	"maps"
	"sync"
	"testing"

	"github.com/sourcegraph/conc"
)

func testBrokerConfigs(t *testing.T, env *storeEnv) {
	ctx := t.Context()
	a, b := env.store(t), env.store(t)
	if got, err := a.BrokerConfigs(ctx); err != nil || got == nil || len(got) != 0 {
		t.Fatalf("broker configs of a new cluster = %v, %v; want empty", got, err)
	}
	if v := readView(t, a); v.BrokerConfigs == nil || len(v.BrokerConfigs) != 0 {
		t.Fatalf("view's broker configs = %v, want empty", v.BrokerConfigs)
	}

	set := func(s *Store, name, value string) int64 {
		t.Helper()
		rev, err := s.UpdateBrokerConfigs(ctx, func(cur map[string]string) (map[string]string, error) {
			cur[name] = value
			return cur, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return rev
	}
	rev := set(a, "log.retention.ms", "3600000")
	// A watched view of the write's revision has it.
	if v := awaitView(t, a, "the write's revision", func(v *View) bool { return v.Revision >= rev }); v.BrokerConfigs["log.retention.ms"] != "3600000" {
		t.Fatalf("view of revision %d (the write's %d): broker configs %v", v.Revision, rev, v.BrokerConfigs)
	}
	// Another broker sees it, by a read and through its watch.
	if got, err := b.BrokerConfigs(ctx); err != nil || got["log.retention.ms"] != "3600000" {
		t.Fatalf("broker configs read by b = %v, %v", got, err)
	}
	awaitView(t, b, "log.retention.ms=3600000", func(v *View) bool { return v.BrokerConfigs["log.retention.ms"] == "3600000" })

	// A change's error leaves the configs as they were.
	boom := errors.New("boom")
	if _, err := b.UpdateBrokerConfigs(ctx, func(map[string]string) (map[string]string, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("failed change: %v, want boom", err)
	}

	// Concurrent writers each keep their change (compare-and-swap).
	var wg conc.WaitGroup
	var mu sync.Mutex
	want := map[string]string{"log.retention.ms": "3600000"}
	for i, name := range []string{"log.retention.bytes", "log.segment.bytes", "log.cleanup.policy", "message.max.bytes"} {
		s := []*Store{a, b}[i%2]
		wg.Go(func() {
			_, err := s.UpdateBrokerConfigs(ctx, func(cur map[string]string) (map[string]string, error) {
				cur[name] = "1" + name
				return cur, nil
			})
			if err != nil {
				t.Error(err)
			}
			mu.Lock()
			want[name] = "1" + name
			mu.Unlock()
		})
	}
	wg.Wait()
	if got, err := a.BrokerConfigs(ctx); err != nil || !maps.Equal(got, want) {
		t.Fatalf("after concurrent changes: %v, %v; want %v", got, err, want)
	}

	// Emptying the set deletes the key; the view follows.
	if _, err := a.UpdateBrokerConfigs(ctx, func(map[string]string) (map[string]string, error) { return map[string]string{}, nil }); err != nil {
		t.Fatal(err)
	}
	awaitView(t, b, "no broker configs", func(v *View) bool { return v.BrokerConfigs != nil && len(v.BrokerConfigs) == 0 })
	if v := readView(t, b); len(v.BrokerConfigs) != 0 {
		t.Fatalf("view's broker configs after delete = %v", v.BrokerConfigs)
	}
}

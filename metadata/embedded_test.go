package metadata

import (
	"bytes"
	"errors"
	"log/slog"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
)

func TestEmbeddedRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	var clusterID string
	topic := Topic{Name: "kept", ID: NewTopicID(), Partitions: 2, Configs: map[string]string{"retention.ms": "1"}}
	k := PartitionKey{Topic: topic.ID, Partition: 1}
	entry := commitFor(k, 0, 0, 3)

	for run := range 2 {
		e, err := StartEmbedded(dir, nil)
		if err != nil {
			t.Fatal(err)
		}
		c, err := Connect(t.Context(), e.Endpoints(), 10*time.Second, ClientAuth{})
		if err != nil {
			t.Fatal(err)
		}
		s, err := New(t.Context(), c, Options{})
		if err != nil {
			t.Fatal(err)
		}
		id, err := s.ClusterID(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if run == 0 {
			clusterID = id
			if err := s.CreateTopic(t.Context(), topic); err != nil {
				t.Fatal(err)
			}
			entry.Epoch = acquire(t, s, k, 1)
			mustCommit(t, s, entry)
		} else {
			if id != clusterID {
				t.Errorf("cluster id after restart %q, want %q", id, clusterID)
			}
			got, err := s.Topic(t.Context(), "kept")
			got.Version = 0
			if err != nil || !equalTopic(got, topic) {
				t.Errorf("topic after restart = %+v, %v; want %+v", got, err, topic)
			}
			m, err := s.Manifest(t.Context(), k)
			if err != nil || len(m) != 1 || !reflect.DeepEqual(m[0], entry.Entry) {
				t.Errorf("manifest after restart = %+v, %v", m, err)
			}
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if err := e.Close(); err != nil {
			t.Fatal(err)
		}
		if err := e.Close(); err != nil {
			t.Fatalf("second close: %v", err)
		}
	}
}

func equalTopic(a, b Topic) bool {
	if a.Name != b.Name || a.ID != b.ID || a.Partitions != b.Partitions || len(a.Configs) != len(b.Configs) {
		return false
	}
	for k, v := range a.Configs {
		if b.Configs[k] != v {
			return false
		}
	}
	return true
}

func TestEmbeddedLogsErrorsOnly(t *testing.T) {
	var buf bytes.Buffer
	stopping := new(atomic.Bool)
	lg := zapToSlog(slog.New(slog.NewTextHandler(&buf, nil)), stopping).Named("raft").With(zap.String("member", "m1"))
	lg.Info("noise", zap.Int("n", 1))
	lg.Warn("more noise")
	lg.Error("disk failed", zap.Error(errors.New("EIO")), zap.Int64("index", 42))
	out := buf.String()
	if strings.Contains(out, "noise") {
		t.Errorf("info or warn passed: %q", out)
	}
	for _, want := range []string{"level=ERROR", `msg="disk failed"`, "component=etcd", "member=m1", "error=EIO", "index=42", "logger=raft"} {
		if !strings.Contains(out, want) {
			t.Errorf("log line %q lacks %q", out, want)
		}
	}
	// Once Close has begun, etcd's errors about its listeners closing are
	// expected and drop to debug level.
	buf.Reset()
	stopping.Store(true)
	lg.Error("http: Server closed")
	if out := buf.String(); out != "" {
		t.Errorf("error while stopping logged at info or above: %q", out)
	}
	// nil means discard.
	zapToSlog(nil, stopping).Error("dropped")
}

package broker_test

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/broker/brokertest"
	"github.com/strata-io/strata/internal/vfs"
	"github.com/strata-io/strata/internal/vfs/errorfs"
	"github.com/strata-io/strata/wal"
)

// TestWALStorageFaults: a WAL write or fsync that fails is never retried or
// papered over (docs/durability.md): the produce it covered gets
// KAFKA_STORAGE_ERROR, and so does every later one; the broker stops
// advertising readiness; records acknowledged before stay readable.
func TestWALStorageFaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		op   errorfs.Kind
	}{
		{"fsync", errorfs.OpSync},
		{"write", errorfs.OpWrite},
	} {
		t.Run(tc.name, func(t *testing.T) {
			efs := errorfs.Wrap(vfs.Default)
			b := brokertest.Start(t, func(c *broker.Config) { c.FS = efs })
			createTopic(t, b, "disk", 1, nil)
			c := b.Dial(t)

			// Committed before the fault (acks=all): safe whatever follows.
			before := produce(t, c, -1, "disk", 0, records(t, plain(3, 1_000)))
			wantCode(t, "produce before the fault", before.ErrorCode, nil)

			// Every later write or fsync of a WAL segment fails.
			efs.Inject(errorfs.Rule{Ops: []errorfs.Kind{tc.op}, Path: "*.wal*"})
			for i := range 2 {
				sp := produce(t, c, 1, "disk", 0, records(t, plain(2, 2_000)))
				wantCode(t, "produce after the fault", sp.ErrorCode, kerr.KafkaStorageError)
				if i == 0 && len(efs.Injected()) == 0 {
					t.Fatal("no fault was injected: the test proves nothing")
				}
			}
			if b.Ready() {
				t.Error("the broker still says it is ready with a failed WAL")
			}

			// Reads carry on: the committed records are all there.
			fp := fetch(t, c, "disk", 0, 0, 0)
			wantCode(t, "fetch after the fault", fp.ErrorCode, nil)
			if got := recordOffsets(t, fp.RecordBatches); len(got) != 3 || got[0] != 0 || got[2] != 2 {
				t.Errorf("fetch after the fault read offsets %v, want 0..2", got)
			}
			if err := b.Close(); !errors.Is(err, wal.ErrFailed) {
				t.Errorf("Close after the fault: %v, want the WAL's failure", err)
			}
		})
	}
}

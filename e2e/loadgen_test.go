package e2e

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/strata-io/strata/loadgen"
)

// TestLoadgenVerify runs `strata loadgen run --verify` against one broker
// on a real etcd and MinIO: a tail workload with two producers and two
// consumers sharing a group (acks=all), then a catch-up workload (acks=1).
// Each must exit 0 with a result.json whose counts match the records the
// broker holds, none lost, duplicated or reordered.
func TestLoadgenVerify(t *testing.T) {
	const records = 3000
	s, _, _ := startExternal(t, "loadgen", "--log-level", "info")
	adm := kadm.NewClient(s.Client())

	for _, tc := range []struct {
		name string
		args []string
	}{
		{"tail", []string{"--acks", "all", "--producers", "2", "--consumers", "2", "--rate", "3000"}},
		{"catch-up", []string{"--scenario", "catch-up", "--acks", "1", "--keys", "uniform", "--message-size", "100-2KiB"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "out")
			topic := "lg-" + tc.name
			args := append([]string{"loadgen", "run", "--bootstrap", s.Addr, "--topic", topic, "--partitions", "8",
				"--records", "3000", "--warmup", "0s", "--duration", "2m", "--verify", "--out", out}, tc.args...)
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, strataBin, args...)
			output, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("strata %s: %v\n%s", strings.Join(args, " "), err, output)
			}
			res, err := loadgen.ReadResult(out)
			if err != nil {
				t.Fatal(err)
			}
			if res.Produce.Records != records || res.Produce.Errors != 0 {
				t.Errorf("produced %d records, %d errors (%s); want %d, none", res.Produce.Records,
					res.Produce.Errors, res.Produce.FirstError, records)
			}
			if c := res.Consume; c == nil || c.Records != records || !c.Drained {
				t.Errorf("consumed %+v, want %d records, drained", c, records)
			}
			v := res.Verify
			if v == nil || !v.OK || len(v.Groups) != 1 {
				t.Fatalf("verification %+v, want OK for one group\n%s", v, output)
			}
			g := v.Groups[0]
			if g.Produced != records || g.Consumed != records || g.Faulty() || len(g.Partitions) != 8 {
				t.Errorf("group: %s over %d partitions", g.Counts, len(g.Partitions))
			}

			// The broker holds exactly the records acknowledged, partition by
			// partition.
			ends, err := adm.ListEndOffsets(ctx, topic)
			if err != nil {
				t.Fatal(err)
			}
			var total int64
			ends.Each(func(o kadm.ListedOffset) {
				total += o.Offset
				for _, p := range g.Partitions {
					if p.Partition == o.Partition && p.Produced != o.Offset {
						t.Errorf("%s/%d: end offset %d, %d records acknowledged", topic, o.Partition, o.Offset, p.Produced)
					}
				}
			})
			if total != records {
				t.Errorf("the broker holds %d records, want %d", total, records)
			}
		})
	}
}

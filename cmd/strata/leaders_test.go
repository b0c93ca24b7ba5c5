package main

import (
	"bytes"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/broker/brokertest"
	"github.com/strata-io/strata/internal/testenv"
	"github.com/strata-io/strata/objectstore"
)

// TestLeadersMove: `strata leaders move` makes the named broker the
// partition's leader; `elect` then has nothing to do; bad command lines
// exit 2.
func TestLeadersMove(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	bucket := objectstore.NewMem()
	shared := func(c *broker.Config) { c.EtcdEndpoints, c.Bucket = []string{etcd.Endpoint}, bucket }
	b1 := brokertest.Start(t, shared)
	b2 := brokertest.Start(t, shared)
	seeds := b1.Addr() + "," + b2.Addr()
	adm := b1.Admin(t, kgo.SeedBrokers(b1.Addr(), b2.Addr()))
	if _, err := adm.CreateTopic(t.Context(), 2, -1, nil, "lm"); err != nil {
		t.Fatal(err)
	}
	leader := func() int32 {
		md, err := adm.Metadata(t.Context(), "lm")
		if err != nil {
			return -1
		}
		for _, p := range md.Topics["lm"].Partitions {
			if p.Partition == 0 {
				return p.Leader
			}
		}
		return -1
	}
	for deadline := time.Now().Add(30 * time.Second); leader() < 0; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("partition 0 is not led")
		}
	}
	target := b1.ID()
	if leader() == target {
		target = b2.ID()
	}
	var out, errOut bytes.Buffer
	code := run([]string{"leaders", "move", "--bootstrap-server", seeds, "--topic", "lm", "--partition", "0", "--broker", strconv.Itoa(int(target))}, &out, &errOut)
	if code != 0 {
		t.Fatalf("move: exit %d: %s%s", code, out.String(), errOut.String())
	}
	// Metadata follows each broker's view a moment later.
	for deadline := time.Now().Add(10 * time.Second); leader() != target; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("partition 0 led by %d after the move, want %d: %s", leader(), target, out.String())
		}
	}

	out.Reset()
	if code := run([]string{"leaders", "elect", "--bootstrap-server", seeds, "--topic", "lm", "--partition", "0"}, &out, &errOut); code != 0 ||
		!strings.Contains(out.String(), "lm/0\talready led by its preferred leader") {
		t.Errorf("elect: exit %d: %q %q", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := run([]string{"leaders", "list", "--bootstrap-server", seeds}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "no reassignment under way") {
		t.Errorf("list: exit %d: %q", code, out.String())
	}
	if res, err := adm.ListPartitionReassignments(t.Context(), kadm.TopicsSet{"lm": {0: {}}}); err != nil || len(res) != 0 {
		t.Errorf("reassignments after the move: %v %v", res, err)
	}

	for _, args := range [][]string{
		{"leaders"},
		{"leaders", "move", "--topic", "lm"},
		{"leaders", "elect", "--partition", "1"},
		{"leaders", "bogus"},
	} {
		if code := run(args, &out, &errOut); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

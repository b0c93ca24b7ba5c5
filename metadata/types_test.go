package metadata

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

func TestTopicIDText(t *testing.T) {
	id := NewTopicID()
	if id == (TopicID{}) {
		t.Fatal("zero id")
	}
	if v := id[6] >> 4; v != 4 {
		t.Errorf("version %d, want 4", v)
	}
	s := id.String()
	if len(s) != 36 || strings.Count(s, "-") != 4 {
		t.Errorf("String() = %q, want the 8-4-4-4-12 form", s)
	}

	// JSON holds the UUID string.
	b, err := json.Marshal(Topic{Name: "t", ID: id, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf(`{"name":"t","id":%q,"partitions":1}`, s); string(b) != want {
		t.Errorf("json = %s, want %s", b, want)
	}
	var back Topic
	if err := json.Unmarshal(b, &back); err != nil || back.ID != id {
		t.Errorf("round trip = %v, %v; want %v", back.ID, err, id)
	}

	for _, bad := range []string{"", "nope", s[:35], s + "0", strings.Replace(s, "-", "x", 1)} {
		var got TopicID
		if err := got.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("UnmarshalText(%q) accepted: %v", bad, got)
		}
	}
}

func TestPartitionKeyString(t *testing.T) {
	k := PartitionKey{Topic: TopicID{0: 0xab, 15: 0x01}, Partition: 12}
	if got, want := k.String(), "ab000000-0000-0000-0000-000000000001/12"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

func TestSplitCommits(t *testing.T) {
	small := pendingCommit{bytes: 200}
	big := pendingCommit{bytes: 800 << 10}
	def, large := DefaultTxnLimits, LargeTxnLimits
	for _, tc := range []struct {
		name   string
		limits TxnLimits
		in     []pendingCommit
		sizes  []int
	}{
		{"none", def, nil, nil},
		{"one", def, rep(small, 1), []int{1}},
		{"just under", def, rep(small, 63), []int{63}},
		{"at the op limit", def, rep(small, 64), []int{64}},
		{"just over", def, rep(small, 65), []int{64, 1}},
		{"two full", def, rep(small, 128), []int{64, 64}},
		{"200", def, rep(small, 200), []int{64, 64, 64, 8}},
		{"bytes", def, append(rep(small, 3), rep(big, 3)...), []int{3, 1, 1, 1}},
		{"oversized alone", def, []pendingCommit{{bytes: 2 << 20}, small}, []int{1, 1}},
		// Large limits: a seal over thousands of partitions is one transaction.
		{"large 2000", large, rep(small, 2000), []int{2000}},
		{"large by ops", large, rep(pendingCommit{bytes: 8}, 40000), []int{32768, 7232}},
		// 512 KiB (maxCommitTxnBytes) of 200-byte commits: 2,621 each.
		{"large 10000", large, rep(small, 10000), []int{2621, 2621, 2621, 2137}},
		// maxCommitTxnBytes, not the 7.75 MiB of the limits, bounds a
		// transaction: commits of 200 KiB go two by two.
		{"large by bytes", large, rep(pendingCommit{bytes: 200 << 10}, 5), []int{2, 2, 1}},
		{"custom ops", TxnLimits{MaxOps: 1000, MaxRequestBytes: 8 << 20}, rep(small, 1200), []int{500, 500, 200}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var sizes []int
			for _, b := range splitCommits(tc.in, tc.limits) {
				sizes = append(sizes, len(b))
				if opsPerCommit*len(b) > tc.limits.MaxOps {
					t.Errorf("batch of %d commits exceeds %d ops", len(b), tc.limits.MaxOps)
				}
				bytes := 0
				for _, pc := range b {
					bytes += pc.bytes
				}
				if len(b) > 1 && bytes > min(tc.limits.MaxRequestBytes, maxCommitTxnBytes) {
					t.Errorf("batch of %d commits has %d bytes, over %d", len(b), bytes, min(tc.limits.MaxRequestBytes, maxCommitTxnBytes))
				}
			}
			if fmt.Sprint(sizes) != fmt.Sprint(tc.sizes) {
				t.Errorf("batches %v, want %v", sizes, tc.sizes)
			}
		})
	}
}

// TestSplitCommitsTopicReads: each distinct topic of a transaction adds
// its failure branch's read to the transaction's bytes.
func TestSplitCommitsTopicReads(t *testing.T) {
	limits := TxnLimits{MaxOps: 1 << 16, MaxRequestBytes: 64 << 10} // 62 KiB of budget
	one := func(topic string) pendingCommit { return pendingCommit{bytes: 1000, leadersKey: topic} }
	same, apart := rep(one("t/"), 80), make([]pendingCommit, 80)
	for i := range apart {
		apart[i] = one(strings.Repeat("x", 200) + strconv.Itoa(i) + "/")
	}
	// 63488 bytes: one topic, 1000 each and 50 once: 63 commits.
	if got := len(splitCommits(same, limits)[0]); got != 63 {
		t.Errorf("one topic: first transaction of %d commits, want 63", got)
	}
	// A topic each: 1000 + ~250 each: 50 commits.
	if got := len(splitCommits(apart, limits)[0]); got != 50 {
		t.Errorf("a topic each: first transaction of %d commits, want 50", got)
	}
}

func rep(c pendingCommit, n int) []pendingCommit {
	out := make([]pendingCommit, n)
	for i := range out {
		out[i] = c
	}
	return out
}

func FuzzTopicIDText(f *testing.F) {
	f.Add("6ba7b810-9dad-11d1-80b4-00c04fd430c8")
	f.Add("00000000-0000-0000-0000-000000000000")
	f.Add("{6ba7b810-9dad-11d1-80b4-00c04fd430c8}")
	f.Add("6ba7b8109dad11d180b400c04fd430c8")
	f.Add("not-a-uuid")
	f.Fuzz(func(t *testing.T, s string) {
		var id TopicID
		if err := id.UnmarshalText([]byte(s)); err != nil {
			return
		}
		text, _ := id.MarshalText()
		var again TopicID
		if err := again.UnmarshalText(text); err != nil || again != id {
			t.Fatalf("%q parsed to %v, which does not round-trip: %v", s, id, err)
		}
	})
}

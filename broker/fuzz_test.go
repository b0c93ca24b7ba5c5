package broker

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// parseRequestSeeds are valid frames of every served API at its min and max
// version and some with bodies, followed by cut and bit-flipped copies of
// them and frames that must be refused or answered without parsing.
func parseRequestSeeds(t testing.TB) [][]byte {
	t.Helper()
	var valid [][]byte
	for _, kv := range servedVersions() {
		valid = append(valid, frame(requestAt(kv[0], kv[1]), 1, ptr("seed")))
	}
	for _, r := range richRequests(t) {
		valid = append(valid, frame(r, 2, nil))
	}
	seeds := append([][]byte(nil), valid...)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, v := range valid {
		seeds = append(seeds, v[:len(v)-1], v[:len(v)/2], v[:9])
		for range 2 {
			flipped := bytes.Clone(v)
			i := rng.IntN(len(flipped))
			flipped[i] ^= 1 << rng.IntN(8)
			seeds = append(seeds, flipped)
		}
	}
	return append(seeds,
		header(18, 5, 3, ptr("seed")),                                  // too-new ApiVersions
		frame(requestAt(4, 0), 4, nil),                                 // unknown key (LeaderAndIsr)
		header(9999, 0, 5, nil),                                        // unknown key
		frame(requestAt(0, 2), 6, nil),                                 // Produce below the served range
		frame(requestAt(3, 13), 7, nil),                                // Metadata above the served range
		append(header(18, 3, 8, nil), 1, 0, 3, 'a', 'b', 'c', 1, 1, 0), // header tags
	)
}

// FuzzParseRequest: parseRequest never panics, fails only with a framing
// error, and what it parses re-encodes to a frame that parses the same.
func FuzzParseRequest(f *testing.F) {
	for _, s := range parseRequestSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		pr, err := parseRequest(body)
		if err != nil {
			var fe *errFraming
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v (%T), want a framing error", err, err)
			}
			return
		}
		a, known := apis[pr.key]
		if !known {
			t.Fatalf("no error for unknown key %d", pr.key)
		}
		if pr.req == nil {
			if pr.key != 18 || pr.version <= a.max {
				t.Fatalf("nil request without error for key %d v%d", pr.key, pr.version)
			}
			return
		}
		if pr.version < a.min || pr.version > a.max {
			t.Fatalf("parsed key %d at v%d outside [%d, %d]", pr.key, pr.version, a.min, a.max)
		}
		if pr.req.Key() != pr.key || pr.req.GetVersion() != pr.version {
			t.Fatalf("header says key %d v%d, request is %s v%d", pr.key, pr.version, kmsg.NameForKey(pr.req.Key()), pr.req.GetVersion())
		}

		again, err := parseRequest(frame(pr.req, pr.corr, pr.clientID))
		if err != nil {
			t.Fatalf("re-encoded %s v%d does not parse: %v", kmsg.NameForKey(pr.key), pr.version, err)
		}
		if again.key != pr.key || again.version != pr.version || again.corr != pr.corr || !equalPtr(again.clientID, pr.clientID) {
			t.Fatalf("re-parsed header %d v%d corr %d client %s, want %d v%d corr %d client %s",
				again.key, again.version, again.corr, fmtPtr(again.clientID), pr.key, pr.version, pr.corr, fmtPtr(pr.clientID))
		}
		if first, second := pr.req.AppendTo(nil), again.req.AppendTo(nil); !bytes.Equal(first, second) {
			t.Fatalf("%s v%d re-encodes differently after a round trip:\n%x\n%x", kmsg.NameForKey(pr.key), pr.version, first, second)
		}
	})
}

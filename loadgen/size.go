package loadgen

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/strata-io/strata/internal/bytesize"
)

// Size is a number of bytes, written as a plain integer or with a binary
// unit: 1024, 1KiB, 8MiB, 1GiB (the broker's flags read sizes the same way).
type Size = bytesize.Size

// SizeDist is the size of each record's value: a fixed size ("1KiB") or
// sizes drawn uniformly from a range, both ends included ("512-2KiB").
type SizeDist struct {
	Min, Max Size
}

// ParseSizeDist parses "SIZE" or "MIN-MAX".
func ParseSizeDist(s string) (SizeDist, error) {
	lo, hi, ranged := strings.Cut(s, "-")
	min, err := bytesize.Parse(lo)
	if err != nil {
		return SizeDist{}, err
	}
	if !ranged {
		return SizeDist{min, min}, nil
	}
	max, err := bytesize.Parse(hi)
	if err != nil {
		return SizeDist{}, err
	}
	if max < min {
		return SizeDist{}, fmt.Errorf("range %s-%s ends below its start", min, max)
	}
	return SizeDist{min, max}, nil
}

// Fixed reports whether every value has the same size.
func (d SizeDist) Fixed() bool { return d.Min == d.Max }

// Mean is the mean size.
func (d SizeDist) Mean() float64 { return float64(d.Min+d.Max) / 2 }

// Draw returns a size.
func (d SizeDist) Draw(r *rand.Rand) int {
	if d.Fixed() {
		return int(d.Min)
	}
	return int(d.Min) + r.IntN(int(d.Max-d.Min)+1)
}

// String is "SIZE" or "MIN-MAX", as ParseSizeDist reads.
func (d SizeDist) String() string {
	if d.Fixed() {
		return d.Min.String()
	}
	return d.Min.String() + "-" + d.Max.String()
}

// Set implements flag.Value.
func (d *SizeDist) Set(v string) error {
	n, err := ParseSizeDist(v)
	if err != nil {
		return err
	}
	*d = n
	return nil
}

// UnmarshalYAML accepts an integer, a size or a range.
func (d *SizeDist) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return bytesize.ErrSyntax
	}
	return d.Set(n.Value)
}

// MarshalYAML writes the distribution as String does.
func (d SizeDist) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalText writes the distribution as String does.
func (d SizeDist) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses what MarshalText writes.
func (d *SizeDist) UnmarshalText(b []byte) error { return d.Set(string(b)) }

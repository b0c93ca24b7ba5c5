package loadgen

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Size is a number of bytes, written as a plain integer or with a binary
// unit: 1024, 1KiB, 8MiB, 1GiB.
type Size int64

var sizeUnits = []struct {
	name string
	mult int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"B", 1}}

var errSizeSyntax = errors.New("want a number of bytes or a size such as 512, 1KiB, 8MiB")

// ParseSize parses "1024", "1024B", "1KiB", "8 MiB". Decimal units (KB,
// MB) are refused: they are ambiguous.
func ParseSize(s string) (Size, error) {
	s = strings.TrimSpace(s)
	digits := len(s) - len(strings.TrimLeft(s, "0123456789"))
	if digits == 0 {
		return 0, errSizeSyntax
	}
	n, err := strconv.ParseInt(s[:digits], 10, 64)
	if err != nil {
		return 0, errors.New("too large")
	}
	unit := strings.TrimSpace(s[digits:])
	if unit == "" {
		return Size(n), nil
	}
	for _, u := range sizeUnits {
		if strings.EqualFold(unit, u.name) {
			if n > math.MaxInt64/u.mult {
				return 0, errors.New("too large")
			}
			return Size(n * u.mult), nil
		}
	}
	switch strings.ToUpper(unit) {
	case "K", "KB", "M", "MB", "G", "GB":
		return 0, fmt.Errorf("unit %q is ambiguous; use KiB, MiB or GiB (powers of 1024)", unit)
	}
	return 0, errSizeSyntax
}

// String is the largest unit that divides the size exactly ("8MiB"), or
// plain bytes ("1000").
func (s Size) String() string {
	for _, u := range sizeUnits[:len(sizeUnits)-1] {
		if s != 0 && int64(s)%u.mult == 0 {
			return strconv.FormatInt(int64(s)/u.mult, 10) + u.name
		}
	}
	return strconv.FormatInt(int64(s), 10)
}

// Set implements flag.Value.
func (s *Size) Set(v string) error {
	n, err := ParseSize(v)
	if err != nil {
		return err
	}
	*s = n
	return nil
}

// UnmarshalYAML accepts an integer or a size string.
func (s *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errSizeSyntax
	}
	return s.Set(n.Value)
}

// MarshalYAML writes the size as String does.
func (s Size) MarshalYAML() (any, error) { return s.String(), nil }

// MarshalText writes the size as String does (JSON uses it too).
func (s Size) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText parses what MarshalText writes.
func (s *Size) UnmarshalText(b []byte) error { return s.Set(string(b)) }

// SizeDist is the size of each record's value: a fixed size ("1KiB") or
// sizes drawn uniformly from a range, both ends included ("512-2KiB").
type SizeDist struct {
	Min, Max Size
}

// ParseSizeDist parses "SIZE" or "MIN-MAX".
func ParseSizeDist(s string) (SizeDist, error) {
	lo, hi, ranged := strings.Cut(s, "-")
	min, err := ParseSize(lo)
	if err != nil {
		return SizeDist{}, err
	}
	if !ranged {
		return SizeDist{min, min}, nil
	}
	max, err := ParseSize(hi)
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
		return errSizeSyntax
	}
	return d.Set(n.Value)
}

// MarshalYAML writes the distribution as String does.
func (d SizeDist) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalText writes the distribution as String does.
func (d SizeDist) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// UnmarshalText parses what MarshalText writes.
func (d *SizeDist) UnmarshalText(b []byte) error { return d.Set(string(b)) }

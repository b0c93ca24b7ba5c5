// Package bytesize is the one way Strata reads and writes sizes in bytes:
// a plain integer or a binary unit (1048576, 1024KiB, 1MiB), the same in
// flags, environment variables, YAML and JSON. Decimal units (KB, MB) are
// refused because they are ambiguous.
package bytesize

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Size is a number of bytes.
type Size int64

// Units accepted by Parse.
const (
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
	TiB Size = 1 << 40
)

var units = []struct {
	name string
	mult Size
}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}, {"B", 1}}

// ErrSyntax is returned for what is neither a number nor a number and a unit.
var ErrSyntax = errors.New("want a number of bytes or a size such as 512KiB, 8MiB, 1GiB")

// Parse parses "12", "12B", "8MiB", "8 mib", "1GiB". Its errors do not
// repeat the value: callers (the flag package, a config loader) quote it.
func Parse(s string) (Size, error) {
	s = strings.TrimSpace(s)
	digits := len(s) - len(strings.TrimLeft(s, "0123456789"))
	if digits == 0 {
		return 0, ErrSyntax
	}
	n, err := strconv.ParseInt(s[:digits], 10, 64)
	if err != nil {
		return 0, errors.New("too large")
	}
	unit := strings.TrimSpace(s[digits:])
	if unit == "" {
		return Size(n), nil
	}
	for _, u := range units {
		if strings.EqualFold(unit, u.name) {
			if n > math.MaxInt64/int64(u.mult) {
				return 0, errors.New("too large")
			}
			return Size(n) * u.mult, nil
		}
	}
	switch strings.ToUpper(unit) {
	case "K", "KB", "M", "MB", "G", "GB", "T", "TB":
		return 0, fmt.Errorf("unit %q is ambiguous; use KiB, MiB or GiB (powers of 1024)", unit)
	}
	return 0, ErrSyntax
}

// String is the largest unit that divides the size exactly ("8MiB"), or
// plain bytes ("12").
func (b Size) String() string {
	for _, u := range units[:len(units)-1] {
		if b != 0 && b%u.mult == 0 {
			return strconv.FormatInt(int64(b/u.mult), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// Set implements flag.Value.
func (b *Size) Set(s string) error {
	v, err := Parse(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// UnmarshalYAML accepts an integer or a string with a unit.
func (b *Size) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return ErrSyntax
	}
	return b.Set(n.Value)
}

// MarshalYAML writes the String form.
func (b Size) MarshalYAML() (any, error) { return b.String(), nil }

// MarshalText writes the String form (JSON uses it too).
func (b Size) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText parses what MarshalText writes.
func (b *Size) UnmarshalText(t []byte) error { return b.Set(string(t)) }

package main

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The flag.Value types below give flags, environment variables and YAML the
// same parsers and the same error messages. Set errors do not repeat the
// value: the caller (the flag package, applyEnv) already quotes it.

// ByteSize is a number of bytes, written as a plain integer or with a
// binary-unit suffix: 1048576, 1024KiB, 1MiB.
type ByteSize int64

// Units accepted by ParseByteSize.
const (
	KiB ByteSize = 1 << 10
	MiB ByteSize = 1 << 20
	GiB ByteSize = 1 << 30
	TiB ByteSize = 1 << 40
)

var sizeUnits = []struct {
	name string
	mult ByteSize
}{{"TiB", TiB}, {"GiB", GiB}, {"MiB", MiB}, {"KiB", KiB}, {"B", 1}}

var errSizeSyntax = errors.New("want a number of bytes or a size such as 512KiB, 8MiB, 1GiB")

// ParseByteSize parses "12", "12B", "8MiB", "8 mib", "1GiB". Decimal units
// (KB, MB, GB) are refused because they are ambiguous.
func ParseByteSize(s string) (ByteSize, error) {
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
		return ByteSize(n), nil
	}
	for _, u := range sizeUnits {
		if strings.EqualFold(unit, u.name) {
			if n > math.MaxInt64/int64(u.mult) {
				return 0, errors.New("too large")
			}
			return ByteSize(n) * u.mult, nil
		}
	}
	switch strings.ToUpper(unit) {
	case "K", "KB", "M", "MB", "G", "GB", "T", "TB":
		return 0, fmt.Errorf("unit %q is ambiguous; use KiB, MiB or GiB (powers of 1024)", unit)
	}
	return 0, errSizeSyntax
}

// String is the largest unit that divides the size exactly ("8MiB"), or
// plain bytes ("12").
func (b ByteSize) String() string {
	for _, u := range sizeUnits[:len(sizeUnits)-1] {
		if b != 0 && b%u.mult == 0 {
			return strconv.FormatInt(int64(b/u.mult), 10) + u.name
		}
	}
	return strconv.FormatInt(int64(b), 10)
}

// Set implements flag.Value.
func (b *ByteSize) Set(s string) error {
	v, err := ParseByteSize(s)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// UnmarshalYAML accepts an integer or a string with a unit.
func (b *ByteSize) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return errSizeSyntax
	}
	return b.Set(n.Value)
}

// MarshalYAML writes the String form.
func (b ByteSize) MarshalYAML() (any, error) { return b.String(), nil }

// List is a comma-separated list on the command line and in the environment,
// and a YAML sequence or comma-separated string in the config file. Setting
// it replaces the previous value (so a flag overrides the environment rather
// than appending to it).
type List []string

func splitList(s string) List {
	var l List
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			l = append(l, p)
		}
	}
	return l
}

func (l List) String() string { return strings.Join(l, ",") }

// Set implements flag.Value.
func (l *List) Set(s string) error {
	*l = splitList(s)
	return nil
}

// UnmarshalYAML accepts [a, b] or "a,b".
func (l *List) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*l = splitList(n.Value)
		return nil
	case yaml.SequenceNode:
		var items []string
		if err := n.Decode(&items); err != nil {
			return err
		}
		*l = splitList(strings.Join(items, ","))
		return nil
	}
	return errors.New("want a list of strings")
}

// boolValue is flag's bool with a readable error.
type boolValue bool

func (b *boolValue) Set(s string) error {
	v, err := strconv.ParseBool(s)
	if err != nil {
		return errors.New("want true or false")
	}
	*b = boolValue(v)
	return nil
}
func (b *boolValue) String() string   { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) IsBoolFlag() bool { return true }

// int32Value backs the int32 fields of broker.Config.
type int32Value int32

func (i *int32Value) Set(s string) error {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if errors.Is(err, strconv.ErrRange) {
		return errors.New("out of range for a 32-bit integer")
	}
	if err != nil {
		return errors.New("want an integer")
	}
	*i = int32Value(v)
	return nil
}
func (i *int32Value) String() string { return strconv.FormatInt(int64(*i), 10) }

// durationValue is flag's duration with a readable error.
type durationValue time.Duration

func (d *durationValue) Set(s string) error {
	v, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return errors.New("want a duration such as 200ms, 10s or 1m")
	}
	*d = durationValue(v)
	return nil
}
func (d *durationValue) String() string { return time.Duration(*d).String() }

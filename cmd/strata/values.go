package main

import (
	"errors"
	"flag"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/strata-io/strata/internal/bytesize"
)

// The flag.Value types below give flags, environment variables and YAML the
// same parsers and the same error messages. Set errors do not repeat the
// value: the caller (the flag package, applyEnv) already quotes it.

// ByteSize is a number of bytes: a plain integer or a binary unit (see
// internal/bytesize, which the load generator shares).
type ByteSize = bytesize.Size

// Units of ByteSize.
const (
	KiB = bytesize.KiB
	MiB = bytesize.MiB
	GiB = bytesize.GiB
	TiB = bytesize.TiB
)

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

// flagValue is the flag.Value of an option's field (see option).
func flagValue(ptr any) flag.Value {
	switch p := ptr.(type) {
	case *string:
		return (*stringValue)(p)
	case *bool:
		return (*boolValue)(p)
	case *int32:
		return (*int32Value)(p)
	case *time.Duration:
		return (*durationValue)(p)
	case flag.Value: // *ByteSize, *List, *intValue
		return p
	}
	panic(fmt.Sprintf("strata: no flag.Value for %T", ptr))
}

// stringValue is flag's string.
type stringValue string

func (s *stringValue) Set(v string) error { *s = stringValue(v); return nil }
func (s *stringValue) String() string     { return string(*s) }

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
	v, err := parseInt32(s)
	if err != nil {
		return err
	}
	*i = int32Value(v)
	return nil
}
func (i *int32Value) String() string { return strconv.FormatInt(int64(*i), 10) }

// intValue backs the int fields of broker.Config (connection counts), with
// int32Value's range on the command line, in the environment and in YAML.
type intValue int

// UnmarshalYAML reads a 32-bit integer, as for the int32 fields.
func (i *intValue) UnmarshalYAML(n *yaml.Node) error {
	var v int32
	if err := n.Decode(&v); err != nil {
		return err
	}
	*i = intValue(v)
	return nil
}

func (i *intValue) Set(s string) error {
	v, err := parseInt32(s)
	if err != nil {
		return err
	}
	*i = intValue(v)
	return nil
}
func (i *intValue) String() string { return strconv.Itoa(int(*i)) }

// parseInt32 parses a 32-bit integer with a readable error.
func parseInt32(s string) (int32, error) {
	v, err := strconv.ParseInt(strings.TrimSpace(s), 10, 32)
	if errors.Is(err, strconv.ErrRange) {
		return 0, errors.New("out of range for a 32-bit integer")
	}
	if err != nil {
		return 0, errors.New("want an integer")
	}
	return int32(v), nil
}

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

// SemicolonList is a list given as one string separated by semicolons, for
// values that contain commas themselves (principals with a certificate's
// distinguished name, as Kafka's super.users).
type SemicolonList []string

func (l SemicolonList) String() string { return strings.Join(l, ";") }

// Set implements flag.Value.
func (l *SemicolonList) Set(s string) error {
	*l = nil
	for _, p := range strings.Split(s, ";") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// UnmarshalYAML accepts [a, b] or "a;b".
func (l *SemicolonList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.SequenceNode {
		var items []string
		if err := n.Decode(&items); err != nil {
			return err
		}
		*l = items
		return nil
	}
	if n.Kind != yaml.ScalarNode {
		return errors.New("want a list or a semicolon-separated string")
	}
	return l.Set(n.Value)
}

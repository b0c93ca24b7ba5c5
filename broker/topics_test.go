package broker

import (
	"strings"
	"testing"
)

// TestValidTopicName follows Kafka's rules (org.apache.kafka.common.internals.Topic):
// 1 to 249 characters of ASCII letters, digits, '.', '_' and '-', and not "."
// or "..".
func TestValidTopicName(t *testing.T) {
	cases := []struct {
		name  string
		legal bool
	}{
		{"orders", true},
		{"Orders-2024_v1.0", true},
		{"__consumer_offsets", true},
		{"a", true},
		{"-", true},
		{"_", true},
		{"...", true},
		{".orders", true},
		{strings.Repeat("a", 249), true},

		{"", false},
		{".", false},
		{"..", false},
		{strings.Repeat("a", 250), false},
		{"or ders", false},
		{"orders/eu", false},
		{"orders:eu", false},
		{"orders\n", false},
		{"\x00", false},
		{"ördres", false},
		{"orders!", false},
		{"orders*", false},
		{"orders+eu", false},
	}
	for _, c := range cases {
		why := validTopicName(c.name)
		if c.legal && why != "" {
			t.Errorf("%q: illegal (%s), want legal", c.name, why)
		}
		if !c.legal && why == "" {
			t.Errorf("%q: legal, want illegal", c.name)
		}
	}
}

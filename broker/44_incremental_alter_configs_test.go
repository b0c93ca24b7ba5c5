package broker

import "testing"

func TestEditList(t *testing.T) {
	cases := []struct {
		name  string
		list  string
		items string
		add   bool
		want  string
	}{
		{"append a new item", "delete", "compact", true, "delete,compact"},
		{"append to an empty list", "", "compact", true, "compact"},
		{"append an item already there", "delete", "delete", true, "delete"},
		{"append duplicates once", "delete", "compact,compact", true, "delete,compact"},
		{"append keeps the list's order", "compact,delete", "x", true, "compact,delete,x"},
		{"append trims spaces", " delete ", " compact , delete ", true, "delete,compact"},
		{"append nothing normalises the list", " delete ,delete,,", "", true, "delete"},
		{"append only commas", "delete", ",,", true, "delete"},
		{"subtract an item", "delete,compact", "compact", false, "delete"},
		{"subtract an item not there", "delete", "compact", false, "delete"},
		{"subtract every item", "compact,delete", "delete,compact", false, ""},
		{"subtract trims spaces", "delete, compact", " compact ", false, "delete"},
		{"subtract removes every copy", "delete,compact,delete", "delete", false, "compact"},
		{"subtract from a list with duplicates", "delete,delete,compact", "compact", false, "delete"},
		{"subtract from an empty list", "", "delete", false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := editList(c.list, c.items, c.add); got != c.want {
				t.Errorf("editList(%q, %q, add=%v) = %q, want %q", c.list, c.items, c.add, got, c.want)
			}
		})
	}
}

package quota

import (
	"errors"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func keysOf(m map[Entity]Quotas) []string {
	var out []string
	for e := range m {
		out = append(out, e.Key())
	}
	slices.Sort(out)
	return out
}

func TestMatch(t *testing.T) {
	all := map[Entity]Quotas{}
	for _, k := range []string{
		"user=alice", "user=<default>", "client-id=app", "client-id=<default>",
		"user=alice/client-id=app", "user=alice/client-id=<default>",
		"user=<default>/client-id=app", "user=bob/client-id=other",
	} {
		all[mustParse(t, k)] = Quotas{ProducerByteRate: 1}
	}
	u := func(m kmsg.QuotasMatchType, s string) FilterComponent { return FilterComponent{EntityTypeUser, m, s} }
	c := func(m kmsg.QuotasMatchType, s string) FilterComponent {
		return FilterComponent{EntityTypeClientID, m, s}
	}
	for _, tc := range []struct {
		name   string
		comps  []FilterComponent
		strict bool
		want   []string
	}{
		{"everything", nil, false, keysOf(all)},
		{"empty strict", nil, true, nil},
		{"exact user", []FilterComponent{u(matchExact, "alice")}, false,
			[]string{"user=alice", "user=alice/client-id=<default>", "user=alice/client-id=app"}},
		{"exact user strict", []FilterComponent{u(matchExact, "alice")}, true, []string{"user=alice"}},
		{"default user", []FilterComponent{u(matchDefault, "")}, false,
			[]string{"user=<default>", "user=<default>/client-id=app"}},
		{"default user strict", []FilterComponent{u(matchDefault, "")}, true, []string{"user=<default>"}},
		{"any user strict", []FilterComponent{u(matchAny, "")}, true, []string{"user=<default>", "user=alice"}},
		{"any client", []FilterComponent{c(matchAny, "")}, false, []string{
			"client-id=<default>", "client-id=app", "user=<default>/client-id=app",
			"user=alice/client-id=<default>", "user=alice/client-id=app", "user=bob/client-id=other"}},
		{"exact client strict", []FilterComponent{c(matchExact, "app")}, true, []string{"client-id=app"}},
		{"user and client", []FilterComponent{u(matchExact, "alice"), c(matchDefault, "")}, true,
			[]string{"user=alice/client-id=<default>"}},
		{"any both strict", []FilterComponent{c(matchAny, ""), u(matchAny, "")}, true, []string{
			"user=<default>/client-id=app", "user=alice/client-id=<default>", "user=alice/client-id=app",
			"user=bob/client-id=other"}},
		{"no such name", []FilterComponent{u(matchExact, "carol")}, false, nil},
		{"exact empty name", []FilterComponent{u(matchExact, "")}, false, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Match(all, tc.comps, tc.strict)
			if err != nil {
				t.Fatal(err)
			}
			if k := keysOf(got); !slices.Equal(k, tc.want) {
				t.Fatalf("Match = %q, want %q", k, tc.want)
			}
		})
	}
}

func TestMatchErrors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		comps []FilterComponent
		err   error
	}{
		{"ip", []FilterComponent{{EntityType: "ip", MatchType: matchAny}}, ErrUnknownEntityType},
		{"empty type", []FilterComponent{{MatchType: matchAny}}, ErrUnknownEntityType},
		{"twice", []FilterComponent{{EntityTypeUser, matchAny, ""}, {EntityTypeUser, matchExact, "a"}}, ErrDuplicateEntityType},
		{"match type", []FilterComponent{{EntityTypeUser, 3, ""}}, ErrBadFilter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Match(nil, tc.comps, false); !errors.Is(err, tc.err) {
				t.Fatalf("Match = %v, want %v", err, tc.err)
			}
		})
	}
}

func TestFiltersFromKmsg(t *testing.T) {
	s := kmsg.StringPtr
	for _, tc := range []struct {
		name string
		comp kmsg.DescribeClientQuotasRequestComponent
		want FilterComponent
		err  error
	}{
		{"exact", kmsg.DescribeClientQuotasRequestComponent{EntityType: "user", MatchType: 0, Match: s("a")}, FilterComponent{"user", 0, "a"}, nil},
		{"exact nil", kmsg.DescribeClientQuotasRequestComponent{EntityType: "user", MatchType: 0}, FilterComponent{}, ErrBadFilter},
		{"default", kmsg.DescribeClientQuotasRequestComponent{EntityType: "client-id", MatchType: 1}, FilterComponent{"client-id", 1, ""}, nil},
		{"default with name", kmsg.DescribeClientQuotasRequestComponent{EntityType: "user", MatchType: 1, Match: s("a")}, FilterComponent{}, ErrBadFilter},
		{"any with name", kmsg.DescribeClientQuotasRequestComponent{EntityType: "user", MatchType: 2, Match: s("")}, FilterComponent{}, ErrBadFilter},
		{"unknown", kmsg.DescribeClientQuotasRequestComponent{EntityType: "user", MatchType: 7}, FilterComponent{}, ErrBadFilter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := FiltersFromKmsg([]kmsg.DescribeClientQuotasRequestComponent{tc.comp})
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err == nil && got[0] != tc.want {
				t.Fatalf("got %+v, want %+v", got[0], tc.want)
			}
		})
	}
}

package quota

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func TestEntityFromKmsg(t *testing.T) {
	s := kmsg.StringPtr
	type ent = kmsg.AlterClientQuotasRequestEntryEntity
	for _, tc := range []struct {
		name string
		in   []ent
		key  string
		err  error
	}{
		{"user", []ent{{Type: "user", Name: s("alice")}}, "user=alice", nil},
		{"client first", []ent{{Type: "client-id", Name: nil}, {Type: "user", Name: s("a")}}, "user=a/client-id=<default>", nil},
		{"default user", []ent{{Type: "user"}}, "user=<default>", nil},
		{"empty", nil, "", ErrEmptyEntity},
		{"empty name", []ent{{Type: "user", Name: s("")}}, "", ErrBadComponent},
		{"ip", []ent{{Type: "ip", Name: s("1.2.3.4")}}, "", ErrUnknownEntityType},
		{"twice", []ent{{Type: "user", Name: s("a")}, {Type: "user"}}, "", ErrDuplicateEntityType},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, err := EntityFromKmsg(tc.in)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if err == nil && e.Key() != tc.key {
				t.Fatalf("entity %q, want %q", e.Key(), tc.key)
			}
		})
	}
}

func TestDescribeKmsg(t *testing.T) {
	e := Entity{User: def(), ClientID: user("app")}
	got := e.DescribeKmsg()
	if len(got) != 2 || got[0].Type != "user" || got[0].Name != nil ||
		got[1].Type != "client-id" || got[1].Name == nil || *got[1].Name != "app" {
		t.Fatalf("DescribeKmsg = %+v", got)
	}
	vals := Quotas{RequestPercentage: 50, ConsumerByteRate: 10}.DescribeKmsg()
	if len(vals) != 2 || vals[0].Key != ConsumerByteRate || vals[0].Value != 10 || vals[1].Key != RequestPercentage {
		t.Fatalf("values = %+v", vals)
	}
}

package quota

import (
	"errors"
	"testing"
)

func user(n string) *Component { return &Component{Name: n} }
func def() *Component          { return &Component{Default: true} }

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    Entity
		err  error
	}{
		{"user", Entity{User: user("alice")}, nil},
		{"client", Entity{ClientID: user("app")}, nil},
		{"both", Entity{User: user("alice"), ClientID: user("app")}, nil},
		{"defaults", Entity{User: def(), ClientID: def()}, nil},
		{"empty", Entity{}, ErrEmptyEntity},
		{"empty user name", Entity{User: user("")}, ErrBadComponent},
		{"empty client name", Entity{User: def(), ClientID: &Component{}}, ErrBadComponent},
		{"named default", Entity{User: &Component{Name: "x", Default: true}}, ErrBadComponent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.e.Validate(); !errors.Is(err, tc.err) {
				t.Fatalf("Validate = %v, want %v", err, tc.err)
			}
		})
	}
}

func TestKey(t *testing.T) {
	for _, tc := range []struct {
		e   Entity
		key string
	}{
		{Entity{User: user("alice")}, "user=alice"},
		{Entity{ClientID: user("app-1.x_y")}, "client-id=app-1.x_y"},
		{Entity{User: user("alice"), ClientID: def()}, "user=alice/client-id=<default>"},
		{Entity{User: def()}, "user=<default>"},
		{Entity{User: def(), ClientID: def()}, "user=<default>/client-id=<default>"},
		{Entity{User: user("<default>")}, "user=%3Cdefault%3E"},
		{Entity{User: user("a/b=c"), ClientID: user("%")}, "user=a%2Fb%3Dc/client-id=%25"},
		{Entity{User: user("CN=x, O=y")}, "user=CN%3Dx%2C%20O%3Dy"},
		{Entity{ClientID: user("é\x00")}, "client-id=%C3%A9%00"},
		{Entity{User: user("..")}, "user=.."},
	} {
		t.Run(tc.key, func(t *testing.T) {
			if got := tc.e.Key(); got != tc.key {
				t.Fatalf("Key = %q, want %q", got, tc.key)
			}
		})
	}
}

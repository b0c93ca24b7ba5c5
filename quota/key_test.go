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

func TestKeyRoundTrip(t *testing.T) {
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
			back, err := ParseKey(tc.key)
			if err != nil {
				t.Fatalf("ParseKey: %v", err)
			}
			if partOf(back.User) != partOf(tc.e.User) || partOf(back.ClientID) != partOf(tc.e.ClientID) {
				t.Fatalf("ParseKey = %+v, want %+v", back, tc.e)
			}
		})
	}
}

func TestParseKeyRejects(t *testing.T) {
	for _, s := range []string{
		"", "user=", "client-id=", "user=a/", "user=a/user=b", "client-id=a/user=b",
		"user=a/client-id=b/client-id=c", "ip=1.2.3.4", "user=a b", "user=%3c",
		"user=%41", "user=%4", "user=%", "user=%ZZ", "user=<default>x", "User=a",
		"user=a/client-id=", "/client-id=a",
	} {
		t.Run(s, func(t *testing.T) {
			if e, err := ParseKey(s); !errors.Is(err, ErrBadKey) {
				t.Fatalf("ParseKey(%q) = %+v, %v; want ErrBadKey", s, e, err)
			}
		})
	}
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"user=alice", "user=<default>/client-id=x%2F", "client-id=%25", "user=%3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseKey(s)
		if err != nil {
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("ParseKey(%q) gave invalid %+v: %v", s, e, err)
		}
		if got := e.Key(); got != s {
			t.Fatalf("ParseKey(%q).Key() = %q", s, got)
		}
	})
}

func FuzzKey(f *testing.F) {
	f.Add("alice", "app", false, true)
	f.Fuzz(func(t *testing.T, u, c string, udef, cdef bool) {
		e := Entity{User: &Component{Name: u}, ClientID: &Component{Name: c}}
		if udef {
			e.User = def()
		}
		if cdef {
			e.ClientID = def()
		}
		if e.Validate() != nil {
			return
		}
		back, err := ParseKey(e.Key())
		if err != nil {
			t.Fatalf("ParseKey(%q): %v", e.Key(), err)
		}
		if partOf(back.User) != partOf(e.User) || partOf(back.ClientID) != partOf(e.ClientID) {
			t.Fatalf("round trip of %q gave %+v", e.Key(), back)
		}
	})
}

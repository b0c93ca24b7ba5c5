package auth

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// checkStepError fails unless err is nil or one of the sentinels an
// Exchange may return.
func checkStepError(t *testing.T, err error) {
	t.Helper()
	if err != nil && !errors.Is(err, ErrAuthenticationFailed) && !errors.Is(err, ErrMalformed) {
		t.Fatalf("error wraps no sentinel: %v", err)
	}
}

func FuzzScramClientFirst(f *testing.F) {
	for _, s := range []string{
		"n,,n=alice,r=abc",
		"y,,n=alice,r=abc,tokenauth=true",
		"n,a=alice,n=alice,r=abc,ext=1",
		"n,a=we=2Cird=3Dname,n=we=2Cird=3Dname,r=abc",
		"p=tls-unique,,n=alice,r=abc",
		"n,,m=x,n=a,r=b",
		"n,,n=a=,r=b",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		ex := newScramExchange(ScramSHA256, testLookup(), func() (string, error) { return "SNONCE", nil })
		out, done, err := ex.Step(msg)
		checkStepError(t, err)
		if done {
			t.Fatal("done after client-first")
		}
		if err == nil {
			if !bytes.HasPrefix(out, []byte("r=")) || !bytes.Contains(out, []byte("SNONCE,s=")) {
				t.Fatalf("server-first %q", out)
			}
			if len(out) > MaxScramMessage+256 {
				t.Fatalf("server-first of %d bytes", len(out))
			}
		}
	})
}

func FuzzScramClientFinal(f *testing.F) {
	const first = "n,,n=alice,r=abc"
	for _, s := range []string{
		"c=biws,r=abcSNONCE,p=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
		"c=biws,r=abcSNONCE,ext=1,p=AAAA",
		"c=eSws,r=abcSNONCE,p=",
		"c=,r=,p=",
		",p=",
		"c=biws",
		"",
	} {
		f.Add(false, []byte(s))
		f.Add(true, []byte(s))
	}
	f.Fuzz(func(t *testing.T, sha512 bool, msg []byte) {
		m := ScramSHA256
		if sha512 {
			m = ScramSHA512
		}
		ex := newScramExchange(m, testLookup(), func() (string, error) { return "SNONCE", nil })
		if _, _, err := ex.Step([]byte(first)); err != nil {
			t.Fatal(err)
		}
		out, done, err := ex.Step(msg)
		checkStepError(t, err)
		if err == nil {
			// Only a correct proof passes; the fuzzer cannot find one.
			t.Fatalf("client-final %q accepted: %q, done %v", msg, out, done)
		}
		if _, _, err := ex.Step(msg); !errors.Is(err, ErrIllegalState) {
			t.Fatalf("Step after the end: %v", err)
		}
	})
}

func FuzzPlain(f *testing.F) {
	for _, s := range []string{
		"\x00alice\x00alice-secret",
		"alice\x00alice\x00wrong",
		"\x00mallory\x00x",
		"\x00\x00",
		"a\x00b",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, msg []byte) {
		ex, _ := NewExchange("PLAIN", testLookup())
		out, done, err := ex.Step(msg)
		checkStepError(t, err)
		if len(out) != 0 {
			t.Fatalf("PLAIN sent %q", out)
		}
		if done != (err == nil) {
			t.Fatalf("done %v with error %v", done, err)
		}
		if err == nil && string(msg) != "\x00alice\x00alice-secret" && string(msg) != "alice\x00alice\x00alice-secret" {
			t.Fatalf("accepted %q", msg)
		}
	})
}

// FuzzRFC2253 feeds arbitrary DER to the subject formatter: client
// certificates are client input.
func FuzzRFC2253(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x00})
	f.Add([]byte("0\x121\x100\x0e\x06\x03U\x04\x03\x0c\x07alice,="))
	f.Add([]byte("0\x0f1\r0\v\x06\x03U\x04\x03\x1e\x04\x00a\x00"))
	f.Fuzz(func(t *testing.T, der []byte) {
		s, ok := rfc2253(der)
		if !ok && s != "" {
			t.Fatalf("failed parse returned %q", s)
		}
		// Hex doubles the input; escaping at most doubles a character.
		if len(s) > 8*len(der)+16 {
			t.Fatalf("%d bytes of DER gave %d bytes of name", len(der), len(s))
		}
	})
}

func FuzzParseUsers(f *testing.F) {
	f.Add("alice:secret\n# comment\n\nbob:pa:ss\r\n")
	f.Add(":x\n")
	f.Add("a:\n")
	f.Add("a:b\na:c")
	f.Fuzz(func(t *testing.T, in string) {
		users, err := ParseUsers(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrUsersFile) {
				t.Fatalf("error wraps no sentinel: %v", err)
			}
			return
		}
		seen := make(map[string]bool)
		for _, u := range users {
			if u.User == "" || u.Password == "" || strings.Contains(u.User, ":") || seen[u.User] {
				t.Fatalf("bad entry %q", u)
			}
			seen[u.User] = true
		}
	})
}

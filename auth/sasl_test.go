package auth

import (
	"context"
	"crypto/pbkdf2"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// testLookup serves credentials derived once per test binary: alice and
// "we,ird=name" have both SCRAM mechanisms, bob only SCRAM-SHA-256.
var testLookup = sync.OnceValue(func() Lookup {
	type key struct {
		user string
		m    Mechanism
	}
	creds := make(map[key]Credential)
	add := func(user, password string, ms ...Mechanism) {
		for _, m := range ms {
			c, err := NewCredential(m, password, MinIterations)
			if err != nil {
				panic(err)
			}
			creds[key{user, m}] = c
		}
	}
	add("alice", "alice-secret", ScramSHA256, ScramSHA512)
	add("we,ird=name", "pw,=", ScramSHA256, ScramSHA512)
	add("bob", "bob-secret", ScramSHA256)
	return func(user string, m Mechanism) (Credential, bool) {
		c, ok := creds[key{user, m}]
		return c, ok
	}
})

// clientMechanism is franz-go's client side of mechanism.
func clientMechanism(mechanism, user, password, zid string) sasl.Mechanism {
	switch mechanism {
	case "PLAIN":
		return plain.Auth{User: user, Pass: password, Zid: zid}.AsMechanism()
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: password, Zid: zid}.AsSha256Mechanism()
	default:
		return scram.Auth{User: user, Pass: password, Zid: zid}.AsSha512Mechanism()
	}
}

// authenticate drives ex with franz-go's client until one side finishes.
// It returns the number of Step calls and the server's error.
func authenticate(t *testing.T, client sasl.Mechanism, ex Exchange) (steps int, err error) {
	t.Helper()
	session, msg, err := client.Authenticate(context.Background(), "broker:9092")
	if err != nil {
		t.Fatalf("client Authenticate: %v", err)
	}
	for {
		out, done, err := ex.Step(msg)
		steps++
		if err != nil {
			return steps, err
		}
		clientDone, next, cerr := session.Challenge(out)
		if cerr != nil {
			t.Fatalf("client rejected server message %q: %v", out, cerr)
		}
		if done {
			if !clientDone {
				t.Fatal("server done, client not")
			}
			return steps, nil
		}
		if clientDone {
			t.Fatal("client done, server not")
		}
		msg = next
	}
}

func TestExchangeWithFranzGo(t *testing.T) {
	tests := []struct {
		name       string
		user, pw   string
		zid        string
		wantErr    error
		mechanisms []string // nil: all
	}{
		{name: "correct password", user: "alice", pw: "alice-secret"},
		{name: "escaped user name", user: "we,ird=name", pw: "pw,="},
		{name: "authzid equal to user", user: "alice", pw: "alice-secret", zid: "alice"},
		{name: "authzid of another user", user: "alice", pw: "alice-secret", zid: "bob", wantErr: ErrAuthenticationFailed},
		{name: "wrong password", user: "alice", pw: "alice-secreT", wantErr: ErrAuthenticationFailed},
		{name: "unknown user", user: "mallory", pw: "alice-secret", wantErr: ErrAuthenticationFailed},
		{name: "user name differs in case", user: "Alice", pw: "alice-secret", wantErr: ErrAuthenticationFailed},
		{name: "PLAIN falls back to SHA-256", user: "bob", pw: "bob-secret", mechanisms: []string{"PLAIN", "SCRAM-SHA-256"}},
		{name: "no SHA-512 credential", user: "bob", pw: "bob-secret", mechanisms: []string{"SCRAM-SHA-512"}, wantErr: ErrAuthenticationFailed},
	}
	for _, tt := range tests {
		ms := tt.mechanisms
		if ms == nil {
			ms = Mechanisms()
		}
		for _, mech := range ms {
			t.Run(tt.name+"/"+mech, func(t *testing.T) {
				ex, err := NewExchange(mech, testLookup())
				if err != nil {
					t.Fatal(err)
				}
				if p := ex.Principal(); p != Anonymous {
					t.Errorf("Principal before the exchange = %v", p)
				}
				_, err = authenticate(t, clientMechanism(mech, tt.user, tt.pw, tt.zid), ex)
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("error %v, want %v", err, tt.wantErr)
				}
				want := Anonymous
				if err == nil {
					want = User(tt.user)
				}
				if p := ex.Principal(); p != want {
					t.Errorf("Principal() = %v, want %v", p, want)
				}
				// The exchange is over either way.
				if _, _, err := ex.Step([]byte("n,,n=alice,r=x")); !errors.Is(err, ErrIllegalState) {
					t.Errorf("Step after the end: %v, want ErrIllegalState", err)
				}
			})
		}
	}
}

// An unknown user must look exactly like a known user with a wrong
// password: same steps, same error text, a salt and iteration count of the
// same shape, and the same salt on every attempt.
func TestUnknownUserIndistinguishable(t *testing.T) {
	for _, mech := range Mechanisms() {
		t.Run(mech, func(t *testing.T) {
			run := func(user string) (int, string) {
				ex, err := NewExchange(mech, testLookup())
				if err != nil {
					t.Fatal(err)
				}
				steps, err := authenticate(t, clientMechanism(mech, user, "guess", ""), ex)
				if !errors.Is(err, ErrAuthenticationFailed) {
					t.Fatalf("user %q: error %v, want ErrAuthenticationFailed", user, err)
				}
				return steps, err.Error()
			}
			knownSteps, knownErr := run("alice")
			unknownSteps, unknownErr := run("mallory")
			if knownSteps != unknownSteps || knownErr != unknownErr {
				t.Errorf("wrong password: %d steps, %q; unknown user: %d steps, %q",
					knownSteps, knownErr, unknownSteps, unknownErr)
			}
			if strings.Contains(unknownErr, "mallory") || strings.Contains(knownErr, "guess") {
				t.Errorf("error reveals client input: %q", unknownErr)
			}
		})
	}
	for _, m := range []Mechanism{ScramSHA256, ScramSHA512} {
		first := func(user string) string {
			ex := newScramExchange(m, testLookup(), randomNonce)
			out, _, err := ex.Step([]byte("n,,n=" + user + ",r=abc"))
			if err != nil {
				t.Fatal(err)
			}
			_, rest, _ := strings.Cut(string(out), ",") // drop the nonce
			return rest
		}
		known, unknown := first("alice"), first("mallory")
		if len(known) != len(unknown) || known[len(known)-7:] != unknown[len(unknown)-7:] {
			t.Errorf("%v server-first differs in shape: %q vs %q", m, known, unknown)
		}
		if again := first("mallory"); again != unknown {
			t.Errorf("%v unknown user's salt changes: %q then %q", m, unknown, again)
		}
		if other := first("trudy"); other == unknown {
			t.Errorf("%v two unknown users share a salt", m)
		}
	}
}

// RFC 7677 section 3: the SCRAM-SHA-256 example exchange, driven with the
// RFC's server nonce.
func TestScramSHA256RFC7677(t *testing.T) {
	salt, _ := base64.StdEncoding.DecodeString("W22ZaJ0SNY7soEsUEjb6gQ==")
	sp, err := pbkdf2.Key(sha256.New, "pencil", salt, 4096, sha256.Size)
	if err != nil {
		t.Fatal(err)
	}
	cred, err := CredentialFromSaltedPassword(ScramSHA256, salt, sp, 4096)
	if err != nil {
		t.Fatal(err)
	}
	if !cred.Verify("pencil") {
		t.Fatal("Verify(pencil) = false")
	}
	lookup := func(user string, m Mechanism) (Credential, bool) {
		return cred, user == "user" && m == ScramSHA256
	}
	ex := newScramExchange(ScramSHA256, lookup, func() (string, error) {
		return "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0", nil
	})
	steps := []struct{ client, server string }{
		{"n,,n=user,r=rOprNGfwEbeRWgbNEkqO",
			"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"},
		{"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
			"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="},
	}
	for i, s := range steps {
		out, done, err := ex.Step([]byte(s.client))
		if err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
		if string(out) != s.server {
			t.Errorf("step %d: server sent %q, want %q", i, out, s.server)
		}
		if done != (i == len(steps)-1) {
			t.Errorf("step %d: done = %v", i, done)
		}
	}
	if p := ex.Principal(); p != User("user") {
		t.Errorf("Principal() = %v", p)
	}
}

// scramRun starts a SCRAM exchange for alice with franz-go and returns the
// exchange after server-first with the client's correct client-final.
func scramRun(t *testing.T, mech string) (Exchange, string) {
	t.Helper()
	ex, err := NewExchange(mech, testLookup())
	if err != nil {
		t.Fatal(err)
	}
	session, first, err := clientMechanism(mech, "alice", "alice-secret", "").Authenticate(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	serverFirst, _, err := ex.Step(first)
	if err != nil {
		t.Fatal(err)
	}
	_, final, err := session.Challenge(serverFirst)
	if err != nil {
		t.Fatal(err)
	}
	return ex, string(final)
}

func TestScramClientFinalTampering(t *testing.T) {
	flipProof := func(final string) string {
		i := strings.LastIndex(final, ",p=")
		p, _ := base64.StdEncoding.DecodeString(final[i+3:])
		p[0] ^= 1
		return final[:i+3] + base64.StdEncoding.EncodeToString(p)
	}
	replace := func(old, new string) func(string) string {
		return func(s string) string { return strings.Replace(s, old, new, 1) }
	}
	tests := []struct {
		name    string
		edit    func(final string) string
		wantErr error
	}{
		{"untouched", func(s string) string { return s }, nil},
		{"tampered proof", flipProof, ErrAuthenticationFailed},
		{"mismatched nonce", replace(",r=", ",r=x"), ErrAuthenticationFailed},
		{"channel binding y,,", replace("c=biws", "c=eSws"), ErrAuthenticationFailed},
		{"channel binding p=", replace("c=biws", "c="+base64.StdEncoding.EncodeToString([]byte("p=tls-unique,,"))), ErrAuthenticationFailed},
		{"channel binding not base64", replace("c=biws", "c=b!ws"), ErrMalformed},
		{"no channel binding", replace("c=biws,", ""), ErrMalformed},
		{"no proof", func(s string) string { return s[:strings.LastIndex(s, ",p=")] }, ErrMalformed},
		{"short proof", func(s string) string { return s[:strings.LastIndex(s, ",p=")] + ",p=AAAA" }, ErrMalformed},
		{"proof not base64", func(s string) string { return s[:strings.LastIndex(s, ",p=")] + ",p=%%%%" }, ErrMalformed},
		{"extension changes the signed message", replace(",p=", ",x=1,p="), ErrAuthenticationFailed},
		{"oversized", func(s string) string { return s + strings.Repeat("A", MaxScramMessage) }, ErrMalformed},
		{"NUL", replace("c=", "\x00c="), ErrMalformed},
	}
	for _, mech := range []string{"SCRAM-SHA-256", "SCRAM-SHA-512"} {
		for _, tt := range tests {
			t.Run(mech+"/"+tt.name, func(t *testing.T) {
				ex, final := scramRun(t, mech)
				_, done, err := ex.Step([]byte(tt.edit(final)))
				if !errors.Is(err, tt.wantErr) || done != (tt.wantErr == nil) {
					t.Fatalf("Step: done %v, error %v; want error %v", done, err, tt.wantErr)
				}
			})
		}
	}
}

// A client-final message replayed into another exchange fails: the server
// nonce differs.
func TestScramReplay(t *testing.T) {
	ex1, final := scramRun(t, "SCRAM-SHA-256")
	if _, done, err := ex1.Step([]byte(final)); err != nil || !done {
		t.Fatalf("first exchange: %v", err)
	}
	ex2, _ := scramRun(t, "SCRAM-SHA-256")
	if _, _, err := ex2.Step([]byte(final)); !errors.Is(err, ErrAuthenticationFailed) {
		t.Fatalf("replayed client-final: %v, want ErrAuthenticationFailed", err)
	}
}

func TestScramClientFirst(t *testing.T) {
	tests := []struct {
		name    string
		msg     string
		wantErr error
	}{
		{"plain", "n,,n=alice,r=abc", nil},
		{"client supports channel binding", "y,,n=alice,r=abc", nil},
		{"authzid", "n,a=alice,n=alice,r=abc", nil},
		{"escaped authzid", "n,a=we=2Cird=3Dname,n=we=2Cird=3Dname,r=abc", nil},
		{"unknown extension ignored", "n,,n=alice,r=abc,foo=bar", nil},
		{"tokenauth=false ignored", "n,,n=alice,r=abc,tokenauth=false", nil},
		{"unknown user", "n,,n=mallory,r=abc", nil},
		{"delegation token", "n,,n=alice,r=abc,tokenauth=true", ErrAuthenticationFailed},
		{"delegation token upper case", "n,,n=alice,r=abc,tokenauth=TRUE", ErrAuthenticationFailed},
		{"authzid differs", "n,a=bob,n=alice,r=abc", ErrAuthenticationFailed},
		{"channel binding required", "p=tls-unique,,n=alice,r=abc", ErrMalformed},
		{"empty", "", ErrMalformed},
		{"no gs2 header", "n=alice,r=abc", ErrMalformed},
		{"unterminated gs2 header", "n,a=alice", ErrMalformed},
		{"bad authzid", "n,x=alice,n=alice,r=abc", ErrMalformed},
		{"empty authzid", "n,a=,n=alice,r=abc", ErrMalformed},
		{"no nonce", "n,,n=alice", ErrMalformed},
		{"empty nonce", "n,,n=alice,r=", ErrMalformed},
		{"nonce with space", "n,,n=alice,r=a b", ErrMalformed},
		{"empty user", "n,,n=,r=abc", ErrMalformed},
		{"bad escape", "n,,n=al=ice,r=abc", ErrMalformed},
		{"truncated escape", "n,,n=alice=2,r=abc", ErrMalformed},
		{"mandatory extension", "n,,m=x,n=alice,r=abc", ErrMalformed},
		{"attributes swapped", "n,,r=abc,n=alice", ErrMalformed},
		{"extension without value", "n,,n=alice,r=abc,junk", ErrMalformed},
		{"not UTF-8", "n,,n=\xff,r=abc", ErrMalformed},
		{"NUL in user", "n,,n=al\x00ice,r=abc", ErrMalformed},
		{"oversized", "n,,n=" + strings.Repeat("a", MaxScramMessage) + ",r=abc", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := newScramExchange(ScramSHA256, testLookup(), func() (string, error) { return "SNONCE", nil })
			out, done, err := ex.Step([]byte(tt.msg))
			if !errors.Is(err, tt.wantErr) || done {
				t.Fatalf("done %v, error %v; want error %v", done, err, tt.wantErr)
			}
			if err != nil {
				if _, _, err := ex.Step([]byte("c=biws,r=abcSNONCE,p=AAAA")); !errors.Is(err, ErrIllegalState) {
					t.Errorf("Step after a failure: %v, want ErrIllegalState", err)
				}
				return
			}
			if !strings.HasPrefix(string(out), "r=abcSNONCE,s=") || !strings.HasSuffix(string(out), ",i=4096") {
				t.Errorf("server-first %q", out)
			}
		})
	}
}

// With gs2 flag "y" a correct client must send c=eSws (base64 of "y,,").
func TestScramGS2FlagY(t *testing.T) {
	for _, tt := range []struct {
		cbind   string
		wantErr error
	}{{"eSws", nil}, {"biws", ErrAuthenticationFailed}} {
		ex := newScramExchange(ScramSHA512, testLookup(), randomNonce)
		final := testClientFinal(t, ex, ScramSHA512, "y,,", "alice", "alice-secret", tt.cbind)
		if _, _, err := ex.Step([]byte(final)); !errors.Is(err, tt.wantErr) {
			t.Errorf("c=%s: %v, want %v", tt.cbind, err, tt.wantErr)
		}
	}
}

// testClientFinal is a minimal SCRAM client: it sends client-first with
// gs2Header and returns client-final with channel binding cbind.
func testClientFinal(t *testing.T, ex Exchange, m Mechanism, gs2Header, user, password, cbind string) string {
	t.Helper()
	return testClientFinalNonce(t, ex, m, gs2Header, user, password, cbind, func(n string) string { return n })
}

// testClientFinalNonce is testClientFinal with the combined nonce the
// client sends back made by nonceOf from the server's.
func testClientFinalNonce(t *testing.T, ex Exchange, m Mechanism, gs2Header, user, password, cbind string, nonceOf func(string) string) string {
	t.Helper()
	bare := "n=" + user + ",r=clientnonce"
	serverFirst, _, err := ex.Step([]byte(gs2Header + bare))
	if err != nil {
		t.Fatal(err)
	}
	var nonce, salt64 string
	for _, kv := range strings.Split(string(serverFirst), ",") {
		switch kv[:2] {
		case "r=":
			nonce = kv[2:]
		case "s=":
			salt64 = kv[2:]
		}
	}
	salt, _ := base64.StdEncoding.DecodeString(salt64)
	sp, err := pbkdf2.Key(m.Hash(), password, salt, MinIterations, m.KeyLen())
	if err != nil {
		t.Fatal(err)
	}
	withoutProof := "c=" + cbind + ",r=" + nonceOf(nonce)
	clientKey := hmacSum(m, sp, []byte("Client Key"))
	storedKey, _ := deriveKeys(m, sp)
	proof := hmacSum(m, storedKey, []byte(bare+","+string(serverFirst)+","+withoutProof))
	for i := range proof {
		proof[i] ^= clientKey[i]
	}
	return withoutProof + ",p=" + base64.StdEncoding.EncodeToString(proof)
}

// TestScramLibrdkafkaNonce: librdkafka before 2.6.1 (Debian's kcat and
// confluent-kafka-python) sends its client nonce twice before the server's;
// that form is accepted, and no other prefix is.
func TestScramLibrdkafkaNonce(t *testing.T) {
	for _, tt := range []struct {
		name    string
		nonceOf func(string) string
		wantErr error
	}{
		{"as sent", func(n string) string { return n }, nil},
		{"client nonce twice", func(n string) string { return "clientnonce" + n }, nil},
		{"another prefix", func(n string) string { return "x" + n }, ErrAuthenticationFailed},
		{"client nonce three times", func(n string) string { return "clientnonceclientnonce" + n }, ErrAuthenticationFailed},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ex, _ := NewExchange(ScramSHA256.String(), testLookup())
			final := testClientFinalNonce(t, ex, ScramSHA256, "n,,", "alice", "alice-secret", "biws", tt.nonceOf)
			if _, _, err := ex.Step([]byte(final)); !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestPlainMessages(t *testing.T) {
	tests := []struct {
		name    string
		msg     string
		wantErr error
	}{
		{"no authzid", "\x00alice\x00alice-secret", nil},
		{"authzid equal", "alice\x00alice\x00alice-secret", nil},
		{"authzid differs", "bob\x00alice\x00alice-secret", ErrAuthenticationFailed},
		{"wrong password", "\x00alice\x00alice-secreT", ErrAuthenticationFailed},
		{"password with NUL", "\x00alice\x00alice\x00secret", ErrMalformed},
		{"one field", "alice", ErrMalformed},
		{"two fields", "alice\x00alice-secret", ErrMalformed},
		{"empty user", "\x00\x00alice-secret", ErrMalformed},
		{"empty password", "\x00alice\x00", ErrMalformed},
		{"not UTF-8", "\x00alice\x00\xff", ErrMalformed},
		{"oversized", "\x00alice\x00" + strings.Repeat("x", MaxPlainMessage), ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex, _ := NewExchange("PLAIN", testLookup())
			out, done, err := ex.Step([]byte(tt.msg))
			if !errors.Is(err, tt.wantErr) || done != (err == nil) || len(out) != 0 {
				t.Fatalf("out %q, done %v, error %v; want error %v", out, done, err, tt.wantErr)
			}
		})
	}
}

func TestNewExchange(t *testing.T) {
	if got := strings.Join(Mechanisms(), " "); got != "PLAIN SCRAM-SHA-256 SCRAM-SHA-512" {
		t.Errorf("Mechanisms() = %s", got)
	}
	for _, name := range []string{"GSSAPI", "OAUTHBEARER", "plain", "SCRAM-SHA-1", ""} {
		if _, err := NewExchange(name, testLookup()); !errors.Is(err, ErrUnsupportedMechanism) {
			t.Errorf("NewExchange(%q) error %v, want ErrUnsupportedMechanism", name, err)
		}
	}
	// A nil lookup knows nobody.
	ex, err := NewExchange("PLAIN", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ex.Step([]byte("\x00alice\x00alice-secret")); !errors.Is(err, ErrAuthenticationFailed) {
		t.Errorf("nil lookup: %v", err)
	}
}

// A stored credential that fails Validate is treated as absent.
func TestInvalidStoredCredential(t *testing.T) {
	good, err := NewCredential(ScramSHA256, "pw", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	bad := good
	bad.Iterations = 1000
	lookup := func(string, Mechanism) (Credential, bool) { return bad, true }
	for _, mech := range Mechanisms() {
		ex, _ := NewExchange(mech, lookup)
		if _, err := authenticate(t, clientMechanism(mech, "alice", "pw", ""), ex); !errors.Is(err, ErrAuthenticationFailed) {
			t.Errorf("%s: %v, want ErrAuthenticationFailed", mech, err)
		}
	}
}

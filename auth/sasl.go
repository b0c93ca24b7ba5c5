package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"sync"
)

// Exchange is the server side of one SASL authentication: the broker feeds
// it the auth_bytes of each SaslAuthenticate request (or each raw SASL
// frame of a v0 SaslHandshake connection) and sends back what it returns.
//
// Step consumes one client message. On success it returns the message to
// send back and whether the exchange is complete; once done is true,
// Principal is the authenticated user. On error the exchange is over and
// failed: the error wraps ErrAuthenticationFailed, ErrMalformed or
// ErrIllegalState, and its text is safe to send to the client as the
// SaslAuthenticate error message. A serverMsg may be empty (PLAIN's
// success), in which case an empty auth_bytes is sent. Every call after the
// first error, or after done, returns an ErrIllegalState error.
//
// Principal returns Anonymous until Step has returned done with no error.
//
// An Exchange is used by one goroutine (the connection's) at a time; it is
// not safe for concurrent use.
type Exchange interface {
	Step(clientMsg []byte) (serverMsg []byte, done bool, err error)
	Principal() Principal
}

// Mechanism names, as Kafka spells them in SaslHandshake.
const (
	mechPlain       = "PLAIN"
	mechScramSHA256 = "SCRAM-SHA-256"
	mechScramSHA512 = "SCRAM-SHA-512"
)

// Mechanisms returns the SASL mechanisms NewExchange supports, in the order
// a SaslHandshake response lists them: PLAIN, SCRAM-SHA-256,
// SCRAM-SHA-512. The slice is the caller's to modify.
func Mechanisms() []string {
	return []string{mechPlain, mechScramSHA256, mechScramSHA512}
}

// NewExchange starts the server side of an authentication with the named
// mechanism (case-sensitive, as Kafka). lookup supplies the stored SCRAM
// credentials; PLAIN verifies passwords against them too. A nil lookup
// knows no user.
func NewExchange(mechanism string, lookup Lookup) (Exchange, error) {
	if lookup == nil {
		lookup = func(string, Mechanism) (Credential, bool) { return Credential{}, false }
	}
	switch mechanism {
	case mechPlain:
		return &plainExchange{lookup: lookup}, nil
	case mechScramSHA256, mechScramSHA512:
		m, _ := MechanismByName(mechanism)
		return newScramExchange(m, lookup, randomNonce), nil
	}
	return nil, fmt.Errorf("%w: only %v are enabled", ErrUnsupportedMechanism, Mechanisms())
}

// state is where an exchange stands.
type state uint8

const (
	stateFirst  state = iota // waiting for the first client message
	stateFinal               // SCRAM: waiting for client-final
	stateDone                // authenticated
	stateFailed              // an error was returned
)

func errInvalidCredentials(mechanism string) error {
	return fmt.Errorf("%w: invalid credentials with SASL mechanism %s", ErrAuthenticationFailed, mechanism)
}

func errFinished(mechanism string) error {
	return fmt.Errorf("%w: %s", ErrIllegalState, mechanism)
}

// fakeKey is a per-process secret from which credentials for unknown users
// are derived, so that an unknown user gets the same salt every time (a
// fresh random salt per attempt would tell an attacker the user does not
// exist) while no one outside the process can predict it.
var fakeKey = sync.OnceValue(func() []byte {
	k := make([]byte, 32)
	rand.Read(k) // never fails (crypto/rand crashes the program instead)
	return k
})

// fakeCredential is the stand-in credential for a user with none (or with
// one that fails Validate): deterministic per user and mechanism, with
// SaltLen bytes of salt and MinIterations, like a credential made by
// NewCredential with Kafka's default 4096 iterations. No password matches
// its keys except with negligible probability, and exchanges never accept
// a fake credential anyway.
func fakeCredential(m Mechanism, user string) Credential {
	key := fakeKey()
	label := func(s string) []byte { return append([]byte(s), 0, byte(m)) }
	salt := hmac.New(sha256.New, key)
	salt.Write(label("salt"))
	salt.Write([]byte(user))
	return Credential{
		Mechanism:  m,
		Iterations: MinIterations,
		Salt:       salt.Sum(nil)[:SaltLen],
		StoredKey:  hmacSum(m, key, label("stored"), []byte(user)),
		ServerKey:  hmacSum(m, key, label("server"), []byte(user)),
	}
}

// credentialFor looks user up for m and reports whether the credential is
// real; when it is not, the fake credential is returned in its place.
func credentialFor(lookup Lookup, m Mechanism, user string) (Credential, bool) {
	c, ok := lookup(user, m)
	if ok && c.Mechanism == m && c.Validate() == nil {
		return c, true
	}
	return fakeCredential(m, user), false
}

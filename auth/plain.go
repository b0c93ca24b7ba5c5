package auth

import (
	"bytes"
	"fmt"
	"unicode/utf8"
)

// MaxPlainMessage bounds a PLAIN client message (authzid, user name and
// password with their two separators). RFC 4616 allows 255 bytes for each
// of the three fields; 4 KiB leaves room for long generated passwords.
const MaxPlainMessage = 4096

// plainExchange is PLAIN (RFC 4616): one client message
// "[authzid] NUL authcid NUL passwd", checked against the user's stored
// SCRAM credentials.
type plainExchange struct {
	lookup    Lookup
	state     state
	principal Principal
}

var _ Exchange = (*plainExchange)(nil)

// Step implements Exchange. The password is verified against both the
// SCRAM-SHA-512 and the SCRAM-SHA-256 credential (a fake one where the user
// has none), always both, so that the work done, two PBKDF2 derivations,
// does not depend on which credentials the user has or whether it exists.
func (e *plainExchange) Step(msg []byte) ([]byte, bool, error) {
	if e.state != stateFirst {
		return nil, false, errFinished(mechPlain)
	}
	e.state = stateFailed
	if len(msg) > MaxPlainMessage {
		return nil, false, fmt.Errorf("%w: PLAIN message longer than %d bytes", ErrMalformed, MaxPlainMessage)
	}
	parts := bytes.Split(msg, []byte{0})
	if len(parts) != 3 {
		return nil, false, fmt.Errorf("%w: PLAIN message must be [authzid] NUL user NUL password", ErrMalformed)
	}
	authzid, user, password := string(parts[0]), string(parts[1]), string(parts[2])
	if user == "" || password == "" {
		return nil, false, fmt.Errorf("%w: PLAIN user name and password must be non-empty", ErrMalformed)
	}
	if !utf8.ValidString(authzid) || !utf8.ValidString(user) || !utf8.ValidString(password) {
		return nil, false, fmt.Errorf("%w: PLAIN message is not UTF-8", ErrMalformed)
	}
	if authzid != "" && authzid != user {
		return nil, false, fmt.Errorf("%w: authorization id differs from user name", ErrAuthenticationFailed)
	}
	ok := false
	for _, m := range []Mechanism{ScramSHA512, ScramSHA256} {
		c, real := credentialFor(e.lookup, m, user)
		if c.Verify(password) && real {
			ok = true
		}
	}
	if !ok {
		return nil, false, errInvalidCredentials(mechPlain)
	}
	e.state = stateDone
	e.principal = User(user)
	return nil, true, nil
}

// Principal implements Exchange.
func (e *plainExchange) Principal() Principal {
	if e.state != stateDone {
		return Anonymous
	}
	return e.principal
}

package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxScramMessage bounds each SCRAM client message (client-first and
// client-final). Real clients send well under 300 bytes.
const MaxScramMessage = 4096

// serverNonceLen is the number of random bytes in a server nonce, sent
// base64-encoded (32 characters).
const serverNonceLen = 24

// randomNonce is the server nonce source of NewExchange.
func randomNonce() (string, error) {
	b := make([]byte, serverNonceLen)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: read nonce: %w", err)
	}
	return base64.RawStdEncoding.EncodeToString(b), nil
}

// scramExchange is the server side of SCRAM (RFC 5802, RFC 7677) as Kafka's
// ScramSaslServer runs it:
//
//	C: gs2-header client-first-bare     n,,n=user,r=cnonce[,ext...]
//	S: server-first                     r=cnonce+snonce,s=salt,i=iterations
//	C: client-final                     c=biws,r=cnonce+snonce[,ext...],p=proof
//	S: server-final                     v=signature
//
// Deviations from Kafka, all stricter or quieter: an unknown user is
// carried through to the proof check with a fake credential instead of
// failing at client-first; the gs2 flag "y" is accepted as RFC 5802 asks;
// the channel-binding attribute is checked against the gs2 header; the
// nonce must equal the combined nonce, not merely end with the server's —
// or be librdkafka's before 2.6.1, which repeats the client nonce
// (cnonce+cnonce+snonce; its issue 4895), still bound to this exchange by
// both nonces. Debian's kcat and confluent-kafka-python send that.
type scramExchange struct {
	mech   Mechanism
	lookup Lookup
	nonce  func() (string, error)
	state  state

	user            string
	cred            Credential
	real            bool   // cred came from lookup, not fakeCredential
	gs2Header       string // as the client sent it, e.g. "n,,"
	gs2Flag         byte   // 'n' or 'y'
	authzid         string
	clientFirstBare string
	serverFirst     string
	fullNonce       string
	librdkafkaNonce string // cnonce+fullNonce, what librdkafka before 2.6.1 sends
}

var _ Exchange = (*scramExchange)(nil)

// newScramExchange is NewExchange for SCRAM with the server nonce source
// as a seam for tests.
func newScramExchange(m Mechanism, lookup Lookup, nonce func() (string, error)) *scramExchange {
	return &scramExchange{mech: m, lookup: lookup, nonce: nonce}
}

// Step implements Exchange: the first call takes client-first and returns
// server-first, the second takes client-final and returns server-final
// with done set.
func (e *scramExchange) Step(msg []byte) ([]byte, bool, error) {
	var step func([]byte) ([]byte, error)
	var next state
	switch e.state {
	case stateFirst:
		step, next = e.clientFirst, stateFinal
	case stateFinal:
		step, next = e.clientFinal, stateDone
	default:
		return nil, false, errFinished(e.mech.String())
	}
	// A failed step ends the exchange: any further Step is illegal.
	e.state = stateFailed
	out, err := step(msg)
	if err != nil {
		return nil, false, err
	}
	e.state = next
	return out, next == stateDone, nil
}

// Principal implements Exchange.
func (e *scramExchange) Principal() Principal {
	if e.state != stateDone {
		return Anonymous
	}
	return User(e.user)
}

func (e *scramExchange) malformed(what string) error {
	return fmt.Errorf("%w: %s %s", ErrMalformed, e.mech, what)
}

// checkMessage applies the bounds common to both client messages.
func (e *scramExchange) checkMessage(msg []byte, name string) error {
	if len(msg) > MaxScramMessage {
		return e.malformed(fmt.Sprintf("%s longer than %d bytes", name, MaxScramMessage))
	}
	if !utf8.Valid(msg) || strings.IndexByte(string(msg), 0) >= 0 {
		return e.malformed(name + " is not UTF-8 without NUL")
	}
	return nil
}

// clientFirst parses
//
//	client-first-message = gs2-header client-first-message-bare
//	gs2-header = gs2-cbind-flag "," [ authzid ] ","
//	client-first-message-bare = [reserved-mext ","] username "," nonce ["," extensions]
func (e *scramExchange) clientFirst(msg []byte) ([]byte, error) {
	if err := e.checkMessage(msg, "client-first message"); err != nil {
		return nil, err
	}
	s := string(msg)
	switch {
	case strings.HasPrefix(s, "n,"), strings.HasPrefix(s, "y,"):
		e.gs2Flag = s[0]
	case strings.HasPrefix(s, "p="):
		return nil, e.malformed("channel binding is not supported")
	default:
		return nil, e.malformed("client-first message has no gs2 header")
	}
	rest := s[2:]
	i := strings.IndexByte(rest, ',')
	if i < 0 {
		return nil, e.malformed("gs2 header is not terminated")
	}
	if a := rest[:i]; a != "" {
		if !strings.HasPrefix(a, "a=") {
			return nil, e.malformed("gs2 header has a bad authzid")
		}
		z, ok := decodeSaslName(a[2:])
		if !ok || z == "" {
			return nil, e.malformed("gs2 header has a bad authzid")
		}
		e.authzid = z
	}
	e.gs2Header = s[:2+i+1]
	e.clientFirstBare = rest[i+1:]

	fields := strings.Split(e.clientFirstBare, ",")
	if strings.HasPrefix(fields[0], "m=") {
		return nil, e.malformed("mandatory extensions are not supported")
	}
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "n=") || !strings.HasPrefix(fields[1], "r=") {
		return nil, e.malformed("client-first message must be n=user,r=nonce")
	}
	user, ok := decodeSaslName(fields[0][2:])
	if !ok || user == "" {
		return nil, e.malformed("user name is empty or badly escaped")
	}
	cnonce := fields[1][2:]
	if !validNonce(cnonce) {
		return nil, e.malformed("client nonce is empty or not printable")
	}
	for _, ext := range fields[2:] {
		k, v, ok := strings.Cut(ext, "=")
		if !ok || k == "" {
			return nil, e.malformed("extension is not key=value")
		}
		// Kafka's ScramExtensions: tokenauth=true asks to authenticate with a
		// delegation token (KIP-48), which Strata does not have. Other
		// extensions are ignored, as Kafka does.
		if k == "tokenauth" && strings.EqualFold(v, "true") {
			return nil, fmt.Errorf("%w: delegation tokens are not supported", ErrAuthenticationFailed)
		}
	}
	if e.authzid != "" && e.authzid != user {
		return nil, fmt.Errorf("%w: authorization id differs from user name", ErrAuthenticationFailed)
	}

	e.user = user
	e.cred, e.real = credentialFor(e.lookup, e.mech, user)
	snonce, err := e.nonce()
	if err != nil {
		return nil, err
	}
	e.fullNonce = cnonce + snonce
	e.librdkafkaNonce = cnonce + e.fullNonce
	e.serverFirst = "r=" + e.fullNonce +
		",s=" + base64.StdEncoding.EncodeToString(e.cred.Salt) +
		",i=" + strconv.Itoa(int(e.cred.Iterations))
	return []byte(e.serverFirst), nil
}

// clientFinal parses
//
//	client-final-message = channel-binding "," nonce ["," extensions] "," proof
//
// and checks the proof: ClientKey = ClientProof XOR HMAC(StoredKey,
// AuthMessage) must hash to StoredKey.
func (e *scramExchange) clientFinal(msg []byte) ([]byte, error) {
	if err := e.checkMessage(msg, "client-final message"); err != nil {
		return nil, err
	}
	s := string(msg)
	i := strings.LastIndex(s, ",p=")
	if i < 0 {
		return nil, e.malformed("client-final message has no proof")
	}
	withoutProof, proof64 := s[:i], s[i+len(",p="):]
	fields := strings.Split(withoutProof, ",")
	if len(fields) < 2 || !strings.HasPrefix(fields[0], "c=") || !strings.HasPrefix(fields[1], "r=") {
		return nil, e.malformed("client-final message must be c=binding,r=nonce,...,p=proof")
	}
	cbind, err := base64.StdEncoding.Strict().DecodeString(fields[0][2:])
	if err != nil {
		return nil, e.malformed("channel binding is not base64")
	}
	proof, err := base64.StdEncoding.Strict().DecodeString(proof64)
	if err != nil || len(proof) != e.mech.KeyLen() {
		return nil, e.malformed("proof is not base64 of the hash length")
	}
	if !e.channelBindingOK(string(cbind)) {
		return nil, fmt.Errorf("%w: %s channel binding does not match the gs2 header", ErrAuthenticationFailed, e.mech)
	}
	if n := fields[1][2:]; n != e.fullNonce && n != e.librdkafkaNonce {
		return nil, fmt.Errorf("%w: %s nonce does not match", ErrAuthenticationFailed, e.mech)
	}

	authMessage := []byte(e.clientFirstBare + "," + e.serverFirst + "," + withoutProof)
	clientKey := hmacSum(e.mech, e.cred.StoredKey, authMessage)
	for j := range clientKey {
		clientKey[j] ^= proof[j]
	}
	h := e.mech.Hash()()
	h.Write(clientKey)
	match := subtle.ConstantTimeCompare(h.Sum(nil), e.cred.StoredKey) == 1
	if !match || !e.real {
		return nil, errInvalidCredentials(e.mech.String())
	}
	serverSignature := hmacSum(e.mech, e.cred.ServerKey, authMessage)
	return []byte("v=" + base64.StdEncoding.EncodeToString(serverSignature)), nil
}

// channelBindingOK reports whether the decoded c= attribute is the gs2
// header the client sent (RFC 5802 section 7: cbind-input without
// cbind-data, as this server supports no channel binding). One exception:
// for a header "n,a=user," the bare "n,," is accepted too, because
// franz-go's client always sends "biws"; the authzid must equal the user
// name anyway, so nothing is lost.
func (e *scramExchange) channelBindingOK(cbind string) bool {
	if hmac.Equal([]byte(cbind), []byte(e.gs2Header)) {
		return true
	}
	return e.gs2Flag == 'n' && e.authzid != "" && cbind == "n,,"
}

// decodeSaslName undoes RFC 5802's saslname escaping ("=2C" is ",", "=3D"
// is "="); any other "=" is an error.
func decodeSaslName(s string) (string, bool) {
	if !strings.Contains(s, "=") {
		return s, true
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '=' {
			b.WriteByte(s[i])
			continue
		}
		switch {
		case strings.HasPrefix(s[i:], "=2C"):
			b.WriteByte(',')
		case strings.HasPrefix(s[i:], "=3D"):
			b.WriteByte('=')
		default:
			return "", false
		}
		i += 2
	}
	return b.String(), true
}

// validNonce reports whether s is a non-empty run of printable ASCII other
// than ',' (RFC 5802's c-nonce).
func validNonce(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e || s[i] == ',' {
			return false
		}
	}
	return true
}

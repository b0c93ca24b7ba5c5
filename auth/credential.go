package auth

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"hash"
)

// Mechanism is a SCRAM mechanism.
type Mechanism int8

// The SCRAM mechanisms, numbered as Kafka's ScramMechanism (the values of
// DescribeUserScramCredentials and AlterUserScramCredentials).
const (
	ScramSHA256 Mechanism = 1
	ScramSHA512 Mechanism = 2
)

// Iteration bounds, as Kafka enforces them for AlterUserScramCredentials
// (ScramMechanism.minIterations and the 16384 maximum of KIP-554).
const (
	MinIterations = 4096
	MaxIterations = 16384
)

// SaltLen is the length of the random salt NewCredential draws.
const SaltLen = 32

// maxSaltLen bounds the salt a stored credential may carry; a salt is sent
// to every client that names the user, so it must stay small.
const maxSaltLen = 1024

// String is the mechanism's SASL name: "SCRAM-SHA-256" or "SCRAM-SHA-512",
// "UNKNOWN" for any other value (as Kafka's ScramMechanism.UNKNOWN).
func (m Mechanism) String() string {
	switch m {
	case ScramSHA256:
		return "SCRAM-SHA-256"
	case ScramSHA512:
		return "SCRAM-SHA-512"
	}
	return "UNKNOWN"
}

// Valid reports whether m is ScramSHA256 or ScramSHA512.
func (m Mechanism) Valid() bool { return m == ScramSHA256 || m == ScramSHA512 }

// Hash returns the constructor of the mechanism's hash function, nil for an
// invalid mechanism.
func (m Mechanism) Hash() func() hash.Hash {
	switch m {
	case ScramSHA256:
		return sha256.New
	case ScramSHA512:
		return sha512.New
	}
	return nil
}

// KeyLen is the length in bytes of the mechanism's salted password,
// StoredKey, ServerKey and client proof (the hash's output size); 0 for an
// invalid mechanism.
func (m Mechanism) KeyLen() int {
	switch m {
	case ScramSHA256:
		return sha256.Size
	case ScramSHA512:
		return sha512.Size
	}
	return 0
}

// MechanismByName returns the SCRAM mechanism with the given SASL name
// ("SCRAM-SHA-256", "SCRAM-SHA-512"; case-sensitive, as Kafka).
func MechanismByName(name string) (Mechanism, bool) {
	switch name {
	case "SCRAM-SHA-256":
		return ScramSHA256, true
	case "SCRAM-SHA-512":
		return ScramSHA512, true
	}
	return 0, false
}

// Credential is what is stored for one user and one SCRAM mechanism: never
// the password, only what RFC 5802 lets a server keep.
type Credential struct {
	Mechanism  Mechanism `json:"mechanism"`
	Iterations int32     `json:"iterations"`
	Salt       []byte    `json:"salt"`
	StoredKey  []byte    `json:"storedKey"`
	ServerKey  []byte    `json:"serverKey"`
}

// Lookup returns a user's credential for a mechanism; ok is false when the
// user has none for it. The returned credential's Mechanism must be m (one
// that is not, or that fails Validate, is treated as absent). Lookup is
// called once per SCRAM exchange and twice per PLAIN exchange, from the
// goroutine that calls Step, so it must be safe for concurrent use and
// should not block for long (an in-memory cache of the store, not a round
// trip to etcd).
type Lookup func(user string, m Mechanism) (c Credential, ok bool)

// NewCredential derives a credential for password with a fresh random
// salt of SaltLen bytes (RFC 5802 section 3):
//
//	SaltedPassword = PBKDF2(HMAC-H, password, salt, iterations)
//	StoredKey      = H(HMAC(SaltedPassword, "Client Key"))
//	ServerKey      = HMAC(SaltedPassword, "Server Key")
//
// The password is used as given (no SASLprep), as Kafka does.
func NewCredential(m Mechanism, password string, iterations int32) (Credential, error) {
	if !m.Valid() {
		return Credential{}, fmt.Errorf("%w: mechanism %d", ErrUnsupportedMechanism, m)
	}
	if err := checkIterations(iterations); err != nil {
		return Credential{}, err
	}
	salt := make([]byte, SaltLen)
	if _, err := rand.Read(salt); err != nil {
		return Credential{}, fmt.Errorf("auth: read salt: %w", err)
	}
	sp, err := saltPassword(m, password, salt, iterations)
	if err != nil {
		return Credential{}, err
	}
	return CredentialFromSaltedPassword(m, salt, sp, iterations)
}

// CredentialFromSaltedPassword builds a credential from a salt and a salted
// password, the form in which AlterUserScramCredentials (KIP-554) upserts
// arrive. The salted password must be KeyLen bytes long (what PBKDF2 with
// the mechanism's hash yields; Kafka does not check the length, a client
// computing it as Kafka's ScramFormatter does always passes). The slices
// are copied.
func CredentialFromSaltedPassword(m Mechanism, salt, saltedPassword []byte, iterations int32) (Credential, error) {
	if !m.Valid() {
		return Credential{}, fmt.Errorf("%w: mechanism %d", ErrUnsupportedMechanism, m)
	}
	if err := checkIterations(iterations); err != nil {
		return Credential{}, err
	}
	if len(salt) == 0 || len(salt) > maxSaltLen {
		return Credential{}, fmt.Errorf("%w: salt length %d, want 1..%d", ErrInvalidCredential, len(salt), maxSaltLen)
	}
	if len(saltedPassword) != m.KeyLen() {
		return Credential{}, fmt.Errorf("%w: salted password length %d, want %d for %s", ErrInvalidCredential, len(saltedPassword), m.KeyLen(), m)
	}
	storedKey, serverKey := deriveKeys(m, saltedPassword)
	return Credential{
		Mechanism:  m,
		Iterations: iterations,
		Salt:       append([]byte(nil), salt...),
		StoredKey:  storedKey,
		ServerKey:  serverKey,
	}, nil
}

// Validate reports whether c can be used by an exchange: a valid
// mechanism, iterations in bounds, a salt of 1..1024 bytes and keys of
// KeyLen bytes. Exchanges treat a credential that fails Validate as absent
// (the client sees invalid credentials), so stores should call Validate
// before they accept one.
func (c Credential) Validate() error {
	if !c.Mechanism.Valid() {
		return fmt.Errorf("%w: mechanism %d", ErrInvalidCredential, c.Mechanism)
	}
	if err := checkIterations(c.Iterations); err != nil {
		return err
	}
	if len(c.Salt) == 0 || len(c.Salt) > maxSaltLen {
		return fmt.Errorf("%w: salt length %d, want 1..%d", ErrInvalidCredential, len(c.Salt), maxSaltLen)
	}
	if n := c.Mechanism.KeyLen(); len(c.StoredKey) != n || len(c.ServerKey) != n {
		return fmt.Errorf("%w: key lengths %d and %d, want %d for %s", ErrInvalidCredential, len(c.StoredKey), len(c.ServerKey), n, c.Mechanism)
	}
	return nil
}

// Verify reports whether password is the one c was derived from. It runs
// PBKDF2 (c.Iterations rounds) and compares StoredKey and ServerKey in
// constant time; it returns false for a credential that fails Validate.
func (c Credential) Verify(password string) bool {
	if c.Validate() != nil {
		return false
	}
	sp, err := saltPassword(c.Mechanism, password, c.Salt, c.Iterations)
	if err != nil {
		return false
	}
	storedKey, serverKey := deriveKeys(c.Mechanism, sp)
	a := subtle.ConstantTimeCompare(storedKey, c.StoredKey)
	b := subtle.ConstantTimeCompare(serverKey, c.ServerKey)
	return a&b == 1
}

func checkIterations(i int32) error {
	if i < MinIterations || i > MaxIterations {
		return fmt.Errorf("%w: %d, want %d..%d", ErrIterations, i, MinIterations, MaxIterations)
	}
	return nil
}

func saltPassword(m Mechanism, password string, salt []byte, iterations int32) ([]byte, error) {
	sp, err := pbkdf2.Key(m.Hash(), password, salt, int(iterations), m.KeyLen())
	if err != nil {
		return nil, fmt.Errorf("auth: pbkdf2: %w", err)
	}
	return sp, nil
}

// deriveKeys returns StoredKey and ServerKey for a salted password.
func deriveKeys(m Mechanism, saltedPassword []byte) (storedKey, serverKey []byte) {
	clientKey := hmacSum(m, saltedPassword, []byte("Client Key"))
	h := m.Hash()()
	h.Write(clientKey)
	return h.Sum(nil), hmacSum(m, saltedPassword, []byte("Server Key"))
}

func hmacSum(m Mechanism, key []byte, msg ...[]byte) []byte {
	mac := hmac.New(m.Hash(), key)
	for _, b := range msg {
		mac.Write(b)
	}
	return mac.Sum(nil)
}

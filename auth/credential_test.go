package auth

import (
	"bytes"
	"crypto/pbkdf2"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/json"
	"errors"
	"testing"
)

func TestMechanismHelpers(t *testing.T) {
	tests := []struct {
		m      Mechanism
		name   string
		keyLen int
		valid  bool
	}{
		{ScramSHA256, "SCRAM-SHA-256", sha256.Size, true},
		{ScramSHA512, "SCRAM-SHA-512", sha512.Size, true},
		{0, "UNKNOWN", 0, false},
		{3, "UNKNOWN", 0, false},
		{-1, "UNKNOWN", 0, false},
	}
	for _, tt := range tests {
		if got := tt.m.String(); got != tt.name {
			t.Errorf("Mechanism(%d).String() = %q, want %q", tt.m, got, tt.name)
		}
		if got := tt.m.KeyLen(); got != tt.keyLen {
			t.Errorf("Mechanism(%d).KeyLen() = %d, want %d", tt.m, got, tt.keyLen)
		}
		if got := tt.m.Valid(); got != tt.valid {
			t.Errorf("Mechanism(%d).Valid() = %v, want %v", tt.m, got, tt.valid)
		}
		if got := tt.m.Hash() != nil; got != tt.valid {
			t.Errorf("Mechanism(%d).Hash() != nil is %v, want %v", tt.m, got, tt.valid)
		}
		if tt.valid {
			if h := tt.m.Hash()(); h.Size() != tt.keyLen {
				t.Errorf("Mechanism(%d).Hash() size %d, want %d", tt.m, h.Size(), tt.keyLen)
			}
			if m, ok := MechanismByName(tt.name); !ok || m != tt.m {
				t.Errorf("MechanismByName(%q) = %v, %v", tt.name, m, ok)
			}
		}
	}
	for _, name := range []string{"", "PLAIN", "scram-sha-256", "SCRAM-SHA-1", "UNKNOWN"} {
		if m, ok := MechanismByName(name); ok {
			t.Errorf("MechanismByName(%q) = %v, true; want false", name, m)
		}
	}
}

func TestNewCredentialIterations(t *testing.T) {
	tests := []struct {
		iterations int32
		wantErr    error
	}{
		{0, ErrIterations},
		{-4096, ErrIterations},
		{MinIterations - 1, ErrIterations},
		{MinIterations, nil},
		{8192, nil},
		{MaxIterations, nil},
		{MaxIterations + 1, ErrIterations},
	}
	for _, tt := range tests {
		for _, m := range []Mechanism{ScramSHA256, ScramSHA512} {
			c, err := NewCredential(m, "secret", tt.iterations)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("NewCredential(%v, %d) error %v, want %v", m, tt.iterations, err, tt.wantErr)
			}
			if err != nil {
				continue
			}
			if err := c.Validate(); err != nil {
				t.Errorf("NewCredential(%v, %d) not valid: %v", m, tt.iterations, err)
			}
			if len(c.Salt) != SaltLen || c.Iterations != tt.iterations || c.Mechanism != m {
				t.Errorf("NewCredential(%v, %d) = %+v", m, tt.iterations, c)
			}
			if !c.Verify("secret") || c.Verify("Secret") || c.Verify("") {
				t.Errorf("NewCredential(%v, %d): Verify wrong", m, tt.iterations)
			}
		}
	}
}

func TestNewCredentialRandomSalt(t *testing.T) {
	a, err := NewCredential(ScramSHA256, "pw", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewCredential(ScramSHA256, "pw", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a.Salt, b.Salt) || bytes.Equal(a.StoredKey, b.StoredKey) {
		t.Error("two credentials for one password share salt or keys")
	}
}

func TestCredentialFromSaltedPassword(t *testing.T) {
	salt := []byte("0123456789abcdef")
	sp256, _ := pbkdf2.Key(sha256.New, "pw", salt, MinIterations, sha256.Size)
	sp512, _ := pbkdf2.Key(sha512.New, "pw", salt, MinIterations, sha512.Size)
	tests := []struct {
		name       string
		m          Mechanism
		salt, sp   []byte
		iterations int32
		wantErr    error
	}{
		{"sha256", ScramSHA256, salt, sp256, MinIterations, nil},
		{"sha512", ScramSHA512, salt, sp512, MinIterations, nil},
		{"unknown mechanism", 0, salt, sp256, MinIterations, ErrUnsupportedMechanism},
		{"few iterations", ScramSHA256, salt, sp256, 4095, ErrIterations},
		{"many iterations", ScramSHA256, salt, sp256, 16385, ErrIterations},
		{"empty salt", ScramSHA256, nil, sp256, MinIterations, ErrInvalidCredential},
		{"huge salt", ScramSHA256, make([]byte, maxSaltLen+1), sp256, MinIterations, ErrInvalidCredential},
		{"short salted password", ScramSHA256, salt, sp256[:31], MinIterations, ErrInvalidCredential},
		{"sha512 length under sha256", ScramSHA256, salt, sp512, MinIterations, ErrInvalidCredential},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := CredentialFromSaltedPassword(tt.m, tt.salt, tt.sp, tt.iterations)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if !c.Verify("pw") || c.Verify("pw ") {
				t.Error("Verify disagrees with the salted password")
			}
			tt.salt[0] ^= 1 // the credential must hold a copy
			defer func() { tt.salt[0] ^= 1 }()
			if !c.Verify("pw") {
				t.Error("credential aliases the caller's salt")
			}
		})
	}
}

func TestCredentialValidate(t *testing.T) {
	good, err := NewCredential(ScramSHA512, "pw", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		edit    func(*Credential)
		wantErr error
	}{
		{"good", func(*Credential) {}, nil},
		{"mechanism", func(c *Credential) { c.Mechanism = 7 }, ErrInvalidCredential},
		{"iterations", func(c *Credential) { c.Iterations = 1 }, ErrIterations},
		{"salt", func(c *Credential) { c.Salt = nil }, ErrInvalidCredential},
		{"stored key", func(c *Credential) { c.StoredKey = c.StoredKey[:32] }, ErrInvalidCredential},
		{"server key", func(c *Credential) { c.ServerKey = nil }, ErrInvalidCredential},
	}
	for _, tt := range tests {
		c := good
		tt.edit(&c)
		if err := c.Validate(); !errors.Is(err, tt.wantErr) {
			t.Errorf("%s: Validate() = %v, want %v", tt.name, err, tt.wantErr)
		}
		if tt.wantErr != nil && c.Verify("pw") {
			t.Errorf("%s: Verify accepted an invalid credential", tt.name)
		}
	}
}

// The JSON form is what package metadata stores; it must round-trip.
func TestCredentialJSON(t *testing.T) {
	c, err := NewCredential(ScramSHA256, "pw", MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back Credential
	if err := json.Unmarshal(b, &back); err != nil {
		t.Fatal(err)
	}
	if !back.Verify("pw") {
		t.Errorf("credential does not survive JSON: %s", b)
	}
}

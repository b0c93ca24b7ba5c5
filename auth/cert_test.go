package auth

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"sync"
	"testing"
	"time"
	"unicode/utf16"
)

var testKey = sync.OnceValue(func() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	return k
})

// testCert self-signs a certificate with subject name, or with the raw
// DER subject when raw is set, and parses it back as a TLS stack would.
func testCert(t *testing.T, name pkix.Name, raw []byte) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      name,
		RawSubject:   raw,
		NotBefore:    time.Unix(0, 0),
		NotAfter:     time.Unix(1<<32, 0),
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &testKey().PublicKey, testKey())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// Attribute types and DER string values for hand-built subjects.
var (
	oidCN     = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidOU     = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidO      = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidSerial = asn1.ObjectIdentifier{2, 5, 4, 5}
	oidDC     = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
	oidUID    = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}
	oidEmail  = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}
)

func str(tag int, b []byte) asn1.RawValue {
	v := asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, Bytes: b}
	full, err := asn1.Marshal(v)
	if err != nil {
		panic(err)
	}
	v.FullBytes = full
	return v
}

func utf8Str(s string) asn1.RawValue { return str(asn1.TagUTF8String, []byte(s)) }

func bmpStr(s string) asn1.RawValue {
	var b []byte
	for _, u := range utf16.Encode([]rune(s)) {
		b = append(b, byte(u>>8), byte(u))
	}
	return str(asn1.TagBMPString, b)
}

// subject encodes RDNs given first (least specific) to last.
func subject(t *testing.T, rdns ...rdnSET) []byte {
	t.Helper()
	der, err := asn1.Marshal(rdns)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestPrincipalFromCert(t *testing.T) {
	tests := []struct {
		name    string
		subject pkix.Name
		raw     func(t *testing.T) []byte
		want    string
	}{
		{
			name: "common attributes, most specific first",
			subject: pkix.Name{CommonName: "alice", OrganizationalUnit: []string{"eng"}, Organization: []string{"corp"},
				Locality: []string{"x"}, Province: []string{"y"}, Country: []string{"US"}},
			want: "CN=alice,OU=eng,O=corp,L=x,ST=y,C=US",
		},
		{
			name:    "only CN",
			subject: pkix.Name{CommonName: "alice"},
			want:    "CN=alice",
		},
		{
			name:    "empty subject",
			subject: pkix.Name{},
			want:    "",
		},
		{
			name:    "special characters escaped as Java does, = and # included",
			subject: pkix.Name{CommonName: `a,b+c=d#e;f"g\h<i>j`},
			want:    `CN=a\,b\+c\=d\#e\;f\"g\\h\<i\>j`,
		},
		{
			name:    "leading and trailing spaces",
			subject: pkix.Name{CommonName: "  bob smith "},
			want:    `CN=\ \ bob smith\ `,
		},
		{
			name:    "non-ASCII kept as is",
			subject: pkix.Name{CommonName: "zoë", Organization: []string{"Ünïcode"}},
			want:    "CN=zoë,O=Ünïcode",
		},
		{
			name: "certificate order kept, not pkix's",
			raw: func(t *testing.T) []byte {
				return subject(t, rdnSET{{oidCN, utf8Str("alice")}}, rdnSET{{oidO, utf8Str("corp")}})
			},
			want: "O=corp,CN=alice",
		},
		{
			name: "domain components and UID",
			raw: func(t *testing.T) []byte {
				return subject(t,
					rdnSET{{oidDC, str(asn1.TagIA5String, []byte("com"))}},
					rdnSET{{oidDC, str(asn1.TagIA5String, []byte("example"))}},
					rdnSET{{oidUID, utf8Str("alice")}})
			},
			want: "UID=alice,DC=example,DC=com",
		},
		{
			name: "multi-valued RDN",
			raw: func(t *testing.T) []byte {
				return subject(t, rdnSET{{oidCN, utf8Str("a")}, {oidOU, utf8Str("b")}}, rdnSET{{oidO, utf8Str("c")}})
			},
			want: "O=c,CN=a+OU=b",
		},
		{
			name: "emailAddress as OID and hex, as Java prints it",
			raw: func(t *testing.T) []byte {
				return subject(t, rdnSET{{oidEmail, str(asn1.TagIA5String, []byte("alice@corp.example"))}}, rdnSET{{oidCN, utf8Str("alice")}})
			},
			want: "CN=alice,1.2.840.113549.1.9.1=#1612" + hex.EncodeToString([]byte("alice@corp.example")),
		},
		{
			name: "serialNumber as OID (pkix would print SERIALNUMBER=), RDN values in DER order",
			raw: func(t *testing.T) []byte {
				return subject(t, rdnSET{{oidCN, utf8Str("alice")}, {oidSerial, str(asn1.TagPrintableString, []byte("1234"))}})
			},
			want: "2.5.4.5=#130431323334+CN=alice",
		},
		{
			name: "BMPString and PrintableString",
			raw: func(t *testing.T) []byte {
				return subject(t, rdnSET{{oidO, str(asn1.TagPrintableString, []byte("corp"))}}, rdnSET{{oidCN, bmpStr("Grüße")}})
			},
			want: "CN=Grüße,O=corp",
		},
		{
			name: "T61String as ISO-8859-1",
			raw: func(t *testing.T) []byte {
				return subject(t, rdnSET{{oidCN, str(asn1.TagT61String, []byte{'z', 'o', 0xeb})}})
			},
			want: "CN=zoë",
		},
		{
			name: "NUL escaped",
			raw: func(t *testing.T) []byte {
				return subject(t, rdnSET{{oidCN, utf8Str("a\x00b")}})
			},
			want: `CN=a\00b`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var raw []byte
			if tt.raw != nil {
				raw = tt.raw(t)
			}
			cert := testCert(t, tt.subject, raw)
			if got, want := PrincipalFromCert(cert), User(tt.want); got != want {
				t.Errorf("PrincipalFromCert = %q, want %q", got, want)
			}
		})
	}
}

func TestPrincipalFromCertEdges(t *testing.T) {
	if p := PrincipalFromCert(nil); p != Anonymous {
		t.Errorf("nil certificate: %v", p)
	}
	// A certificate built in memory, never encoded, has no RawSubject.
	c := &x509.Certificate{Subject: pkix.Name{CommonName: "alice", Organization: []string{"corp"}}}
	if p := PrincipalFromCert(c); p != User("CN=alice,O=corp") {
		t.Errorf("unencoded certificate: %v", p)
	}
	// Go's x509 parser refuses non-string values, so test the formatter
	// directly: Java prints them in hex, keyword kept.
	raw := subject(t, rdnSET{{oidCN, str(28, []byte{0, 0, 0, 'a'})}}) // UniversalString
	if got, ok := rfc2253(raw); !ok || got != "CN=#1c0400000061" {
		t.Errorf("UniversalString value: %q, %v", got, ok)
	}
	c = &x509.Certificate{RawSubject: []byte{0x30, 0x05, 1}, Subject: pkix.Name{CommonName: "x"}}
	if p := PrincipalFromCert(c); p != User("CN=x") {
		t.Errorf("unparseable subject: %v", p)
	}
}

package auth

import (
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"strings"
	"unicode/utf16"
)

// PrincipalFromCert maps a TLS client certificate to a principal as Kafka's
// default ssl.principal.mapping.rules ("DEFAULT") does: User: followed by
// the subject distinguished name exactly as Java's X500Principal.getName()
// prints it in RFC 2253 form, for example "User:CN=alice,OU=eng,O=corp,C=US".
//
// Go's pkix.Name.String() does not serve: it rebuilds the name in a fixed
// attribute order rather than the certificate's, knows other keywords
// (SERIALNUMBER, POSTALCODE) and escapes differently. So the subject is
// formatted from cert.RawSubject following Java's AVA.toRFC2253String:
//
//   - RDNs last to first, joined by ","; the values of a multi-valued RDN in
//     encoded order, joined by "+".
//   - Keywords CN, C, L, ST, O, OU, STREET, DC and UID; any other attribute
//     type (emailAddress, serialNumber, ...) as its dotted OID.
//   - A value that is a UTF8String, PrintableString, T61String, IA5String,
//     GeneralString or BMPString, under a keyword, as text: the characters
//     , = + < > # ; " \ escaped with a backslash, NUL as \00, leading and
//     trailing spaces and carriage returns escaped with a backslash. Any
//     other value, and every value under a dotted OID, as "#" and the
//     lower-case hex of its DER encoding.
//
// Known deviation: a UTF8String holding invalid UTF-8 is printed with
// U+FFFD replacing each invalid byte, where Java's decoder may replace a
// whole malformed sequence with one U+FFFD.
//
// A nil certificate gives Anonymous; a subject that does not parse (the
// x509 parser rejects those already) gives Go's rendering of cert.Subject.
func PrincipalFromCert(cert *x509.Certificate) Principal {
	if cert == nil {
		return Anonymous
	}
	raw := cert.RawSubject
	if len(raw) == 0 {
		var err error
		if raw, err = asn1.Marshal(cert.Subject.ToRDNSequence()); err != nil {
			return User(cert.Subject.String())
		}
	}
	name, ok := rfc2253(raw)
	if !ok {
		return User(cert.Subject.String())
	}
	return User(name)
}

// attribute is one AttributeTypeAndValue, the value kept raw so that it can
// be printed as Java does.
type attribute struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

// rdnSET is one RelativeDistinguishedName (the name ending in SET makes
// encoding/asn1 expect a SET OF).
type rdnSET []attribute

// rfc2253Keywords are the attribute types Java's X500Principal.getName()
// prints by keyword in RFC 2253 form.
var rfc2253Keywords = map[string]string{
	"2.5.4.3":                    "CN",
	"2.5.4.6":                    "C",
	"2.5.4.7":                    "L",
	"2.5.4.8":                    "ST",
	"2.5.4.10":                   "O",
	"2.5.4.11":                   "OU",
	"2.5.4.9":                    "STREET",
	"0.9.2342.19200300.100.1.25": "DC",
	"0.9.2342.19200300.100.1.1":  "UID",
}

// rfc2253 formats a DER-encoded Name.
func rfc2253(der []byte) (string, bool) {
	var seq []rdnSET
	rest, err := asn1.Unmarshal(der, &seq)
	if err != nil || len(rest) != 0 {
		return "", false
	}
	var b strings.Builder
	for i := len(seq) - 1; i >= 0; i-- {
		if i != len(seq)-1 {
			b.WriteByte(',')
		}
		for j, a := range seq[i] {
			if j > 0 {
				b.WriteByte('+')
			}
			writeAttribute(&b, a)
		}
	}
	return b.String(), true
}

func writeAttribute(b *strings.Builder, a attribute) {
	oid := a.Type.String()
	keyword, known := rfc2253Keywords[oid]
	if !known {
		keyword = oid
	}
	b.WriteString(keyword)
	b.WriteByte('=')
	s, isString := javaString(a.Value)
	if !known || !isString {
		b.WriteByte('#')
		b.WriteString(hex.EncodeToString(a.Value.FullBytes))
		return
	}
	writeEscaped(b, s)
}

// javaString decodes a value with the charset Java uses for it, or reports
// that Java prints it in hex.
func javaString(v asn1.RawValue) (string, bool) {
	if v.Class != asn1.ClassUniversal || v.IsCompound {
		return "", false
	}
	switch v.Tag {
	case asn1.TagUTF8String:
		return strings.ToValidUTF8(string(v.Bytes), "\uFFFD"), true
	case asn1.TagPrintableString, asn1.TagT61String, asn1.TagIA5String, asn1.TagGeneralString:
		r := make([]rune, len(v.Bytes)) // ISO-8859-1: byte = code point
		for i, c := range v.Bytes {
			r[i] = rune(c)
		}
		return string(r), true
	case asn1.TagBMPString:
		u := make([]uint16, len(v.Bytes)/2)
		for i := range u {
			u[i] = uint16(v.Bytes[2*i])<<8 | uint16(v.Bytes[2*i+1])
		}
		s := string(utf16.Decode(u))
		if len(v.Bytes)%2 == 1 {
			s += "\uFFFD"
		}
		return s, true
	}
	return "", false
}

// rfc2253Escapees are the characters Java's AVA.toRFC2253String escapes
// wherever they occur ("=" and "#" beyond what RFC 2253 requires).
const rfc2253Escapees = ",=+<>#;\"\\"

func writeEscaped(b *strings.Builder, s string) {
	runes := []rune(s)
	lead := 0
	for lead < len(runes) && (runes[lead] == ' ' || runes[lead] == '\r') {
		lead++
	}
	trail := len(runes) - 1
	for trail >= 0 && (runes[trail] == ' ' || runes[trail] == '\r') {
		trail--
	}
	for i, r := range runes {
		switch {
		case strings.ContainsRune(rfc2253Escapees, r):
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == 0:
			b.WriteString(`\00`)
		case i < lead || i > trail:
			b.WriteByte('\\')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
}

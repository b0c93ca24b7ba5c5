package auth

// Principal is who a connection authenticated as, in Kafka's form
// "Type:Name": "User:alice" after SASL, "User:CN=alice,O=corp" after a
// TLS client certificate, Anonymous when neither.
type Principal struct {
	Type string // "User"
	Name string
}

// Anonymous is the principal of a connection that did not authenticate
// (PLAINTEXT and SSL listeners without a client certificate), as Kafka's
// KafkaPrincipal.ANONYMOUS.
var Anonymous = Principal{Type: "User", Name: "ANONYMOUS"}

// User returns the principal User:name.
func User(name string) Principal { return Principal{Type: "User", Name: name} }

// String is the principal as ACLs name it: "User:alice".
func (p Principal) String() string { return p.Type + ":" + p.Name }

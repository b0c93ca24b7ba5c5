// Package auth authenticates Kafka clients as Kafka does: SASL PLAIN and
// SCRAM-SHA-256/512 (RFC 5802, RFC 7677) against salted, hashed
// credentials, and TLS client certificates mapped to principals as Kafka's
// default ssl.principal.mapping.rules does. It holds no state of its own:
// credentials come from a lookup function (package metadata stores them in
// etcd), and the broker's connections drive the exchanges.
//
// # Files
//
//   - credential.go: Mechanism, Credential (the stored form: salt,
//     iterations, StoredKey, ServerKey), NewCredential from a password,
//     CredentialFromSaltedPassword from an AlterUserScramCredentials upsert.
//   - sasl.go, scram.go, plain.go: Exchange, the server side of one SASL
//     authentication, and NewExchange.
//   - cert.go: PrincipalFromCert.
//   - users.go: ParseUsers, the bootstrap users file.
//
// # Not revealing users
//
// An exchange never tells a client whether a user exists. SCRAM carries
// an unknown user (or one whose stored credential fails Validate) through
// the whole exchange with a fake credential derived from the user name
// under a per-process random key, so the salt it sends is stable across
// attempts, and fails at the proof with the error a wrong password gets.
// PLAIN always runs the same two PBKDF2 derivations. The fake credential
// has SaltLen bytes of salt and MinIterations iterations: credentials made
// with other salt lengths or iteration counts remain distinguishable from
// unknown users by their server-first message.
//
// # Errors
//
// Errors from Exchange.Step wrap ErrAuthenticationFailed, ErrMalformed or
// ErrIllegalState; their text is meant for the SaslAuthenticate error
// message and holds no password, no client bytes and nothing that depends
// on whether the user exists.
//
// # Concurrency
//
// Functions and Credential methods are safe for concurrent use. An
// Exchange belongs to one connection and is not. The only shared state is
// the fake-credential key, created once (sync.OnceValue) and read-only
// after.
package auth

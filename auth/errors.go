package auth

import "errors"

// Sentinel errors. Every error an Exchange returns wraps exactly one of
// ErrAuthenticationFailed, ErrMalformed or ErrIllegalState, and its text is
// safe to send to the client: it never contains a password, never echoes
// client bytes, and never says whether a user exists.
var (
	// ErrUnsupportedMechanism is returned by NewExchange and MechanismByName
	// for a mechanism this package does not implement. Kafka answers
	// SaslHandshake with UNSUPPORTED_SASL_MECHANISM.
	ErrUnsupportedMechanism = errors.New("auth: unsupported SASL mechanism")

	// ErrAuthenticationFailed means the client presented wrong or unknown
	// credentials (Kafka's SASL_AUTHENTICATION_FAILED).
	ErrAuthenticationFailed = errors.New("auth: authentication failed")

	// ErrMalformed means a client message does not follow the mechanism's
	// grammar or exceeds its size bound. Kafka also answers these with
	// SASL_AUTHENTICATION_FAILED.
	ErrMalformed = errors.New("auth: malformed SASL message")

	// ErrIllegalState means Step was called after the exchange finished,
	// successfully or not (Kafka's ILLEGAL_SASL_STATE).
	ErrIllegalState = errors.New("auth: SASL exchange already finished")

	// ErrIterations is returned for a SCRAM iteration count outside
	// MinIterations..MaxIterations.
	ErrIterations = errors.New("auth: SCRAM iterations out of range")

	// ErrInvalidCredential is returned for a credential or salted password
	// whose mechanism, salt or key lengths are not usable.
	ErrInvalidCredential = errors.New("auth: invalid SCRAM credential")

	// ErrUsersFile is returned by ParseUsers for a line it cannot accept.
	ErrUsersFile = errors.New("auth: invalid users file")
)

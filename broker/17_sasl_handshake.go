package broker

// SaslHandshake: v0-v1.
//
// Chooses the SASL mechanism of a connection on a SASL_PLAINTEXT or
// SASL_SSL listener and lists the enabled ones. After v1 the exchange goes
// through SaslAuthenticate requests; after v0 (Kafka 0.10's form, still
// advertised so that librdkafka starts SASL) the client sends bare,
// size-prefixed tokens until the exchange ends. On other listeners, and in
// the middle of an exchange, it answers ILLEGAL_SASL_STATE; an unknown or
// disabled mechanism gets UNSUPPORTED_SASL_MECHANISM.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleSaslHandshake(_ context.Context, c *conn, req *kmsg.SASLHandshakeRequest, resp *kmsg.SASLHandshakeResponse) {
	resp.SupportedMechanisms = c.srv.mechanisms
	if err := c.startExchange(req.Mechanism, req.Version); err != nil {
		resp.ErrorCode = err.Code
	}
}

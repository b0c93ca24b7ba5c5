package broker

// SaslAuthenticate: v0-v2.
//
// Carries one step of the SASL exchange that SaslHandshake v1 started. A
// failed authentication answers SASL_AUTHENTICATION_FAILED, with a message
// that does not say whether the user exists, and the connection is closed
// once the answer is written. From v1 the last step tells the client how
// long its authentication lasts (connections.max.reauth.ms, KIP-368; 0 when
// unlimited): before then the client authenticates again on the same
// connection with SaslHandshake and SaslAuthenticate, as the same
// principal; a connection that does not is closed at its next request.

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleSaslAuthenticate(_ context.Context, c *conn, req *kmsg.SASLAuthenticateRequest, resp *kmsg.SASLAuthenticateResponse) {
	if c.sasl.raw {
		resp.ErrorCode = kerr.IllegalSaslState.Code
		c.closeAfter = errSASLState
		return
	}
	out, done, err := c.step(req.SASLAuthBytes)
	if err != nil {
		var ke *kerr.Error
		if errors.As(err, &ke) {
			resp.ErrorCode = ke.Code
			c.closeAfter = errSASLState
			return
		}
		setErrOf(&resp.ErrorCode, &resp.ErrorMessage, kerr.SaslAuthenticationFailed, err)
		return
	}
	resp.SASLAuthBytes = out
	if done && !c.sasl.expires.IsZero() {
		resp.SessionLifetimeMillis = time.Until(c.sasl.expires).Milliseconds()
	}
}

package broker

import (
	"github.com/twmb/franz-go/pkg/kbin"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/batch/batchtest"
)

// The batches these tests build are internal/batch/batchtest's, under the
// names the tests use.
var (
	plain     = batchtest.Plain // a non-idempotent batch of n records
	makeBatch = batchtest.Make  // the batch and its validated header
)

// frame encodes a request frame's body (after the size prefix) as a client
// sends it: the request header (key, version, correlation id, client id, and
// an empty tag section for flexible versions) and the request.
func frame(req kmsg.Request, corr int32, clientID *string) []byte {
	b := kbin.AppendInt16(nil, req.Key())
	b = kbin.AppendInt16(b, req.GetVersion())
	b = kbin.AppendInt32(b, corr)
	b = kbin.AppendNullableString(b, clientID)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return req.AppendTo(b)
}

// header encodes only a request header with no tag section.
func header(key, version int16, corr int32, clientID *string) []byte {
	b := kbin.AppendInt16(nil, key)
	b = kbin.AppendInt16(b, version)
	b = kbin.AppendInt32(b, corr)
	return kbin.AppendNullableString(b, clientID)
}

// requestAt returns kmsg's default request for key at version.
func requestAt(key, version int16) kmsg.Request {
	req := kmsg.RequestForKey(key)
	req.SetVersion(version)
	return req
}

func ptr[T any](v T) *T { return &v }

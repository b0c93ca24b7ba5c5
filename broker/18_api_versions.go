package broker

// ApiVersions: v0-v3.
//
// Lists the APIs and versions this broker implements (the `apis` table, filled
// by each NN_name.go file). A version above v3 is answered as Kafka does: a v0
// response with UNSUPPORTED_VERSION and the ranges, so the client retries.
// Any other API at a version outside its range closes the connection, as
// Kafka does.

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func handleApiVersions(_ context.Context, _ *conn, req *kmsg.ApiVersionsRequest, resp *kmsg.ApiVersionsResponse) {
	resp.ApiKeys = apiVersionKeys()
}

func apiVersionsUnsupported() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	resp.ApiKeys = apiVersionKeys()
	return resp
}

func apiVersionKeys() []kmsg.ApiVersionsResponseApiKey {
	keys := make([]kmsg.ApiVersionsResponseApiKey, 0, len(apis))
	for k, a := range apis {
		ak := kmsg.NewApiVersionsResponseApiKey()
		ak.ApiKey, ak.MinVersion, ak.MaxVersion = k, a.min, a.max
		keys = append(keys, ak)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].ApiKey < keys[j].ApiKey })
	return keys
}

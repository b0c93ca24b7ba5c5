package broker

// ApiVersions: v0-v4.
//
// Lists the APIs and versions this broker implements (the `apis` table, filled
// by each NN_name.go file). From v3 it lists, as Kafka 4 does, the feature
// transaction.version: supported 0..2 (from v4 only: as Kafka, a v3
// response leaves out a feature whose minimum is 0, which older clients
// cannot read, KAFKA-17492), finalized at --transaction-version
// (2 by default: KIP-890 part 2, which franz-go 1.22 and Kafka 4 clients
// switch to). Finalized at 1, Produce is listed up to v11 and EndTxn and
// TxnOffsetCommit up to v4 (the versions of transaction version 1), so
// that no client uses version 2. A version above v4 is answered as Kafka
// does (KIP-511): a v0 response with UNSUPPORTED_VERSION and the range of
// ApiVersions alone, so the client retries at v4 (a client given every
// key would take that v0 answer, which has no features, as final).
// Any other API at a version outside its range closes the connection, as
// Kafka does.

import (
	"context"
	"sort"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
)

// finalizedFeaturesEpoch is the FinalizedFeaturesEpoch of ApiVersions
// v3+: the finalized features are fixed by configuration, so one epoch.
const finalizedFeaturesEpoch = 1

func handleApiVersions(_ context.Context, c *conn, req *kmsg.ApiVersionsRequest, resp *kmsg.ApiVersionsResponse) {
	tv := int16(c.srv.cfg.TransactionVersion)
	resp.ApiKeys = capTxnVersions(apiVersionKeys(), tv)
	if req.Version >= 4 {
		sf := kmsg.NewApiVersionsResponseSupportedFeature()
		sf.Name, sf.MinVersion, sf.MaxVersion = "transaction.version", 0, coordinator.MaxTransactionVersion
		resp.SupportedFeatures = []kmsg.ApiVersionsResponseSupportedFeature{sf}
	}
	ff := kmsg.NewApiVersionsResponseFinalizedFeature()
	ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = "transaction.version", tv, tv
	resp.FinalizedFeatures = []kmsg.ApiVersionsResponseFinalizedFeature{ff}
	resp.FinalizedFeaturesEpoch = finalizedFeaturesEpoch
}

// capTxnVersions lowers the versions of transaction version 2 (Produce
// v12, EndTxn v5, TxnOffsetCommit v5) in keys when tv is below 2.
func capTxnVersions(keys []kmsg.ApiVersionsResponseApiKey, tv int16) []kmsg.ApiVersionsResponseApiKey {
	if tv >= 2 {
		return keys
	}
	caps := map[int16]int16{0: 11, 26: 4, 28: 4}
	for i := range keys {
		if c, ok := caps[keys[i].ApiKey]; ok {
			keys[i].MaxVersion = min(keys[i].MaxVersion, c)
		}
	}
	return keys
}

// txnVersion is the transaction protocol version of a request that is of
// version 2 from version v2: 2 when req is at least v2 and the broker
// finalizes version 2, else 1.
func (b *server) txnVersion(version, v2 int16) int16 {
	if version >= v2 && b.cfg.TransactionVersion >= 2 {
		return 2
	}
	return 1
}

func apiVersionsUnsupported() kmsg.Response {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 0
	resp.ErrorCode = kerr.UnsupportedVersion.Code
	ak := kmsg.NewApiVersionsResponseApiKey()
	ak.ApiKey, ak.MinVersion, ak.MaxVersion = 18, apis[18].min, apis[18].max
	resp.ApiKeys = []kmsg.ApiVersionsResponseApiKey{ak}
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

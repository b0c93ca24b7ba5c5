package broker

import (
	"maps"
	"slices"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestApiVersionsTable: every served range is a real range of versions kmsg
// can encode and decode, and the APIs clients need are all served.
func TestApiVersionsTable(t *testing.T) {
	for _, key := range slices.Sorted(maps.Keys(apis)) {
		a := apis[key]
		t.Run(kmsg.NameForKey(key), func(t *testing.T) {
			req := kmsg.RequestForKey(key)
			if req == nil {
				t.Fatalf("kmsg knows no request for key %d", key)
			}
			if a.min < 0 || a.min > a.max {
				t.Errorf("range [%d, %d] is empty or negative", a.min, a.max)
			}
			if a.max > req.MaxVersion() {
				t.Errorf("max v%d is above kmsg's max v%d", a.max, req.MaxVersion())
			}
			if a.handle == nil {
				t.Error("no handler")
			}
		})
	}

	required := map[int16]string{
		0:  "Produce",
		1:  "Fetch",
		2:  "ListOffsets",
		3:  "Metadata",
		18: "ApiVersions",
		19: "CreateTopics",
		20: "DeleteTopics",
		22: "InitProducerID",
		32: "DescribeConfigs",
		33: "AlterConfigs",
		37: "CreatePartitions",
		44: "IncrementalAlterConfigs",
		60: "DescribeCluster",
	}
	for _, key := range slices.Sorted(maps.Keys(required)) {
		if _, ok := apis[key]; !ok {
			t.Errorf("key %d (%s) is not served", key, required[key])
		}
	}
}

// TestApiVersionsAdvertisesTheTable: the ApiVersions response lists exactly
// the apis table, sorted by key.
func TestApiVersionsAdvertisesTheTable(t *testing.T) {
	keys := apiVersionKeys()
	if len(keys) != len(apis) {
		t.Fatalf("%d keys advertised, %d served", len(keys), len(apis))
	}
	for i, k := range keys {
		if i > 0 && keys[i-1].ApiKey >= k.ApiKey {
			t.Errorf("key %d listed after %d", k.ApiKey, keys[i-1].ApiKey)
		}
		if a := apis[k.ApiKey]; k.MinVersion != a.min || k.MaxVersion != a.max {
			t.Errorf("key %d advertised [%d, %d], served [%d, %d]", k.ApiKey, k.MinVersion, k.MaxVersion, a.min, a.max)
		}
	}
}

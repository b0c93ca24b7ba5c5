package brokertest_test

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.uber.org/goleak"

	"github.com/strata-io/strata/broker/brokertest"
)

// Every goroutine a broker and its clients start is gone after Close.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestStart: a record produced with acks=all is in the in-memory bucket and
// read back by a second client; Close is safe before and during Cleanup.
func TestStart(t *testing.T) {
	b := brokertest.Start(t)
	ctx := context.Background()
	prod := b.Client(t, kgo.DefaultProduceTopic("started"), kgo.AllowAutoTopicCreation())
	if err := prod.ProduceSync(ctx, &kgo.Record{Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	objects := 0
	if err := b.Bucket.Iter(ctx, "", func(string) error { objects++; return nil }); err != nil {
		t.Fatal(err)
	}
	if objects == 0 {
		t.Error("an acks=all produce left nothing in the bucket")
	}
	cons := b.Client(t, kgo.ConsumeTopics("started"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	fs := cons.PollFetches(ctx)
	if err := fs.Err0(); err != nil {
		t.Fatal(err)
	}
	if rs := fs.Records(); len(rs) != 1 || string(rs[0].Value) != "hello" {
		t.Errorf("consumed %d records, want the one produced", len(rs))
	}
	if mfs, err := b.Registry.Gather(); err != nil || len(mfs) == 0 {
		t.Errorf("registry holds %d metric families (%v), want the broker's", len(mfs), err)
	}
	// Clients first, then the broker: Cleanup closes both again.
	prod.Close()
	cons.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestConnPipelines(t *testing.T) {
	b := brokertest.Start(t)
	c := b.Dial(t)
	reqs := []*kmsg.ApiVersionsRequest{newApiVersions(0), newApiVersions(3), newApiVersions(1)}
	for _, r := range reqs {
		c.Send(r)
	}
	for _, r := range reqs {
		if resp := c.Receive(r).(*kmsg.ApiVersionsResponse); resp.ErrorCode != 0 || len(resp.ApiKeys) == 0 {
			t.Errorf("ApiVersions v%d: error %d, %d keys", r.Version, resp.ErrorCode, len(resp.ApiKeys))
		}
	}
}

func newApiVersions(version int16) *kmsg.ApiVersionsRequest {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(version)
	req.ClientSoftwareName, req.ClientSoftwareVersion = "brokertest", "0"
	return req
}

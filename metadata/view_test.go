package metadata

import (
	"context"
	"slices"
	"strconv"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestCoalesce: a batch of responses is merged into its first in order,
// up to one with an error (returned apart, the rest dropped: the watch is
// read again).
func TestCoalesce(t *testing.T) {
	resp := func(rev int64, keys ...string) clientv3.WatchResponse {
		wr := clientv3.WatchResponse{Header: etcdserverpb.ResponseHeader{Revision: rev}}
		for _, k := range keys {
			wr.Events = append(wr.Events, &clientv3.Event{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{Key: []byte(k), ModRevision: rev}})
		}
		return wr
	}
	keys := func(wr clientv3.WatchResponse) string {
		s := ""
		for _, ev := range wr.Events {
			s += string(ev.Kv.Key)
		}
		return s + "@" + strconv.FormatInt(wr.Header.Revision, 10)
	}
	compacted := resp(7)
	compacted.CompactRevision = 6

	for _, tc := range []struct {
		name     string
		batch    []clientv3.WatchResponse
		want     string // merged events @ revision
		wantNext bool   // an error response returned as next
	}{
		{"one", []clientv3.WatchResponse{resp(1, "a")}, "a@1", false},
		{"merged in order", []clientv3.WatchResponse{resp(1, "a"), resp(2, "b", "c"), resp(3, "d")}, "abcd@3", false},
		{"a progress notification last", []clientv3.WatchResponse{resp(1, "a"), resp(2, "b"), resp(9)}, "ab@9", false},
		{"stops at an error", []clientv3.WatchResponse{resp(1, "a"), resp(2, "b"), compacted, resp(8, "z")}, "ab@2", true},
		{"an error first", []clientv3.WatchResponse{compacted, resp(8, "z")}, "@7", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			merged, next := coalesce(tc.batch)
			if got := keys(merged); got != tc.want || (next.Err() != nil) != tc.wantNext {
				t.Errorf("coalesce: %s, next error %v; want %s, an error %v", got, next.Err(), tc.want, tc.wantNext)
			}
		})
	}
	if _, next := coalesce([]clientv3.WatchResponse{compacted}); next.Err() != nil {
		t.Errorf("coalesce of an error alone returned it as next too")
	}
}

// TestWatchQueue: take returns every response received so far at once, in
// order, then whether the channel is still open; it returns when the
// channel closes or its context ends.
func TestWatchQueue(t *testing.T) {
	ch := make(chan clientv3.WatchResponse)
	wq := newWatchQueue(ch)
	for rev := range int64(3) {
		ch <- clientv3.WatchResponse{Header: etcdserverpb.ResponseHeader{Revision: rev + 1}}
	}
	// The third send returned once the relay received it; it may not
	// be queued yet.
	var got []int64
	for len(got) < 3 {
		batch, open := wq.take(t.Context())
		if !open {
			t.Fatalf("take: closed after %v", got)
		}
		for _, wr := range batch {
			got = append(got, wr.Header.Revision)
		}
	}
	if !slices.Equal(got, []int64{1, 2, 3}) {
		t.Errorf("took revisions %v, want 1 2 3", got)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if batch, open := wq.take(ctx); open || len(batch) != 0 {
		t.Errorf("take after its context ended: %v, open %v", batch, open)
	}
	ch <- clientv3.WatchResponse{Header: etcdserverpb.ResponseHeader{Revision: 4}}
	close(ch)
	var last []clientv3.WatchResponse
	for open := true; open; {
		var batch []clientv3.WatchResponse
		batch, open = wq.take(t.Context())
		last = append(last, batch...)
	}
	if len(last) != 1 || last[0].Header.Revision != 4 {
		t.Errorf("took %v before the close, want revision 4", last)
	}
}

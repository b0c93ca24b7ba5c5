package metadata

import (
	"strconv"
	"testing"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestCoalesce: the responses queued behind one are merged into it in
// order, up to one with an error (returned apart, left unmerged) or the
// channel's end; what is not queued yet is left for the next receive.
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
		name       string
		queued     []clientv3.WatchResponse
		close      bool
		want, left string // merged events @ revision; what stays queued
		wantNext   bool   // an error response returned as next
		wantOK     bool
	}{
		{"nothing queued", nil, false, "a@1", "", false, true},
		{"queued merged in order", []clientv3.WatchResponse{resp(2, "b", "c"), resp(3, "d")}, false, "abcd@3", "", false, true},
		{"a progress notification last", []clientv3.WatchResponse{resp(2, "b"), resp(9)}, false, "ab@9", "", false, true},
		{"stops at an error", []clientv3.WatchResponse{resp(2, "b"), compacted, resp(8, "z")}, false, "ab@2", "z@8", true, true},
		{"the channel closed", []clientv3.WatchResponse{resp(2, "b")}, true, "ab@2", "", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ch := make(chan clientv3.WatchResponse, len(tc.queued))
			for _, q := range tc.queued {
				ch <- q
			}
			if tc.close {
				close(ch)
			}
			merged, next, ok := coalesce(ch, resp(1, "a"))
			if got := keys(merged); got != tc.want || ok != tc.wantOK || (next.Err() != nil) != tc.wantNext {
				t.Errorf("coalesce: %s, next error %v, ok %v; want %s, an error %v, ok %v", got, next.Err(), ok, tc.want, tc.wantNext, tc.wantOK)
			}
			left := ""
			if !tc.close {
				select {
				case q := <-ch:
					left = keys(q)
				default:
				}
			}
			if left != tc.left {
				t.Errorf("left queued: %q, want %q", left, tc.left)
			}
		})
	}
}

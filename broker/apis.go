package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// api is one Kafka API this broker serves.
type api struct {
	min, max int16
	// handle is the ordered part of the API's handler: it runs on the
	// connection's read loop, in request order, and makes the request's
	// effects. The function it returns is the wait part: it runs
	// concurrently and returns the response (nil: send nothing, as for
	// acks=0).
	handle handler
}

// handler is an API's handler: its ordered part, which returns its wait
// part (see api).
type handler = func(c *conn, req kmsg.Request) func(ctx context.Context) kmsg.Response

// A filler is the handler of an API that answers with one response: it fills
// in the response that its adapter made for the request's version.
type filler[Req kmsg.Request, Resp kmsg.Response] func(ctx context.Context, c *conn, req Req, resp Resp)

// answer makes req's response and has fn fill it in.
func (fn filler[Req, Resp]) answer(ctx context.Context, c *conn, req kmsg.Request) kmsg.Response {
	resp := req.ResponseKind().(Resp)
	fn(ctx, c, req.(Req), resp)
	return resp
}

// ordered adapts a handler that does everything in its ordered part: its
// response is ready when it returns. It runs with the connection's context.
func ordered[Req kmsg.Request, Resp kmsg.Response](fn filler[Req, Resp]) handler {
	return func(c *conn, req kmsg.Request) func(ctx context.Context) kmsg.Response {
		resp := fn.answer(c.ctx, c, req)
		return func(context.Context) kmsg.Response { return resp }
	}
}

// concurrent adapts a read-only handler that runs whole in its wait part.
func concurrent[Req kmsg.Request, Resp kmsg.Response](fn filler[Req, Resp]) handler {
	return func(c *conn, req kmsg.Request) func(ctx context.Context) kmsg.Response {
		return func(ctx context.Context) kmsg.Response { return fn.answer(ctx, c, req) }
	}
}

// afterGroupWrites adapts a read-only handler of group state: it runs in
// its wait part once the group writes queued by the connection's earlier
// requests have landed.
func afterGroupWrites[Req kmsg.Request, Resp kmsg.Response](fn filler[Req, Resp]) handler {
	return func(c *conn, req kmsg.Request) func(ctx context.Context) kmsg.Response {
		landed := c.groupWrites
		return func(ctx context.Context) kmsg.Response {
			select {
			case <-landed:
			case <-ctx.Done():
				return nil // the client is gone
			}
			return fn.answer(ctx, c, req)
		}
	}
}

// apis are the Kafka APIs this broker serves, by key, with the versions it
// accepts and how each runs: a handler that is its own two parts (produce,
// the group writes), or one adapted by ordered, concurrent or
// afterGroupWrites (conn.go). Each handler is in NN_name.go, NN its key.
//
// It is filled in init because ApiVersions reads it.
var apis map[int16]api

func init() {
	apis = map[int16]api{
		0:  {3, 12, handleProduce},
		1:  {4, 16, concurrent(handleFetch)},
		2:  {1, 6, concurrent(handleListOffsets)},
		3:  {0, 12, ordered(handleMetadata)},
		8:  {0, 9, handleOffsetCommit},
		9:  {0, 9, afterGroupWrites(handleOffsetFetch)},
		10: {0, 4, ordered(handleFindCoordinator)},
		11: {0, 9, handleJoinGroup},
		12: {0, 4, ordered(handleHeartbeat)},
		13: {0, 5, ordered(handleLeaveGroup)},
		14: {0, 5, handleSyncGroup},
		15: {0, 5, afterGroupWrites(handleDescribeGroups)},
		16: {0, 5, afterGroupWrites(handleListGroups)},
		17: {0, 1, ordered(handleSaslHandshake)},
		18: {0, 4, ordered(handleApiVersions)},
		19: {0, 7, ordered(handleCreateTopics)},
		20: {0, 6, ordered(handleDeleteTopics)},
		21: {0, 2, ordered(handleDeleteRecords)},
		22: {0, 4, ordered(handleInitProducerID)},
		23: {0, 4, ordered(handleOffsetForLeaderEpoch)},
		24: {0, 3, ordered(handleAddPartitionsToTxn)},
		25: {0, 4, ordered(handleAddOffsetsToTxn)},
		26: {0, 5, ordered(handleEndTxn)},
		28: {0, 5, handleTxnOffsetCommit},
		29: {0, 3, ordered(handleDescribeAcls)},
		30: {0, 3, ordered(handleCreateAcls)},
		31: {0, 3, ordered(handleDeleteAcls)},
		32: {0, 4, ordered(handleDescribeConfigs)},
		33: {0, 2, ordered(handleAlterConfigs)},
		35: {0, 4, concurrent(handleDescribeLogDirs)},
		36: {0, 2, ordered(handleSaslAuthenticate)},
		37: {0, 3, ordered(handleCreatePartitions)},
		42: {0, 2, handleDeleteGroups},
		43: {0, 2, concurrent(handleElectLeaders)},
		44: {0, 1, ordered(handleIncrementalAlterConfigs)},
		45: {0, 1, ordered(handleAlterPartitionReassignments)},
		46: {0, 0, ordered(handleListPartitionReassignments)},
		47: {0, 0, handleOffsetDelete},
		48: {0, 1, ordered(handleDescribeClientQuotas)},
		49: {0, 1, ordered(handleAlterClientQuotas)},
		50: {0, 0, ordered(handleDescribeUserScramCredentials)},
		51: {0, 0, ordered(handleAlterUserScramCredentials)},
		60: {0, 1, ordered(handleDescribeCluster)},
		61: {0, 0, concurrent(handleDescribeProducers)},
		65: {0, 0, concurrent(handleDescribeTransactions)},
		66: {0, 2, concurrent(handleListTransactions)},
		68: {0, 1, handleConsumerGroupHeartbeat},                  // KIP-848
		69: {0, 1, afterGroupWrites(handleConsumerGroupDescribe)}, // KIP-848
		75: {0, 0, concurrent(handleDescribeTopicPartitions)},
		// KIP-932 share groups (h-share).
		76: {0, 1, ordered(handleShareGroupHeartbeat)},
		77: {0, 1, ordered(handleShareGroupDescribe)},
		78: {0, 1, concurrent(handleShareFetch)},
		79: {0, 1, concurrent(handleShareAcknowledge)},
		90: {0, 1, concurrent(handleDescribeShareGroupOffsets)},
		91: {0, 0, ordered(handleAlterShareGroupOffsets)},
		92: {0, 0, ordered(handleDeleteShareGroupOffsets)},
	}
}

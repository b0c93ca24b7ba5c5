package broker

// ConsumerGroupHeartbeat: v0-v1 (KIP-848).
//
// The consumer group protocol, where the coordinator assigns the
// partitions (package coordinator, consumer_group.go). A member joins with
// epoch 0 (v1: with the member id it made itself; v0: the coordinator
// names it), heartbeats with its member epoch and the partitions it owns,
// and leaves with epoch -1 (-2: a static member leaving for now). Each
// answer carries the member's epoch, the heartbeat interval (the group's
// consumer.heartbeat.interval.ms, by default 5 s as Kafka's
// group.consumer.heartbeat.interval.ms, while the group is Stable; at most
// 0.5 s while it reconciles, a deviation) and, when it changed or the
// request was full, the partitions it is to own: a partition moves to a
// new owner only after its previous owner revoked it. Server-side
// assignors: uniform (default) and range. Subscriptions by names or by a
// regular expression (v1, RE2 syntax, matched against the whole topic
// name, and matched again when topics are created). A change to the group
// is in etcd before it is answered. Errors as Kafka's: INVALID_REQUEST
// (with Kafka's message) for a malformed request, UNSUPPORTED_ASSIGNOR,
// INVALID_REGULAR_EXPRESSION, UNKNOWN_MEMBER_ID, FENCED_MEMBER_EPOCH,
// FENCED_INSTANCE_ID, UNRELEASED_INSTANCE_ID. A join (epoch 0) to a
// classic group with members of the consumer protocol type upgrades it
// online (coordinator/consumer_migrate.go); any other heartbeat to a
// classic group with members gets GROUP_ID_NOT_FOUND. It needs READ on the
// group (GROUP_AUTHORIZATION_FAILED). The session timeout of a member of
// the consumer protocol is the group's consumer.session.timeout.ms (45 s
// by default); the group configs are read before the group is locked
// (coordinator/consumer_configs.go, broker/group_configs.go), and a change
// applies from each member's next heartbeat on. Deviations: the broker
// defaults (group.consumer.session.timeout.ms, ...) are Kafka's and not
// configurable; no group.consumer.max.size.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
)

// handleConsumerGroupHeartbeat changes the group in its ordered part; the
// wait part waits for the change to be in etcd.
func handleConsumerGroupHeartbeat(c *conn, kreq kmsg.Request) func(context.Context) kmsg.Response {
	req := kreq.(*kmsg.ConsumerGroupHeartbeatRequest)
	answer := func(code *kerr.Error, msg string) func(context.Context) kmsg.Response {
		resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
		resp.ErrorCode = code.Code
		if msg != "" {
			resp.ErrorMessage = kmsg.StringPtr(msg)
		}
		return func(context.Context) kmsg.Response { return resp }
	}
	if e := c.memberError(req.Group); e != nil {
		return answer(e, "")
	}
	if e, msg := coordinator.CheckConsumerHeartbeat(req); e != nil {
		return answer(e, msg)
	}
	// The group's session timeout and heartbeat interval, read (or
	// refreshed) with no lock held; the heartbeat looks at what was read.
	c.srv.groups.ConsumerConfig(req.Group)
	var resp *kmsg.ConsumerGroupHeartbeatResponse
	var write *coordinator.ConsumerWrite
	err := c.srv.groups.WithGroup(req.Group, req.MemberEpoch == 0, func(_ *coordinator.Shard, g *coordinator.Group) {
		if g == nil {
			return
		}
		resp, write = g.ConsumerHeartbeat(coordinator.Client{ID: c.clientID, Host: c.nc.RemoteAddr().String()}, req)
	})
	switch {
	case err != nil:
		return answer(asKerr(err), "")
	case resp == nil: // no such group: Kafka answers so, and the member joins again
		return answer(kerr.UnknownMemberID, "")
	}
	return func(ctx context.Context) kmsg.Response {
		if err := write.Wait(ctx); err != nil {
			return answer(asKerr(err), "")(ctx)
		}
		return resp
	}
}

// checkFetchMember is OffsetFetch v9's check of the member a group's
// fetch names (coordinator.Group.CheckConsumerFetch): nil, or the group's
// error code.
func (b *server) checkFetchMember(rg kmsg.OffsetFetchRequestGroup) *kerr.Error {
	var code *kerr.Error
	err := b.groups.WithGroup(rg.Group, false, func(_ *coordinator.Shard, g *coordinator.Group) {
		if g != nil {
			code = g.CheckConsumerFetch(rg.MemberID, rg.MemberEpoch)
		}
	})
	if err != nil {
		return nil // fetchOffsets meets it too and answers it
	}
	return code
}

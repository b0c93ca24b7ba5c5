package e2e

// TestGroup848Configs: the KIP-848 group configs consumer.session.timeout.ms
// and consumer.heartbeat.interval.ms with a real `strata serve` on a real
// etcd and MinIO.
//
//   - DescribeConfigs on a GROUP lists them with Kafka's defaults (source
//     DEFAULT_CONFIG) beside the share group ones; IncrementalAlterConfigs
//     rejects a value out of bounds, a non-integer, and a session timeout
//     not above the heartbeat interval with INVALID_CONFIG and a message
//     naming the config, applying nothing of the request; a valid change
//     is described with source GROUP_CONFIG; a delete restores the default.
//   - A member (a raw ConsumerGroupHeartbeat client) heartbeats under the
//     defaults (interval 5000 ms in its responses); the group's configs are
//     lowered; its next heartbeat carries the new interval, and then it
//     stops heartbeating without leaving (a crashed client), owning every
//     partition. A franz-go member of the same group gets those
//     partitions once the dead member's lowered session timeout ran out,
//     and processes every acknowledged record exactly once. A second
//     group, whose dead member's session timer started under the default
//     (45 s) at the same time, still lists that member then: the lowered
//     timeout, not the default, removed the first one.

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/testenv"
)

// rawMember848 is a KIP-848 member driven by hand with
// ConsumerGroupHeartbeat: it joins, reports the partitions it was given
// as owned (it never fetches), and can simply stop heartbeating.
type rawMember848 struct {
	cl           *kgo.Client
	group, topic string
	id           string
	epoch        int32
	owned        []kmsg.ConsumerGroupHeartbeatRequestTopic
}

// heartbeat sends one heartbeat (the join when epoch is 0) and takes the
// epoch and assignment of its answer.
func (m *rawMember848) heartbeat(ctx context.Context) (*kmsg.ConsumerGroupHeartbeatResponse, error) {
	req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
	req.Group, req.MemberID, req.MemberEpoch = m.group, m.id, m.epoch
	req.RebalanceTimeoutMillis = -1
	req.Topics = m.owned
	if m.epoch == 0 {
		req.RebalanceTimeoutMillis = 60000
		req.SubscribedTopicNames = []string{m.topic}
		req.Topics = []kmsg.ConsumerGroupHeartbeatRequestTopic{}
	}
	resp, err := req.RequestWith(ctx, m.cl)
	if err != nil {
		return nil, err
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return resp, err
	}
	m.epoch = resp.MemberEpoch
	if a := resp.Assignment; a != nil {
		m.owned = m.owned[:0:0]
		for _, t := range a.Topics {
			m.owned = append(m.owned, kmsg.ConsumerGroupHeartbeatRequestTopic{TopicID: t.TopicID, Partitions: slices.Clone(t.Partitions)})
		}
	}
	return resp, nil
}

func (m *rawMember848) ownedCount() int {
	n := 0
	for _, t := range m.owned {
		n += len(t.Partitions)
	}
	return n
}

// joinStable joins m and heartbeats until it owns partitions partitions
// and its answer carries interval (the group's, as it is Stable).
func (m *rawMember848) joinStable(t *testing.T, partitions int, interval int32) {
	t.Helper()
	ctx := testContext(t, g848Within)
	var last string
	for {
		resp, err := m.heartbeat(ctx)
		switch {
		case errors.Is(err, kerr.CoordinatorLoadInProgress) || errors.Is(err, kerr.NotCoordinator):
			last = err.Error() // a client retries these
		case err != nil:
			t.Fatalf("member %s of %s: heartbeat: %v", m.id, m.group, err)
		default:
			last = fmt.Sprintf("epoch %d, %d partitions, interval %d ms", m.epoch, m.ownedCount(), resp.HeartbeatIntervalMillis)
			if m.ownedCount() == partitions && resp.HeartbeatIntervalMillis == interval {
				return
			}
		}
		if ctx.Err() != nil {
			t.Fatalf("member %s of %s never owned %d partitions with interval %d ms: %s", m.id, m.group, partitions, interval, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// groupConfig848 is one described group config.
type groupConfig848 struct {
	value  string
	source kmsg.ConfigSource
}

// describeGroupConfigs848 describes every config of group.
func describeGroupConfigs848(t *testing.T, cl *kgo.Client, group string) map[string]groupConfig848 {
	t.Helper()
	req := kmsg.NewPtrDescribeConfigsRequest()
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Resources) != 1 {
		t.Fatalf("DescribeConfigs: %d resources in the answer", len(resp.Resources))
	}
	r := resp.Resources[0]
	if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
		t.Fatalf("DescribeConfigs %s: %v", group, err)
	}
	out := map[string]groupConfig848{}
	for _, c := range r.Configs {
		v := ""
		if c.Value != nil {
			v = *c.Value
		}
		out[c.Name] = groupConfig848{v, c.Source}
	}
	return out
}

// alterGroupConfigs848 changes group's configs (a nil value: delete it)
// and returns the resource's error code and message.
func alterGroupConfigs848(t *testing.T, cl *kgo.Client, group string, set map[string]*string) (int16, string) {
	t.Helper()
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeGroupConfig, group
	for k, v := range set {
		c := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
		c.Name, c.Op, c.Value = k, kmsg.IncrementalAlterConfigOpSet, v
		if v == nil {
			c.Op = kmsg.IncrementalAlterConfigOpDelete
		}
		rr.Configs = append(rr.Configs, c)
	}
	req.Resources = append(req.Resources, rr)
	resp, err := req.RequestWith(testContext(t, 10*time.Second), cl)
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Resources) != 1 {
		t.Fatalf("IncrementalAlterConfigs: %d resources in the answer", len(resp.Resources))
	}
	msg := ""
	if m := resp.Resources[0].ErrorMessage; m != nil {
		msg = *m
	}
	return resp.Resources[0].ErrorCode, msg
}

// show848 is a config change as text.
func show848(set map[string]*string) string {
	var out []string
	for k, v := range set {
		if v == nil {
			out = append(out, k+" deleted")
		} else {
			out = append(out, k+"="+*v)
		}
	}
	slices.Sort(out)
	return strings.Join(out, " ")
}

func TestGroup848Configs(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	minio := testenv.StartMinIO(t)
	b := &brokerSet{t: t, start: time.Now()}
	b.brokers = append(b.brokers, StartStrata(t, Options{
		EtcdEndpoints: etcd.Endpoint,
		ObjectStore:   minio.S3URL("strata-groups848cfg"),
		Args:          []string{"--session-ttl", g848SessionTTL.String(), "--log-level", "info"},
	}))
	b.clientLog = newRingLog(t, "franz-go clients", 400)
	const topic, group, other = "g848cfg-topic", "g848cfg-group", "g848cfg-other"
	const session, interval = "3000", "400"
	ensureTopic(t, b.brokers[0], topic, g848Partitions, nil)
	adm := b.client()
	defer adm.Close()
	gb := &g848Brokers{brokerSet: b, adm: adm, dead: map[int]bool{}}
	sessionKey, intervalKey := "consumer.session.timeout.ms", "consumer.heartbeat.interval.ms"

	// Defaults, beside the share group configs.
	want := func(what string, got map[string]groupConfig848, name, value string, source kmsg.ConfigSource) {
		t.Helper()
		if c, ok := got[name]; !ok || c.value != value || c.source != source {
			t.Fatalf("%s: %s is %+v (listed: %v), want %s from %v", what, name, c, ok, value, source)
		}
	}
	cfgs := describeGroupConfigs848(t, adm, group)
	want("defaults", cfgs, sessionKey, "45000", kmsg.ConfigSourceDefaultConfig)
	want("defaults", cfgs, intervalKey, "5000", kmsg.ConfigSourceDefaultConfig)
	want("defaults", cfgs, "share.session.timeout.ms", "45000", kmsg.ConfigSourceDefaultConfig)

	// Bad values: INVALID_CONFIG naming the config; nothing applied.
	for _, bad := range []map[string]*string{
		{sessionKey: kmsg.StringPtr("500")},                                        // below the minimum
		{sessionKey: kmsg.StringPtr("60001")},                                      // above the maximum
		{intervalKey: kmsg.StringPtr("often")},                                     // not an integer
		{sessionKey: kmsg.StringPtr(session)},                                      // not above the default interval
		{sessionKey: kmsg.StringPtr(session), intervalKey: kmsg.StringPtr("3000")}, // not above the interval
		{sessionKey: kmsg.StringPtr(session), intervalKey: kmsg.StringPtr("20000")},
	} {
		code, msg := alterGroupConfigs848(t, adm, group, bad)
		if code != kerr.InvalidConfig.Code {
			t.Fatalf("alter %s: %v (%q), want INVALID_CONFIG", show848(bad), kerr.ErrorForCode(code), msg)
		}
		if !strings.Contains(msg, "consumer.") {
			t.Fatalf("alter %s: message %q does not name the config", show848(bad), msg)
		}
		b.logf("alter %s: INVALID_CONFIG %q", show848(bad), msg)
	}
	cfgs = describeGroupConfigs848(t, adm, group)
	want("after the rejected alters", cfgs, sessionKey, "45000", kmsg.ConfigSourceDefaultConfig)
	want("after the rejected alters", cfgs, intervalKey, "5000", kmsg.ConfigSourceDefaultConfig)

	// A dead member in each group, under the defaults.
	dead := &rawMember848{cl: adm, group: group, topic: topic, id: "g848cfg-dead-member-0001"}
	deadOther := &rawMember848{cl: adm, group: other, topic: topic, id: "g848cfg-dead-member-0002"}
	dead.joinStable(t, g848Partitions, 5000)
	deadOther.joinStable(t, g848Partitions, 5000)

	// Lower the group's session timeout and interval: the member's next
	// heartbeat carries the new interval (and restarts its session with
	// the new timeout); the other group keeps the defaults.
	if code, msg := alterGroupConfigs848(t, adm, group, map[string]*string{sessionKey: kmsg.StringPtr(session), intervalKey: kmsg.StringPtr(interval)}); code != 0 {
		t.Fatalf("alter %s=%s %s=%s: %v %q", sessionKey, session, intervalKey, interval, kerr.ErrorForCode(code), msg)
	}
	cfgs = describeGroupConfigs848(t, adm, group)
	want("after the alter", cfgs, sessionKey, session, kmsg.ConfigSourceGroupConfig)
	want("after the alter", cfgs, intervalKey, interval, kmsg.ConfigSourceGroupConfig)
	want("the other group", describeGroupConfigs848(t, adm, other), sessionKey, "45000", kmsg.ConfigSourceDefaultConfig)
	ctx := testContext(t, g848Within)
	resp, err := deadOther.heartbeat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if resp.HeartbeatIntervalMillis != 5000 {
		t.Fatalf("the other group's interval: %d ms, want the default 5000", resp.HeartbeatIntervalMillis)
	}
	resp, err = dead.heartbeat(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if resp.HeartbeatIntervalMillis != 400 {
		t.Fatalf("interval at the heartbeat after the alter: %d ms, want %s", resp.HeartbeatIntervalMillis, interval)
	}
	b.logf("both raw members stop heartbeating (crashed), each owning all %d partitions", g848Partitions)

	// A live member joins the group: it gets the dead member's partitions
	// once its (lowered) session timeout ran out, and consumes.
	tally := newG848Tally()
	stopProducing := g848Producer(t, b, tally, topic, 50*time.Millisecond)
	members := &g848Members{t: t, b: b, tally: tally, group: group, topic: topic, byName: map[string]*g848Member{}}
	defer members.stopAll()
	members.start("live", true)
	// Until then the dead member owns everything: wait for a Stable group
	// whose one member, not the dead one, owns every partition.
	var last string
	for {
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		d, err := gb.describe(rctx, group)
		cancel()
		if err == nil {
			last = fmt.Sprintf("state %s, epoch %d: %v", d.State, d.Epoch, g848Assignment(d))
			owned := 0
			for _, m := range d.Members {
				for _, tp := range m.Assignment.TopicPartitions {
					owned += len(tp.Partitions)
				}
			}
			if d.State == "Stable" && len(d.Members) == 1 && d.Members[0].MemberID != dead.id && owned == g848Partitions {
				b.logf("the live member owns every partition: %s", last)
				break
			}
		} else {
			last = err.Error()
		}
		if ctx.Err() != nil {
			t.Fatalf("group %s: the dead member's partitions never went to the live member: %s", group, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The other group's dead member, whose timer runs the default session
	// timeout since before the first one's last heartbeat, is still there.
	od, err := gb.describe(testContext(t, 10*time.Second), other)
	if err != nil {
		t.Fatal(err)
	}
	if len(od.Members) != 1 || od.Members[0].MemberID != deadOther.id {
		t.Fatalf("group %s: members %v, want its dead member %s still listed (default session timeout)", other, g848Assignment(od), deadOther.id)
	}
	// The dead member was removed: its heartbeat is refused.
	if _, err := dead.heartbeat(testContext(t, 10*time.Second)); !errors.Is(err, kerr.UnknownMemberID) {
		t.Fatalf("the removed member's heartbeat: %v, want UNKNOWN_MEMBER_ID", err)
	}

	drainExactlyOnce(t, b, tally, group, stopProducing, members)

	// Deleting the configs restores the defaults.
	if code, msg := alterGroupConfigs848(t, adm, group, map[string]*string{sessionKey: nil, intervalKey: nil}); code != 0 {
		t.Fatalf("delete the configs: %v %q", kerr.ErrorForCode(code), msg)
	}
	cfgs = describeGroupConfigs848(t, adm, group)
	want("after the delete", cfgs, sessionKey, "45000", kmsg.ConfigSourceDefaultConfig)
	want("after the delete", cfgs, intervalKey, "5000", kmsg.ConfigSourceDefaultConfig)
}

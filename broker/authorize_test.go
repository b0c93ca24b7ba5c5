package broker_test

// Authorization of each API through an in-process broker with the
// authorizer on. The broker has two listeners: on PLAINTEXT every request
// is User:ANONYMOUS's, whose rights the tests change; on SASL_PLAINTEXT a
// super user sets those rights up with CreateAcls and DeleteAcls (which
// answer once this broker's authorizer sees them) and creates what the
// requests act on.

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	saslplain "github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/strata-io/strata/acl"
	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/broker/brokertest"
)

const (
	anonymous     = "User:ANONYMOUS"
	adminUser     = "admin"
	adminPassword = "admin-secret"
)

// authEnv is a broker with the authorizer on, a super user's client and a
// connection of User:ANONYMOUS.
type authEnv struct {
	b     *brokertest.Broker
	admin *kgo.Client // User:admin, a super user
	anon  *brokertest.Conn
}

func startAuthorized(t *testing.T) *authEnv {
	t.Helper()
	users := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(users, []byte(adminUser+":"+adminPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	b := brokertest.Start(t, brokertest.Authorizer("User:"+adminUser), func(c *broker.Config) {
		c.Security.Listeners = "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"
		c.Security.SASLBootstrapUsers = users
	})
	admin := b.Client(t,
		kgo.SeedBrokers(b.ListenerAddr("SASL_PLAINTEXT")),
		kgo.SASL(saslplain.Auth{User: adminUser, Pass: adminPassword}.AsMechanism()),
	)
	return &authEnv{b: b, admin: admin, anon: b.Dial(t)}
}

// setACLs replaces every ACL with bs.
func (e *authEnv) setACLs(t *testing.T, bs ...acl.Binding) {
	t.Helper()
	ctx := context.Background()
	del := kmsg.NewPtrDeleteACLsRequest()
	f := kmsg.NewDeleteACLsRequestFilter()
	f.ResourceType, f.ResourcePatternType = kmsg.ACLResourceTypeAny, kmsg.ACLResourcePatternTypeAny
	f.Operation, f.PermissionType = kmsg.ACLOperationAny, kmsg.ACLPermissionTypeAny
	del.Filters = append(del.Filters, f)
	dresp, err := del.RequestWith(ctx, e.admin)
	if err == nil && dresp.Results[0].ErrorCode != 0 {
		err = kerr.ErrorForCode(dresp.Results[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("delete ACLs: %v", err)
	}
	if len(bs) == 0 {
		return
	}
	cr := kmsg.NewPtrCreateACLsRequest()
	for _, b := range bs {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = b.ResourceType, b.ResourceName, b.PatternType
		c.Principal, c.Host, c.Operation, c.PermissionType = b.Principal, b.Host, b.Operation, b.Permission
		cr.Creations = append(cr.Creations, c)
	}
	cresp, err := cr.RequestWith(ctx, e.admin)
	if err != nil {
		t.Fatalf("create ACLs: %v", err)
	}
	for i, r := range cresp.Results {
		if r.ErrorCode != 0 {
			t.Fatalf("create ACL %+v: %v", bs[i], kerr.ErrorForCode(r.ErrorCode))
		}
	}
}

// createTopic creates a topic as the super user and waits until it can be
// read.
func (e *authEnv) createTopic(t *testing.T, name string, partitions int32) {
	t.Helper()
	ctx := context.Background()
	adm := kadm.NewClient(e.admin)
	resp, err := adm.CreateTopic(ctx, partitions, -1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		offs, err := adm.ListEndOffsets(ctx, name)
		if err == nil && offs.Error() == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("topic %s not readable: %v, %v", name, err, offs.Error())
		}
	}
}

// commit commits offset 0 of topic's partition 0 for group as the super
// user, which creates the group, empty.
func (e *authEnv) commit(t *testing.T, group, topic string) {
	t.Helper()
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: topic, Partition: 0, At: 0, LeaderEpoch: -1})
	resp, err := kadm.NewClient(e.admin).CommitOffsets(context.Background(), group, offs)
	if err == nil {
		err = resp.Error()
	}
	if err != nil {
		t.Fatalf("commit for group %s: %v", group, err)
	}
}

// allow is an ACL allowing User:ANONYMOUS op on the resource, from any host.
func allow(rt kmsg.ACLResourceType, name string, op kmsg.ACLOperation) acl.Binding {
	return acl.Binding{
		ResourceType: rt, ResourceName: name, PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: anonymous, Host: acl.WildcardHost, Operation: op, Permission: kmsg.ACLPermissionTypeAllow,
	}
}

func allowTopic(name string, op kmsg.ACLOperation) acl.Binding {
	return allow(kmsg.ACLResourceTypeTopic, name, op)
}

func allowGroup(name string, op kmsg.ACLOperation) acl.Binding {
	return allow(kmsg.ACLResourceTypeGroup, name, op)
}

func allowCluster(op kmsg.ACLOperation) acl.Binding {
	return allow(kmsg.ACLResourceTypeCluster, acl.ClusterName, op)
}

func prefixed(b acl.Binding) acl.Binding {
	b.PatternType = kmsg.ACLResourcePatternTypePrefixed
	return b
}

func deny(b acl.Binding) acl.Binding {
	b.Permission = kmsg.ACLPermissionTypeDeny
	return b
}

// untilSettled repeats do while it answers a retriable code (a coordinator
// loading, a leader being taken), and returns its last answer.
func untilSettled(t *testing.T, do func() int16) int16 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		code := do()
		if code == 0 || !kerr.IsRetriable(kerr.ErrorForCode(code)) || time.Now().After(deadline) {
			return code
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Names the API cases act on, set up by the super user.
const (
	authTopic = "topic-a" // one partition
	authGroup = "group-a" // empty, with an offset of authTopic/0
	offGroup  = "group-o" // the same, for OffsetDelete
	doomTopic = "doomed"  // for DeleteTopics
	doomGroup = "group-d" // for DeleteGroups
)

// TestAuthorizeAPIs runs each API twice as User:ANONYMOUS: with the ACLs
// denied grants (none, unless said) it gets Kafka's authorization error;
// with granted, exactly the operation Kafka checks, it is answered.
func TestAuthorizeAPIs(t *testing.T) {
	e := startAuthorized(t)
	e.createTopic(t, authTopic, 1)
	e.createTopic(t, doomTopic, 1)
	e.commit(t, authGroup, authTopic)
	e.commit(t, offGroup, authTopic)
	e.commit(t, doomGroup, authTopic)

	c := e.anon
	topicOp := func(op kmsg.ACLOperation) []acl.Binding { return []acl.Binding{allowTopic(authTopic, op)} }
	groupOp := func(op kmsg.ACLOperation) []acl.Binding { return []acl.Binding{allowGroup(authGroup, op)} }
	cases := []struct {
		name    string
		granted []acl.Binding
		want    error // with granted; nil: no error
		denied  []acl.Binding
		refused error // with denied
		do      func(t *testing.T) int16
	}{
		{
			name: "Produce", granted: topicOp(kmsg.ACLOperationWrite), refused: kerr.TopicAuthorizationFailed,
			do: func(t *testing.T) int16 {
				return produce(t, c, 1, authTopic, 0, records(t, plain(1, 0))).ErrorCode
			},
		},
		{
			name: "Fetch", granted: topicOp(kmsg.ACLOperationRead), refused: kerr.TopicAuthorizationFailed,
			do: func(t *testing.T) int16 { return fetch(t, c, authTopic, 0, 0, 0).ErrorCode },
		},
		{
			name: "ListOffsets", granted: topicOp(kmsg.ACLOperationDescribe), refused: kerr.TopicAuthorizationFailed,
			do: func(t *testing.T) int16 { return listOffset(t, c, authTopic, 0, -1).ErrorCode },
		},
		{
			name: "OffsetForLeaderEpoch", granted: topicOp(kmsg.ACLOperationDescribe), refused: kerr.TopicAuthorizationFailed,
			do: func(t *testing.T) int16 {
				req := kmsg.NewPtrOffsetForLeaderEpochRequest()
				req.SetVersion(3)
				req.ReplicaID = -1
				rt := kmsg.NewOffsetForLeaderEpochRequestTopic()
				rt.Topic = authTopic
				rp := kmsg.NewOffsetForLeaderEpochRequestTopicPartition()
				rp.CurrentLeaderEpoch, rp.LeaderEpoch = -1, 0
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				return c.RoundTrip(req).(*kmsg.OffsetForLeaderEpochResponse).Topics[0].Partitions[0].ErrorCode
			},
		},
		{
			name: "Metadata", granted: topicOp(kmsg.ACLOperationDescribe), refused: kerr.TopicAuthorizationFailed,
			do: func(t *testing.T) int16 { return metadataCode(c, authTopic, false) },
		},
		{
			name:    "Metadata auto-creation",
			granted: []acl.Binding{allowTopic("auto", kmsg.ACLOperationDescribe), allowTopic("auto", kmsg.ACLOperationCreate)},
			denied:  []acl.Binding{allowTopic("auto", kmsg.ACLOperationDescribe)}, refused: kerr.TopicAuthorizationFailed,
			do: func(t *testing.T) int16 { return metadataCode(c, "auto", true) },
		},
		{
			name:    "OffsetCommit",
			granted: []acl.Binding{allowGroup(authGroup, kmsg.ACLOperationRead), allowTopic(authTopic, kmsg.ACLOperationRead)},
			refused: kerr.GroupAuthorizationFailed,
			do:      func(t *testing.T) int16 { return offsetCommitCode(c, offsetCommit(7, authGroup, authTopic, 0)) },
		},
		{
			name:    "OffsetCommit topic",
			granted: []acl.Binding{allowGroup(authGroup, kmsg.ACLOperationRead), allowTopic(authTopic, kmsg.ACLOperationRead)},
			denied:  groupOp(kmsg.ACLOperationRead), refused: kerr.TopicAuthorizationFailed,
			do: func(t *testing.T) int16 { return offsetCommitCode(c, offsetCommit(7, authGroup, authTopic, 0)) },
		},
		{
			name:    "OffsetFetch",
			granted: []acl.Binding{allowGroup(authGroup, kmsg.ACLOperationDescribe), allowTopic(authTopic, kmsg.ACLOperationDescribe)},
			refused: kerr.GroupAuthorizationFailed,
			do:      func(t *testing.T) int16 { return offsetFetchCode(c, authGroup, authTopic) },
		},
		{
			name:    "OffsetFetch topic",
			granted: []acl.Binding{allowGroup(authGroup, kmsg.ACLOperationDescribe), allowTopic(authTopic, kmsg.ACLOperationDescribe)},
			denied:  groupOp(kmsg.ACLOperationDescribe), refused: kerr.TopicAuthorizationFailed,
			do: func(t *testing.T) int16 { return offsetFetchCode(c, authGroup, authTopic) },
		},
		{
			name: "FindCoordinator group", granted: groupOp(kmsg.ACLOperationDescribe), refused: kerr.GroupAuthorizationFailed,
			do: func(t *testing.T) int16 { return findCoordinatorCode(c, 0, authGroup) },
		},
		{
			name:    "FindCoordinator transaction",
			granted: []acl.Binding{allow(kmsg.ACLResourceTypeTransactionalId, "tx", kmsg.ACLOperationDescribe)},
			refused: kerr.TransactionalIDAuthorizationFailed,
			do:      func(t *testing.T) int16 { return findCoordinatorCode(c, 1, "tx") },
		},
		{
			name: "JoinGroup", granted: groupOp(kmsg.ACLOperationRead), want: kerr.MemberIDRequired, refused: kerr.GroupAuthorizationFailed,
			do: func(t *testing.T) int16 {
				req := kmsg.NewPtrJoinGroupRequest()
				req.SetVersion(5)
				req.Group, req.SessionTimeoutMillis, req.RebalanceTimeoutMillis = authGroup, 10_000, 10_000
				req.ProtocolType = "consumer"
				p := kmsg.NewJoinGroupRequestProtocol()
				p.Name, p.Metadata = "range", []byte{}
				req.Protocols = append(req.Protocols, p)
				return c.RoundTrip(req).(*kmsg.JoinGroupResponse).ErrorCode
			},
		},
		{
			name: "SyncGroup", granted: groupOp(kmsg.ACLOperationRead), want: kerr.UnknownMemberID, refused: kerr.GroupAuthorizationFailed,
			do: func(t *testing.T) int16 {
				req := kmsg.NewPtrSyncGroupRequest()
				req.SetVersion(3)
				req.Group, req.MemberID, req.Generation = authGroup, "nobody", 1
				return c.RoundTrip(req).(*kmsg.SyncGroupResponse).ErrorCode
			},
		},
		{
			name: "Heartbeat", granted: groupOp(kmsg.ACLOperationRead), want: kerr.UnknownMemberID, refused: kerr.GroupAuthorizationFailed,
			do: func(t *testing.T) int16 {
				req := kmsg.NewPtrHeartbeatRequest()
				req.SetVersion(3)
				req.Group, req.MemberID, req.Generation = authGroup, "nobody", 1
				return c.RoundTrip(req).(*kmsg.HeartbeatResponse).ErrorCode
			},
		},
		{
			name: "LeaveGroup", granted: groupOp(kmsg.ACLOperationRead), want: kerr.UnknownMemberID, refused: kerr.GroupAuthorizationFailed,
			do: func(t *testing.T) int16 {
				req := kmsg.NewPtrLeaveGroupRequest()
				req.SetVersion(2)
				req.Group, req.MemberID = authGroup, "nobody"
				return c.RoundTrip(req).(*kmsg.LeaveGroupResponse).ErrorCode
			},
		},
		{
			name: "DescribeGroups", granted: groupOp(kmsg.ACLOperationDescribe), refused: kerr.GroupAuthorizationFailed,
			do: func(t *testing.T) int16 {
				req := kmsg.NewPtrDescribeGroupsRequest()
				req.SetVersion(5)
				req.Groups = []string{authGroup}
				return c.RoundTrip(req).(*kmsg.DescribeGroupsResponse).Groups[0].ErrorCode
			},
		},
		{
			name: "ElectLeaders", granted: []acl.Binding{allowCluster(kmsg.ACLOperationAlter)}, want: kerr.ElectionNotNeeded, refused: kerr.ClusterAuthorizationFailed,
			do: func(t *testing.T) int16 {
				req := kmsg.NewPtrElectLeadersRequest()
				rt := kmsg.NewElectLeadersRequestTopic()
				rt.Topic, rt.Partitions = authTopic, []int32{0}
				req.Topics = append(req.Topics, rt)
				return c.RoundTrip(req).(*kmsg.ElectLeadersResponse).Topics[0].Partitions[0].ErrorCode
			},
		},
		{
			name: "AlterPartitionReassignments", granted: []acl.Binding{allowCluster(kmsg.ACLOperationAlter)}, want: kerr.NoReassignmentInProgress, refused: kerr.ClusterAuthorizationFailed,
			do: func(t *testing.T) int16 {
				req := kmsg.NewPtrAlterPartitionAssignmentsRequest()
				rt := kmsg.NewAlterPartitionAssignmentsRequestTopic()
				rt.Topic = authTopic
				rt.Partitions = append(rt.Partitions, kmsg.NewAlterPartitionAssignmentsRequestTopicPartition()) // cancel partition 0
				req.Topics = append(req.Topics, rt)
				resp := c.RoundTrip(req).(*kmsg.AlterPartitionAssignmentsResponse)
				if resp.ErrorCode != 0 {
					return resp.ErrorCode
				}
				return resp.Topics[0].Partitions[0].ErrorCode
			},
		},
		{
			name: "ListPartitionReassignments", granted: []acl.Binding{allowCluster(kmsg.ACLOperationDescribe)}, refused: kerr.ClusterAuthorizationFailed,
			do: func(t *testing.T) int16 {
				return c.RoundTrip(kmsg.NewPtrListPartitionReassignmentsRequest()).(*kmsg.ListPartitionReassignmentsResponse).ErrorCode
			},
		},
		{
			name: "DescribeLogDirs", granted: []acl.Binding{allowCluster(kmsg.ACLOperationDescribe)}, refused: kerr.ClusterAuthorizationFailed,
			do: func(t *testing.T) int16 {
				req := kmsg.NewPtrDescribeLogDirsRequest()
				req.SetVersion(4) // a top-level error code from v3
				return c.RoundTrip(req).(*kmsg.DescribeLogDirsResponse).ErrorCode
			},
		},
		{
			name: "DescribeTopicPartitions", granted: topicOp(kmsg.ACLOperationDescribe), refused: kerr.TopicAuthorizationFailed,
			do: func(t *testing.T) int16 {
				req := kmsg.NewPtrDescribeTopicPartitionsRequest()
				rt := kmsg.NewDescribeTopicPartitionsRequestTopic()
				rt.Topic = authTopic
				req.Topics = append(req.Topics, rt)
				return c.RoundTrip(req).(*kmsg.DescribeTopicPartitionsResponse).Topics[0].ErrorCode
			},
		},
		{
			name:    "CreateTopics",
			granted: []acl.Binding{allowTopic("created", kmsg.ACLOperationCreate)}, refused: kerr.TopicAuthorizationFailed,
			do: func(t *testing.T) int16 { return createTopicsResult(c, "created").ErrorCode },
		},
		{
			name: "CreateTopics on the cluster", granted: []acl.Binding{allowCluster(kmsg.ACLOperationCreate)}, refused: kerr.TopicAuthorizationFailed,
			do: func(t *testing.T) int16 { return createTopicsResult(c, "created-too").ErrorCode },
		},
		{
			name:    "DeleteTopics",
			granted: []acl.Binding{allowTopic(doomTopic, kmsg.ACLOperationDelete)}, refused: kerr.TopicAuthorizationFailed,
			do: func(t *testing.T) int16 { return deleteTopicCode(c, doomTopic) },
		},
		{
			name:    "DeleteTopics unknown",
			granted: []acl.Binding{allowTopic("never", kmsg.ACLOperationDelete)}, want: kerr.UnknownTopicOrPartition,
			refused: kerr.TopicAuthorizationFailed, // the topic's existence is not revealed
			do:      func(t *testing.T) int16 { return deleteTopicCode(c, "never") },
		},
		{
			name: "DeleteRecords", granted: topicOp(kmsg.ACLOperationDelete), refused: kerr.TopicAuthorizationFailed,
			do: func(t *testing.T) int16 {
				req := kmsg.NewPtrDeleteRecordsRequest()
				req.SetVersion(1)
				req.TimeoutMillis = 10_000
				rt := kmsg.NewDeleteRecordsRequestTopic()
				rt.Topic = authTopic
				rp := kmsg.NewDeleteRecordsRequestTopicPartition()
				rp.Offset = -1
				rt.Partitions = append(rt.Partitions, rp)
				req.Topics = append(req.Topics, rt)
				return c.RoundTrip(req).(*kmsg.DeleteRecordsResponse).Topics[0].Partitions[0].ErrorCode
			},
		},
		{
			name: "InitProducerId", granted: []acl.Binding{allowCluster(kmsg.ACLOperationIdempotentWrite)}, refused: kerr.ClusterAuthorizationFailed,
			do: func(t *testing.T) int16 { return initProducerIDCode(c, nil) },
		},
		{
			name:    "InitProducerId by a topic's WRITE",
			granted: []acl.Binding{prefixed(allowTopic("out-", kmsg.ACLOperationWrite))},
			denied: []acl.Binding{
				prefixed(allowTopic("out-", kmsg.ACLOperationWrite)),
				prefixed(deny(allowTopic("out", kmsg.ACLOperationWrite))), // a DENY of a shorter prefix takes it back
			},
			refused: kerr.ClusterAuthorizationFailed,
			do:      func(t *testing.T) int16 { return initProducerIDCode(c, nil) },
		},
		{
			name:    "InitProducerId transactional",
			granted: []acl.Binding{allow(kmsg.ACLResourceTypeTransactionalId, "tx", kmsg.ACLOperationWrite)},
			refused: kerr.TransactionalIDAuthorizationFailed,
			do:      func(t *testing.T) int16 { return initProducerIDCode(c, kmsg.StringPtr("tx")) },
		},
		{
			name:    "AddPartitionsToTxn",
			granted: []acl.Binding{allow(kmsg.ACLResourceTypeTransactionalId, "tx", kmsg.ACLOperationWrite), allowTopic(authTopic, kmsg.ACLOperationWrite)},
			denied:  []acl.Binding{allow(kmsg.ACLResourceTypeTransactionalId, "tx", kmsg.ACLOperationWrite)},
			want:    kerr.InvalidProducerIDMapping, // no such producer
			refused: kerr.TopicAuthorizationFailed,
			do: func(t *testing.T) int16 {
				req := kmsg.NewPtrAddPartitionsToTxnRequest()
				req.SetVersion(3)
				req.TransactionalID, req.ProducerID, req.ProducerEpoch = "tx", 1, 0
				rt := kmsg.NewAddPartitionsToTxnRequestTopic()
				rt.Topic, rt.Partitions = authTopic, []int32{0}
				req.Topics = append(req.Topics, rt)
				return c.RoundTrip(req).(*kmsg.AddPartitionsToTxnResponse).Topics[0].Partitions[0].ErrorCode
			},
		},
		{
			name:    "AddOffsetsToTxn",
			granted: []acl.Binding{allow(kmsg.ACLResourceTypeTransactionalId, "tx", kmsg.ACLOperationWrite), allowGroup(authGroup, kmsg.ACLOperationRead)},
			denied:  []acl.Binding{allow(kmsg.ACLResourceTypeTransactionalId, "tx", kmsg.ACLOperationWrite)},
			want:    kerr.InvalidProducerIDMapping,
			refused: kerr.GroupAuthorizationFailed,
			do: func(t *testing.T) int16 {
				req := kmsg.NewPtrAddOffsetsToTxnRequest()
				req.SetVersion(3)
				req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Group = "tx", 1, 0, authGroup
				return c.RoundTrip(req).(*kmsg.AddOffsetsToTxnResponse).ErrorCode
			},
		},
		{
			name:    "EndTxn",
			granted: []acl.Binding{allow(kmsg.ACLResourceTypeTransactionalId, "tx", kmsg.ACLOperationWrite)},
			want:    kerr.InvalidProducerIDMapping,
			refused: kerr.TransactionalIDAuthorizationFailed,
			do: func(t *testing.T) int16 {
				req := kmsg.NewPtrEndTxnRequest()
				req.SetVersion(3)
				req.TransactionalID, req.ProducerID, req.ProducerEpoch, req.Commit = "tx", 1, 0, true
				return c.RoundTrip(req).(*kmsg.EndTxnResponse).ErrorCode
			},
		},
		{
			name:    "DescribeTransactions",
			granted: []acl.Binding{allow(kmsg.ACLResourceTypeTransactionalId, "tx", kmsg.ACLOperationDescribe)},
			refused: kerr.TransactionalIDAuthorizationFailed,
			do: func(t *testing.T) int16 {
				req := kmsg.NewPtrDescribeTransactionsRequest()
				req.TransactionalIDs = []string{"tx"}
				return c.RoundTrip(req).(*kmsg.DescribeTransactionsResponse).TransactionStates[0].ErrorCode
			},
		},
		{
			name: "DescribeConfigs topic", granted: topicOp(kmsg.ACLOperationDescribeConfigs), refused: kerr.TopicAuthorizationFailed,
			do: func(t *testing.T) int16 { return describeConfigsCode(c, kmsg.ConfigResourceTypeTopic, authTopic) },
		},
		{
			name: "DescribeConfigs broker", granted: []acl.Binding{allowCluster(kmsg.ACLOperationDescribeConfigs)}, refused: kerr.ClusterAuthorizationFailed,
			do: func(t *testing.T) int16 { return describeConfigsCode(c, kmsg.ConfigResourceTypeBroker, "") },
		},
		{
			name: "AlterConfigs", granted: topicOp(kmsg.ACLOperationAlterConfigs), refused: kerr.TopicAuthorizationFailed,
			do: func(t *testing.T) int16 {
				req := kmsg.NewPtrAlterConfigsRequest()
				req.SetVersion(1)
				req.ValidateOnly = true
				rr := kmsg.NewAlterConfigsRequestResource()
				rr.ResourceType, rr.ResourceName = kmsg.ConfigResourceTypeTopic, authTopic
				rc := kmsg.NewAlterConfigsRequestResourceConfig()
				rc.Name, rc.Value = "retention.ms", kmsg.StringPtr("60000")
				rr.Configs = append(rr.Configs, rc)
				req.Resources = append(req.Resources, rr)
				return c.RoundTrip(req).(*kmsg.AlterConfigsResponse).Resources[0].ErrorCode
			},
		},
		{
			name: "IncrementalAlterConfigs", granted: topicOp(kmsg.ACLOperationAlterConfigs), refused: kerr.TopicAuthorizationFailed,
			do: func(t *testing.T) int16 { return incrementalAlterCode(c, kmsg.ConfigResourceTypeTopic, authTopic) },
		},
		{
			name:    "IncrementalAlterConfigs broker",
			granted: []acl.Binding{allowCluster(kmsg.ACLOperationAlterConfigs)},
			want:    kerr.InvalidRequest, // broker settings are read-only
			refused: kerr.ClusterAuthorizationFailed,
			do:      func(t *testing.T) int16 { return incrementalAlterCode(c, kmsg.ConfigResourceTypeBroker, "") },
		},
		{
			name: "CreatePartitions", granted: topicOp(kmsg.ACLOperationAlter), refused: kerr.TopicAuthorizationFailed,
			do: func(t *testing.T) int16 {
				req := kmsg.NewPtrCreatePartitionsRequest()
				req.SetVersion(1)
				req.ValidateOnly, req.TimeoutMillis = true, 10_000
				rt := kmsg.NewCreatePartitionsRequestTopic()
				rt.Topic, rt.Count = authTopic, 2
				req.Topics = append(req.Topics, rt)
				return c.RoundTrip(req).(*kmsg.CreatePartitionsResponse).Topics[0].ErrorCode
			},
		},
		{
			name: "DeleteGroups", granted: []acl.Binding{allowGroup(doomGroup, kmsg.ACLOperationDelete)}, refused: kerr.GroupAuthorizationFailed,
			do: func(t *testing.T) int16 {
				req := kmsg.NewPtrDeleteGroupsRequest()
				req.SetVersion(1)
				req.Groups = []string{doomGroup}
				return c.RoundTrip(req).(*kmsg.DeleteGroupsResponse).Groups[0].ErrorCode
			},
		},
		{
			name:    "OffsetDelete",
			granted: []acl.Binding{allowGroup(authGroup, kmsg.ACLOperationDelete), allowTopic(authTopic, kmsg.ACLOperationRead)},
			refused: kerr.GroupAuthorizationFailed,
			do:      func(t *testing.T) int16 { return offsetDeleteCode(c, authGroup, authTopic) },
		},
		{
			name:    "OffsetDelete topic",
			granted: []acl.Binding{allowGroup(offGroup, kmsg.ACLOperationDelete), allowTopic(authTopic, kmsg.ACLOperationRead)},
			denied:  []acl.Binding{allowGroup(offGroup, kmsg.ACLOperationDelete)}, refused: kerr.TopicAuthorizationFailed,
			do: func(t *testing.T) int16 { return offsetDeleteCode(c, offGroup, authTopic) },
		},
		{
			name: "DENY beats ALLOW",
			granted: []acl.Binding{
				allow(kmsg.ACLResourceTypeTopic, authTopic, kmsg.ACLOperationAll),
			},
			denied: []acl.Binding{
				allow(kmsg.ACLResourceTypeTopic, acl.WildcardResource, kmsg.ACLOperationAll),
				deny(allowTopic(authTopic, kmsg.ACLOperationDescribe)),
			},
			refused: kerr.TopicAuthorizationFailed,
			do:      func(t *testing.T) int16 { return listOffset(t, c, authTopic, 0, -1).ErrorCode },
		},
		{
			name:    "prefixed ACL",
			granted: []acl.Binding{prefixed(allowTopic("topic-", kmsg.ACLOperationDescribe))},
			denied:  []acl.Binding{prefixed(allowTopic(authTopic+"-", kmsg.ACLOperationDescribe))}, // longer than the name
			refused: kerr.TopicAuthorizationFailed,
			do:      func(t *testing.T) int16 { return listOffset(t, c, authTopic, 0, -1).ErrorCode },
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Denied first: a refused request changes nothing, so the
			// granted one then finds what the super user set up.
			e.setACLs(t, tc.denied...)
			wantCode(t, "denied", untilSettled(t, func() int16 { return tc.do(t) }), tc.refused)
			e.setACLs(t, tc.granted...)
			code := untilSettled(t, func() int16 { return tc.do(t) })
			if tc.want == nil {
				if code != 0 {
					t.Errorf("granted: error %v, want none", kerr.ErrorForCode(code))
				}
				return
			}
			wantCode(t, "granted", code, tc.want)
		})
	}
}

// TestAuthorizeListings checks the answers that leave out what the
// principal may not DESCRIBE, and the authorized operations they report.
func TestAuthorizeListings(t *testing.T) {
	e := startAuthorized(t)
	for _, name := range []string{"seen", "hidden"} {
		e.createTopic(t, name, 1)
		e.commit(t, "group-"+name, name)
	}
	e.setACLs(t,
		allowTopic("seen", kmsg.ACLOperationRead),
		allowGroup("group-seen", kmsg.ACLOperationDescribe),
	)
	c := e.anon

	t.Run("Metadata", func(t *testing.T) {
		req := kmsg.NewPtrMetadataRequest()
		req.SetVersion(10)
		req.IncludeClusterAuthorizedOperations, req.IncludeTopicAuthorizedOperations = true, true
		resp := c.RoundTrip(req).(*kmsg.MetadataResponse)
		var names []string
		for _, mt := range resp.Topics {
			names = append(names, *mt.Topic)
			if mt.Topic != nil && *mt.Topic == "seen" {
				// READ, and the DESCRIBE it implies.
				if want := int32(1<<kmsg.ACLOperationRead | 1<<kmsg.ACLOperationDescribe); mt.AuthorizedOperations != want {
					t.Errorf("authorized operations on seen = %b, want %b", mt.AuthorizedOperations, want)
				}
			}
		}
		if !slices.Equal(names, []string{"seen"}) {
			t.Errorf("all-topics metadata lists %v, want only seen", names)
		}
		if resp.AuthorizedOperations != 0 {
			t.Errorf("cluster authorized operations without DESCRIBE on it = %b, want 0", resp.AuthorizedOperations)
		}
		req.IncludeClusterAuthorizedOperations, req.IncludeTopicAuthorizedOperations = false, false
		resp = c.RoundTrip(req).(*kmsg.MetadataResponse)
		if resp.AuthorizedOperations != -1<<31 || resp.Topics[0].AuthorizedOperations != -1<<31 {
			t.Errorf("authorized operations not asked for = %d, %d; want %d", resp.AuthorizedOperations, resp.Topics[0].AuthorizedOperations, -1<<31)
		}
	})

	t.Run("OffsetFetch every offset", func(t *testing.T) {
		e.setACLs(t, allowGroup("group-seen", kmsg.ACLOperationDescribe), allowTopic("hidden", kmsg.ACLOperationDescribe))
		e.commit(t, "group-seen", "hidden")
		defer e.setACLs(t, allowTopic("seen", kmsg.ACLOperationRead), allowGroup("group-seen", kmsg.ACLOperationDescribe))
		req := kmsg.NewPtrOffsetFetchRequest()
		req.SetVersion(7)
		req.Group = "group-seen"
		resp := c.RoundTrip(req).(*kmsg.OffsetFetchResponse)
		var topics []string
		for _, rt := range resp.Topics {
			topics = append(topics, rt.Topic)
		}
		if resp.ErrorCode != 0 || !slices.Equal(topics, []string{"hidden"}) {
			t.Errorf("offsets of every topic: %v, topics %v; want only hidden", kerr.ErrorForCode(resp.ErrorCode), topics)
		}
	})

	t.Run("ListGroups", func(t *testing.T) {
		if got := listGroups(t, c); !slices.Equal(got, []string{"group-seen"}) {
			t.Errorf("groups listed with DESCRIBE on group-seen: %v", got)
		}
		e.setACLs(t, allowCluster(kmsg.ACLOperationDescribe))
		if got := listGroups(t, c); !slices.Equal(got, []string{"group-hidden", "group-seen"}) {
			t.Errorf("groups listed with DESCRIBE on the cluster: %v", got)
		}
	})

	t.Run("DescribeGroups authorized operations", func(t *testing.T) {
		e.setACLs(t, allowGroup("group-seen", kmsg.ACLOperationRead))
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.SetVersion(5)
		req.Groups, req.IncludeAuthorizedOperations = []string{"group-seen"}, true
		dg := c.RoundTrip(req).(*kmsg.DescribeGroupsResponse).Groups[0]
		if want := int32(1<<kmsg.ACLOperationRead | 1<<kmsg.ACLOperationDescribe); dg.ErrorCode != 0 || dg.AuthorizedOperations != want {
			t.Errorf("describe group-seen: %v, authorized operations %b; want %b", kerr.ErrorForCode(dg.ErrorCode), dg.AuthorizedOperations, want)
		}
	})

	t.Run("DescribeCluster", func(t *testing.T) {
		req := kmsg.NewPtrDescribeClusterRequest()
		req.IncludeClusterAuthorizedOperations = true
		e.setACLs(t)
		resp := c.RoundTrip(req).(*kmsg.DescribeClusterResponse)
		if resp.ErrorCode != 0 || len(resp.Brokers) != 1 || resp.ClusterAuthorizedOperations != 0 {
			t.Errorf("without ACLs: %v, %d brokers, authorized operations %b; want the cluster and 0",
				kerr.ErrorForCode(resp.ErrorCode), len(resp.Brokers), resp.ClusterAuthorizedOperations)
		}
		e.setACLs(t, allowCluster(kmsg.ACLOperationDescribe))
		resp = c.RoundTrip(req).(*kmsg.DescribeClusterResponse)
		if want := int32(1 << kmsg.ACLOperationDescribe); resp.ClusterAuthorizedOperations != want {
			t.Errorf("with DESCRIBE: authorized operations %b, want %b", resp.ClusterAuthorizedOperations, want)
		}
	})

	t.Run("Fetch by topic id", func(t *testing.T) {
		e.setACLs(t)
		topics, err := kadm.NewClient(e.admin).ListTopics(context.Background(), "seen")
		if err != nil {
			t.Fatal(err)
		}
		fetchByID := func(id [16]byte) int16 {
			req := kmsg.NewPtrFetchRequest()
			req.SetVersion(13)
			req.ReplicaID, req.MaxBytes = -1, 1<<20
			rt := kmsg.NewFetchRequestTopic()
			rt.TopicID = id
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.CurrentLeaderEpoch, rp.LogStartOffset, rp.PartitionMaxBytes = -1, -1, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			return c.RoundTrip(req).(*kmsg.FetchResponse).Topics[0].Partitions[0].ErrorCode
		}
		wantCode(t, "unknown id", fetchByID([16]byte{1}), kerr.UnknownTopicID)
		wantCode(t, "known id without READ", fetchByID(topics["seen"].ID), kerr.TopicAuthorizationFailed)
		e.setACLs(t, allowTopic("seen", kmsg.ACLOperationRead))
		if code := fetchByID(topics["seen"].ID); code != 0 {
			t.Errorf("known id with READ: %v", kerr.ErrorForCode(code))
		}
	})

	t.Run("CreateTopics configs", func(t *testing.T) {
		e.setACLs(t, allowTopic("quiet", kmsg.ACLOperationCreate), allowTopic("loud", kmsg.ACLOperationCreate), allowTopic("loud", kmsg.ACLOperationDescribeConfigs))
		quiet := createTopicsResult(c, "quiet")
		if quiet.ErrorCode != 0 || quiet.ConfigErrorCode != kerr.TopicAuthorizationFailed.Code || len(quiet.Configs) != 0 || quiet.NumPartitions != -1 {
			t.Errorf("created without DESCRIBE_CONFIGS: %v, config error %v, %d configs, %d partitions; want the configs withheld",
				kerr.ErrorForCode(quiet.ErrorCode), kerr.ErrorForCode(quiet.ConfigErrorCode), len(quiet.Configs), quiet.NumPartitions)
		}
		loud := createTopicsResult(c, "loud")
		if loud.ErrorCode != 0 || loud.ConfigErrorCode != 0 || len(loud.Configs) == 0 || loud.NumPartitions < 1 {
			t.Errorf("created with DESCRIBE_CONFIGS: %v, config error %v, %d configs, %d partitions; want them",
				kerr.ErrorForCode(loud.ErrorCode), kerr.ErrorForCode(loud.ConfigErrorCode), len(loud.Configs), loud.NumPartitions)
		}
	})
}

// metadataCode asks Metadata v9 for one topic and returns its code.
func metadataCode(c *brokertest.Conn, topic string, autoCreate bool) int16 {
	req := kmsg.NewPtrMetadataRequest()
	req.SetVersion(9)
	rt := kmsg.NewMetadataRequestTopic()
	rt.Topic = kmsg.StringPtr(topic)
	req.Topics = append(req.Topics, rt)
	req.AllowAutoTopicCreation = autoCreate
	resp := c.RoundTrip(req).(*kmsg.MetadataResponse)
	return resp.Topics[0].ErrorCode
}

// offsetFetchCode fetches group's offset of topic/0 (v7) and returns the
// top-level code, or the partition's.
func offsetFetchCode(c *brokertest.Conn, group, topic string) int16 {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.SetVersion(7)
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic, rt.Partitions = topic, []int32{0}
	req.Topics = append(req.Topics, rt)
	resp := c.RoundTrip(req).(*kmsg.OffsetFetchResponse)
	if resp.ErrorCode != 0 || len(resp.Topics) == 0 {
		return resp.ErrorCode
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

func findCoordinatorCode(c *brokertest.Conn, keyType int8, key string) int16 {
	req := kmsg.NewPtrFindCoordinatorRequest()
	req.SetVersion(4)
	req.CoordinatorType, req.CoordinatorKeys = keyType, []string{key}
	return c.RoundTrip(req).(*kmsg.FindCoordinatorResponse).Coordinators[0].ErrorCode
}

func createTopicsResult(c *brokertest.Conn, topic string) kmsg.CreateTopicsResponseTopic {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.SetVersion(7)
	req.TimeoutMillis = 10_000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 1, -1
	req.Topics = append(req.Topics, rt)
	return c.RoundTrip(req).(*kmsg.CreateTopicsResponse).Topics[0]
}

func deleteTopicCode(c *brokertest.Conn, topic string) int16 {
	req := kmsg.NewPtrDeleteTopicsRequest()
	req.SetVersion(5)
	req.TimeoutMillis = 10_000
	req.TopicNames = []string{topic}
	return c.RoundTrip(req).(*kmsg.DeleteTopicsResponse).Topics[0].ErrorCode
}

func initProducerIDCode(c *brokertest.Conn, txn *string) int16 {
	req := kmsg.NewPtrInitProducerIDRequest()
	req.SetVersion(4)
	req.TransactionalID, req.TransactionTimeoutMillis = txn, 60_000
	req.ProducerID, req.ProducerEpoch = -1, -1
	return c.RoundTrip(req).(*kmsg.InitProducerIDResponse).ErrorCode
}

func describeConfigsCode(c *brokertest.Conn, rt kmsg.ConfigResourceType, name string) int16 {
	req := kmsg.NewPtrDescribeConfigsRequest()
	req.SetVersion(3)
	rr := kmsg.NewDescribeConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = rt, name
	req.Resources = append(req.Resources, rr)
	return c.RoundTrip(req).(*kmsg.DescribeConfigsResponse).Resources[0].ErrorCode
}

func incrementalAlterCode(c *brokertest.Conn, rt kmsg.ConfigResourceType, name string) int16 {
	req := kmsg.NewPtrIncrementalAlterConfigsRequest()
	req.SetVersion(1)
	req.ValidateOnly = true
	rr := kmsg.NewIncrementalAlterConfigsRequestResource()
	rr.ResourceType, rr.ResourceName = rt, name
	rc := kmsg.NewIncrementalAlterConfigsRequestResourceConfig()
	rc.Name, rc.Op, rc.Value = "retention.ms", kmsg.IncrementalAlterConfigOpSet, kmsg.StringPtr("60000")
	rr.Configs = append(rr.Configs, rc)
	req.Resources = append(req.Resources, rr)
	return c.RoundTrip(req).(*kmsg.IncrementalAlterConfigsResponse).Resources[0].ErrorCode
}

// offsetDeleteCode deletes group's offset of topic/0 and returns the
// top-level code, or the partition's.
func offsetDeleteCode(c *brokertest.Conn, group, topic string) int16 {
	req := kmsg.NewPtrOffsetDeleteRequest()
	req.Group = group
	rt := kmsg.NewOffsetDeleteRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetDeleteRequestTopicPartition()
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	resp := c.RoundTrip(req).(*kmsg.OffsetDeleteResponse)
	if resp.ErrorCode != 0 {
		return resp.ErrorCode
	}
	return resp.Topics[0].Partitions[0].ErrorCode
}

func listGroups(t *testing.T, c *brokertest.Conn) []string {
	t.Helper()
	req := kmsg.NewPtrListGroupsRequest()
	req.SetVersion(4)
	resp := c.RoundTrip(req).(*kmsg.ListGroupsResponse)
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil && !errors.Is(err, kerr.CoordinatorLoadInProgress) {
		t.Fatalf("list groups: %v", err)
	}
	var groups []string
	for _, g := range resp.Groups {
		groups = append(groups, g.Group)
	}
	slices.Sort(groups)
	return groups
}

package e2e

// The ACL matrix: on a three-broker cluster with the authorizer on, a user
// without ACLs may do nothing; each ACL grants exactly its operation (and
// the DESCRIBE that Kafka implies with it); a DENY beats an ALLOW; a
// prefixed pattern grants the names under its prefix only; and an ACL
// created through one broker takes effect on every broker.

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/kversion"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/strata-io/strata/internal/testenv"
)

// aclPropagation bounds how long an ACL may take to reach every broker
// (each watches etcd; this is a liveness bound, not a latency target).
const aclPropagation = 60 * time.Second

// aclOp is one request a user makes, judged allowed or denied by its
// error code.
type aclOp string

const (
	opDescribe aclOp = "describe" // Metadata naming the topic, and the all-topics listing
	opProduce  aclOp = "produce"  // Produce to partition 0
	opConsume  aclOp = "consume"  // Fetch partition 0
	opCommit   aclOp = "commit"   // OffsetCommit of partition 0 for the check's group
	opCreate   aclOp = "create"   // CreateTopics
	opDelete   aclOp = "delete"   // DeleteTopics
)

// aclCheck is one request and whether it must be allowed.
type aclCheck struct {
	op    aclOp
	topic string
	group string // opCommit
	allow bool
}

func (c aclCheck) String() string {
	verdict := "denied"
	if c.allow {
		verdict = "allowed"
	}
	s := fmt.Sprintf("%s %s", c.op, c.topic)
	if c.group != "" {
		s += " group " + c.group
	}
	return s + " " + verdict
}

// aclBinding is one ACL to create, for alice unless principal says.
type aclBinding struct {
	resource  kmsg.ACLResourceType
	name      string
	pattern   kmsg.ACLResourcePatternType
	op        kmsg.ACLOperation
	perm      kmsg.ACLPermissionType
	principal string
}

func TestSecurityACLs(t *testing.T) {
	etcd := testenv.StartEtcd(t)
	minio := testenv.StartMinIO(t)
	pki := newSecPKI(t) // for the users file
	opts := Options{EtcdEndpoints: etcd.Endpoint, ObjectStore: minio.S3URL("strata-acls")}
	var brokers []*secureStrata
	for range 3 {
		brokers = append(brokers, startSecureStrata(t, opts, []string{"SASL_PLAINTEXT"},
			"--sasl-bootstrap-users", pki.usersFile, "--authorizer", "--super-users", "User:admin",
			"--log-level", "info"))
	}
	// One client per user and broker, each talking only to its seed
	// broker (requests go through Broker(seed)). Produce and Fetch are
	// capped at the versions that name topics (Kafka 3.0's).
	clientOn := func(b *secureStrata, user string) *kgo.Client {
		return secClient(t, user+"@"+b.Addr, kgo.SeedBrokers(b.addr["SASL_PLAINTEXT"]),
			kgo.SASL(plain.Auth{User: user, Pass: secUsers[user]}.AsMechanism()),
			kgo.MaxVersions(kversion.V3_0_0()), kgo.RequestRetries(2))
	}
	var admins, alices []*kgo.Client
	for _, b := range brokers {
		admins = append(admins, clientOn(b, "admin"))
		alices = append(alices, clientOn(b, "alice"))
	}

	type aclCase struct {
		name   string
		acls   []aclBinding
		topics []string // created by admin before the ACLs
		checks []aclCheck
	}
	lit, pfx := kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed
	allow, deny := kmsg.ACLPermissionTypeAllow, kmsg.ACLPermissionTypeDeny
	topicACL := func(name string, pattern kmsg.ACLResourcePatternType, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) aclBinding {
		return aclBinding{resource: kmsg.ACLResourceTypeTopic, name: name, pattern: pattern, op: op, perm: perm}
	}
	// everything is the full list of checks on a case's topic t, group g,
	// topic to create c and topic to delete d, with the operations in
	// allowed allowed and the others denied.
	everything := func(tp, g, c, d string, allowed ...aclOp) []aclCheck {
		checks := []aclCheck{
			{op: opDescribe, topic: tp}, {op: opProduce, topic: tp}, {op: opConsume, topic: tp},
			{op: opCommit, topic: tp, group: g}, {op: opCreate, topic: c}, {op: opDelete, topic: d},
		}
		for i := range checks {
			checks[i].allow = slices.Contains(allowed, checks[i].op)
		}
		return checks
	}
	var cases []aclCase
	add := func(name string, acls []aclBinding, allowed ...aclOp) {
		n := len(cases)
		tp, g, c, d := fmt.Sprintf("acl%d-t", n), fmt.Sprintf("acl%d-g", n), fmt.Sprintf("acl%d-new", n), fmt.Sprintf("acl%d-doomed", n)
		for i := range acls {
			// The case's names stand in for the placeholders.
			acls[i].name = strings.NewReplacer("$t", tp, "$g", g, "$c", c, "$d", d).Replace(acls[i].name)
		}
		cases = append(cases, aclCase{name: name, acls: acls, topics: []string{tp, d}, checks: everything(tp, g, c, d, allowed...)})
	}
	// Kafka implies DESCRIBE with READ, WRITE, DELETE and ALTER on the
	// same resource (KIP-253): "exactly its operation" includes it.
	add("no ACLs", nil)
	add("DESCRIBE topic", []aclBinding{topicACL("$t", lit, kmsg.ACLOperationDescribe, allow)}, opDescribe)
	add("WRITE topic", []aclBinding{topicACL("$t", lit, kmsg.ACLOperationWrite, allow)}, opProduce, opDescribe)
	add("READ topic", []aclBinding{topicACL("$t", lit, kmsg.ACLOperationRead, allow)}, opConsume, opDescribe)
	add("READ topic and group", []aclBinding{
		topicACL("$t", lit, kmsg.ACLOperationRead, allow),
		{resource: kmsg.ACLResourceTypeGroup, name: "$g", pattern: lit, op: kmsg.ACLOperationRead, perm: allow},
	}, opConsume, opCommit, opDescribe)
	add("READ group only", []aclBinding{
		{resource: kmsg.ACLResourceTypeGroup, name: "$g", pattern: lit, op: kmsg.ACLOperationRead, perm: allow},
	})
	add("CREATE topic", []aclBinding{topicACL("$c", lit, kmsg.ACLOperationCreate, allow)}, opCreate)
	add("DELETE topic", []aclBinding{topicACL("$d", lit, kmsg.ACLOperationDelete, allow)}, opDelete)
	add("DENY WRITE beats ALLOW ALL", []aclBinding{
		topicACL("$t", lit, kmsg.ACLOperationAll, allow),
		topicACL("$t", lit, kmsg.ACLOperationWrite, deny),
	}, opDescribe, opConsume)
	// The DENY names WRITE only: the DESCRIBE that the wildcard's WRITE
	// implies stays allowed (implication never applies to DENY).
	add("DENY for alice beats ALLOW for User:*", []aclBinding{
		{resource: kmsg.ACLResourceTypeTopic, name: "$t", pattern: lit, op: kmsg.ACLOperationWrite, perm: allow, principal: "User:*"},
		topicACL("$t", lit, kmsg.ACLOperationWrite, deny),
	}, opDescribe)
	{
		// Prefixed: WRITE on "aclP-in-" grants the topics under it, not
		// the prefix's own stem nor a topic that merely contains it.
		n := len(cases)
		prefix := fmt.Sprintf("acl%d-in-", n)
		in, stem, other := prefix+"x", fmt.Sprintf("acl%d-in", n), fmt.Sprintf("acl%d-out-", n)+prefix
		cases = append(cases, aclCase{
			name:   "prefixed WRITE",
			acls:   []aclBinding{topicACL(prefix, pfx, kmsg.ACLOperationWrite, allow)},
			topics: []string{in, stem, other},
			checks: []aclCheck{
				{op: opProduce, topic: in, allow: true}, {op: opDescribe, topic: in, allow: true},
				{op: opConsume, topic: in},
				{op: opProduce, topic: stem}, {op: opDescribe, topic: stem},
				{op: opProduce, topic: other}, {op: opDescribe, topic: other},
			},
		})
	}

	ctx := testContext(t, 10*time.Minute)
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			secCreateTopics(t, admins[0], tc.topics...)
			// Through one broker, a different one for each case.
			via := i % len(brokers)
			// Before the ACLs, alice may do none of it: what is allowed
			// afterwards is the ACLs' doing.
			none := slices.Clone(tc.checks)
			for k := range none {
				none[k].allow = false
			}
			aclAwait(t, ctx, "before the ACLs", alices[(via+1)%len(brokers)], none)
			if len(tc.acls) > 0 {
				aclCreate(t, ctx, admins[via], tc.acls)
			}
			for j, alice := range alices {
				aclAwait(t, ctx, fmt.Sprintf("broker %d (ACLs created through broker %d)", j, via), alice, tc.checks)
			}
		})
	}
}

// aclCreate creates the bindings through the client's seed broker.
func aclCreate(t *testing.T, ctx context.Context, admin *kgo.Client, acls []aclBinding) {
	t.Helper()
	req := kmsg.NewPtrCreateACLsRequest()
	for _, a := range acls {
		c := kmsg.NewCreateACLsRequestCreation()
		c.ResourceType, c.ResourceName, c.ResourcePatternType = a.resource, a.name, a.pattern
		c.Principal, c.Host, c.Operation, c.PermissionType = "User:alice", "*", a.op, a.perm
		if a.principal != "" {
			c.Principal = a.principal
		}
		req.Creations = append(req.Creations, c)
	}
	resp, err := req.RequestWith(ctx, admin.Broker(math.MinInt32))
	if err != nil {
		t.Fatalf("CreateAcls: %v", err)
	}
	for i, r := range resp.Results {
		if err := kerr.ErrorForCode(r.ErrorCode); err != nil {
			t.Fatalf("CreateAcls %+v: %v", acls[i], err)
		}
	}
}

// aclAwait runs the checks as the client's user on its seed broker until
// they all come out as expected, and fails with the last outcome if they do
// not within aclPropagation.
func aclAwait(t *testing.T, ctx context.Context, where string, cl *kgo.Client, checks []aclCheck) {
	t.Helper()
	deadline := time.Now().Add(aclPropagation)
	for {
		var wrong []string
		for _, c := range checks {
			allowed, outcome := aclRun(t, ctx, cl, c)
			if allowed != c.allow {
				wrong = append(wrong, fmt.Sprintf("%s, got %s", c, outcome))
			}
		}
		if len(wrong) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: after %s, %d of %d checks are wrong:%s", where, aclPropagation, len(wrong), len(checks), problemList(wrong, 20))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// authzCodes are the answers that say the request was not authorized.
var authzCodes = []int16{kerr.TopicAuthorizationFailed.Code, kerr.GroupAuthorizationFailed.Code, kerr.ClusterAuthorizationFailed.Code}

// aclRequest sends req to broker; a request that gets no answer fails the
// test.
func aclRequest[R kmsg.Response](t *testing.T, ctx context.Context, broker *kgo.Broker, req kmsg.Request) R {
	t.Helper()
	resp, err := broker.Request(ctx, req)
	if err != nil {
		t.Fatalf("%s: %v", kmsg.NameForKey(req.Key()), err)
	}
	return resp.(R)
}

// aclRun makes the check's request on the client's seed broker and says
// whether it was allowed: its code is one the operation gives when
// authorized (the partition may be led by another broker, the group
// coordinated elsewhere, the topic already created or deleted by an earlier
// round). An authorization code means denied; any other code is neither,
// and fails the check whatever it expects.
func aclRun(t *testing.T, ctx context.Context, cl *kgo.Client, c aclCheck) (allowed bool, outcome string) {
	t.Helper()
	seed := cl.Broker(math.MinInt32)
	var code int16
	var ok []int16 // codes that mean authorized
	switch c.op {
	case opDescribe:
		req := kmsg.NewPtrMetadataRequest()
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = kmsg.StringPtr(c.topic)
		req.Topics = append(req.Topics, mt)
		resp := aclRequest[*kmsg.MetadataResponse](t, ctx, seed, req)
		code = resp.Topics[0].ErrorCode
		ok = []int16{0}
		// The all-topics answer lists the topic exactly when it may be
		// described.
		all := aclRequest[*kmsg.MetadataResponse](t, ctx, seed, kmsgMetadataAll())
		listed := slices.ContainsFunc(all.Topics, func(mt kmsg.MetadataResponseTopic) bool { return mt.Topic != nil && *mt.Topic == c.topic })
		if listed != (code == 0) {
			return false, fmt.Sprintf("%s named, but listed=%v among all topics", codeName(code), listed)
		}
	case opProduce:
		req := kmsg.NewPtrProduceRequest()
		req.Acks, req.TimeoutMillis = 1, 30000
		rt := kmsg.NewProduceRequestTopic()
		rt.Topic = c.topic
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Records = encodeBatch(noProducer, [][]byte{[]byte("acl check")})
		rt.Partitions = append(rt.Partitions, rp)
		req.Topics = append(req.Topics, rt)
		resp := aclRequest[*kmsg.ProduceResponse](t, ctx, seed, req)
		code = resp.Topics[0].Partitions[0].ErrorCode
		ok = []int16{0, kerr.NotLeaderForPartition.Code}
	case opConsume:
		req := kmsg.NewPtrFetchRequest()
		req.ReplicaID, req.MaxWaitMillis, req.MinBytes, req.MaxBytes = -1, 0, 1, 1<<20
		req.SessionID, req.SessionEpoch = 0, -1
		ft := kmsg.NewFetchRequestTopic()
		ft.Topic = c.topic
		fp := kmsg.NewFetchRequestTopicPartition()
		fp.PartitionMaxBytes, fp.CurrentLeaderEpoch, fp.LogStartOffset, fp.LastFetchedEpoch = 1<<20, -1, -1, -1
		ft.Partitions = append(ft.Partitions, fp)
		req.Topics = append(req.Topics, ft)
		resp := aclRequest[*kmsg.FetchResponse](t, ctx, seed, req)
		code = resp.ErrorCode
		if code == 0 {
			code = resp.Topics[0].Partitions[0].ErrorCode
		}
		ok = []int16{0, kerr.NotLeaderForPartition.Code}
	case opCommit:
		resp := aclRequest[*kmsg.OffsetCommitResponse](t, ctx, seed, groupsCommitRequest(c.group, -1, "", c.topic, 0, 0))
		code = resp.Topics[0].Partitions[0].ErrorCode
		ok = []int16{0, kerr.NotCoordinator.Code, kerr.CoordinatorLoadInProgress.Code}
	case opCreate:
		resp := aclRequest[*kmsg.CreateTopicsResponse](t, ctx, seed, createTopicsRequest(c.topic, 1, nil))
		code = resp.Topics[0].ErrorCode
		ok = []int16{0, kerr.TopicAlreadyExists.Code}
	case opDelete:
		req := kmsg.NewPtrDeleteTopicsRequest()
		req.TimeoutMillis = 30000
		req.TopicNames = []string{c.topic}
		dt := kmsg.NewDeleteTopicsRequestTopic()
		dt.Topic = kmsg.StringPtr(c.topic)
		req.Topics = append(req.Topics, dt)
		resp := aclRequest[*kmsg.DeleteTopicsResponse](t, ctx, seed, req)
		code = resp.Topics[0].ErrorCode
		ok = []int16{0, kerr.UnknownTopicOrPartition.Code}
	}
	switch {
	case slices.Contains(ok, code):
		return true, codeName(code)
	case slices.Contains(authzCodes, code):
		return false, codeName(code)
	}
	// Neither: never what a check expects.
	return !c.allow, "unexpected " + codeName(code)
}

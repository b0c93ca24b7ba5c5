package metadata

import (
	"fmt"
	"net/url"
	"strconv"

	"github.com/strata-io/strata/auth"
)

// keys builds the etcd keys of the layout in the package doc.
//
// Everything every broker watches lives under cluster/, so that one watch
// on that prefix sees membership, topics, assignments and leaders in
// revision order; the busy per-partition keys (state, manifests) live under
// partitions/, read only by a partition's leader.
type keys struct{ prefix string }

func (k keys) cluster() string        { return k.prefix + "cluster/" }
func (k keys) clusterID() string      { return k.cluster() + "id" }
func (k keys) nextBrokerID() string   { return k.cluster() + "next-broker-id" }
func (k keys) nextProducerID() string { return k.cluster() + "next-producer-id" }

func (k keys) brokers() string          { return k.cluster() + "brokers/" }
func (k keys) broker(id int32) string   { return k.brokers() + strconv.Itoa(int(id)) }
func (k keys) controller() string       { return k.cluster() + "controller/" }
func (k keys) topics() string           { return k.cluster() + "topics/" }
func (k keys) topic(name string) string { return k.topics() + name }
func (k keys) assignments() string      { return k.cluster() + "assignments/" }
func (k keys) assignment(id TopicID) string {
	return k.assignments() + id.String()
}
func (k keys) leaders() string { return k.cluster() + "leaders/" }

// topicLeaders is the prefix of a topic's leader keys.
func (k keys) topicLeaders(id TopicID) string { return k.leaders() + id.String() + "/" }
func (k keys) leader(p PartitionKey) string {
	return k.topicLeaders(p.Topic) + strconv.Itoa(int(p.Partition))
}

// topicPartitions is the prefix of every per-partition key of a topic.
func (k keys) topicPartitions(id TopicID) string {
	return k.prefix + "partitions/" + id.String() + "/"
}

func (k keys) partition(p PartitionKey) string {
	return k.topicPartitions(p.Topic) + strconv.Itoa(int(p.Partition)) + "/"
}

func (k keys) state(p PartitionKey) string    { return k.partition(p) + "state" }
func (k keys) epochs(p PartitionKey) string   { return k.partition(p) + "epochs" }
func (k keys) manifest(p PartitionKey) string { return k.partition(p) + "manifest/" }

// manifestEntry zero-pads the base offset so that key order is offset order.
func (k keys) manifestEntry(p PartitionKey, base int64) string {
	return k.manifest(p) + fmt.Sprintf("%020d", base)
}

// groupShard is the prefix of every key of one coordinator shard's groups.
func (k keys) groupShard(shard int32) string {
	return k.prefix + "groups/" + strconv.Itoa(int(shard)) + "/"
}

// group is a group's key stem (no trailing slash): its keys are stem + "/…".
func (k keys) group(shard int32, group string) string {
	return k.groupShard(shard) + groupKey(group)
}

func (k keys) groupRecord(shard int32, group string) string { return k.group(shard, group) + "/record" }

func (k keys) groupOffset(shard int32, group string, gp GroupPartition) string {
	return k.group(shard, group) + "/offsets/" + gp.Topic + "/" + strconv.Itoa(int(gp.Partition))
}

// groupTxnOffsets is the prefix of the pending transactional offsets of
// every producer in one partition of a group: group stem +
// "/txnoffsets/<topic>/<partition>/", then the producer id.
func (k keys) groupTxnOffsets(shard int32, group string, gp GroupPartition) string {
	return k.group(shard, group) + "/txnoffsets/" + gp.Topic + "/" + strconv.Itoa(int(gp.Partition)) + "/"
}

// groupTxnOffset is one producer's pending transactional offset of one
// partition of a group.
func (k keys) groupTxnOffset(shard int32, group string, gp GroupPartition, producerID int64) string {
	return k.groupTxnOffsets(shard, group, gp) + strconv.FormatInt(producerID, 10)
}

// security is the prefix of what authentication, authorization and quotas
// read. It is not under cluster/: a broker reads it with a watch of its own
// (WatchSecurity), and the View that cluster/ feeds, cloned on every
// change there, stays as small as the cluster's shape.
func (k keys) security() string         { return k.prefix + "security/" }
func (k keys) scramCredentials() string { return k.security() + "scram/" }

// scramUser is the prefix of a user's credentials: the user name
// path-escaped, so that any name makes one key segment.
func (k keys) scramUser(user string) string { return k.scramCredentials() + url.PathEscape(user) + "/" }

func (k keys) scramCredential(user string, m auth.Mechanism) string {
	return k.scramUser(user) + strconv.Itoa(int(m))
}

func (k keys) acls() string { return k.security() + "acls/" }

// acl is a binding's key; seg is the hex SHA-256 of its value (encodeACL).
func (k keys) acl(seg string) string { return k.acls() + seg }
func (k keys) quotas() string        { return k.security() + "quotas/" }

// quota is an entity's key; seg is quotaEntityKey's.
func (k keys) quota(seg string) string { return k.quotas() + seg }

package metadata

import (
	"fmt"
	"strconv"
)

// keys builds the etcd keys of the layout in the package doc.
type keys struct{ prefix string }

func (k keys) clusterID() string      { return k.prefix + "cluster/id" }
func (k keys) nextBrokerID() string   { return k.prefix + "cluster/next-broker-id" }
func (k keys) nextProducerID() string { return k.prefix + "cluster/next-producer-id" }

func (k keys) brokers() string          { return k.prefix + "brokers/" }
func (k keys) broker(id int32) string   { return k.brokers() + strconv.Itoa(int(id)) }
func (k keys) topics() string           { return k.prefix + "topics/" }
func (k keys) topic(name string) string { return k.topics() + name }

// topicPartitions is the prefix of every key of a topic's partitions.
func (k keys) topicPartitions(id TopicID) string {
	return k.prefix + "partitions/" + id.String() + "/"
}

func (k keys) partition(p PartitionKey) string {
	return k.topicPartitions(p.Topic) + strconv.Itoa(int(p.Partition)) + "/"
}

func (k keys) leader(p PartitionKey) string   { return k.partition(p) + "leader" }
func (k keys) state(p PartitionKey) string    { return k.partition(p) + "state" }
func (k keys) manifest(p PartitionKey) string { return k.partition(p) + "manifest/" }

// manifestEntry zero-pads the base offset so that key order is offset order.
func (k keys) manifestEntry(p PartitionKey, base int64) string {
	return k.manifest(p) + fmt.Sprintf("%020d", base)
}

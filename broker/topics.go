package broker

import (
	"regexp"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/partition"
)

// legalTopicName is Kafka's rule for topic names.
var legalTopicName = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// validTopicName reports why name is not a legal Kafka topic name ("" if legal).
func validTopicName(name string) string {
	switch {
	case name == "":
		return "topic name is empty"
	case name == "." || name == "..":
		return "topic name cannot be '.' or '..'"
	case len(name) > 249:
		return "topic name is longer than 249 characters"
	case !legalTopicName.MatchString(name):
		return "topic name " + name + " contains characters other than ASCII alphanumerics, '.', '_' and '-'"
	}
	return ""
}

// topicAccess is a topic that a request names, whose partitions each need
// an operation on it: the topic (nil: unknown) and whether the principal
// may do the operation.
type topicAccess struct {
	t       *partition.Topic
	allowed bool
}

// topicAccess looks a topic that a request names up in the broker's view,
// and whether the principal may do op on it.
func (c *conn) topicAccess(op kmsg.ACLOperation, name string) topicAccess {
	return topicAccess{t: c.srv.topics.Topic(name), allowed: c.allowed(op, kmsg.ACLResourceTypeTopic, name)}
}

// partition returns partition i of the topic, or its error as Kafka
// answers it: TOPIC_AUTHORIZATION_FAILED without the operation (before the
// topic's existence is looked at), UNKNOWN_TOPIC_OR_PARTITION for a topic
// or partition that does not exist.
func (ta topicAccess) partition(i int32) (*partition.Partition, *kerr.Error) {
	p := ta.t.Partition(i)
	switch {
	case !ta.allowed:
		return nil, kerr.TopicAuthorizationFailed
	case p == nil:
		return nil, kerr.UnknownTopicOrPartition
	}
	return p, nil
}

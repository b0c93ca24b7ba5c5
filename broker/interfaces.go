package broker

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/coordinator"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/partition"
)

// partitions is what the front end needs of the partitions this broker
// knows (partition.Manager): the topic cache, the cluster view, topic
// changes in etcd, and the commit signal of long-polling fetches. Lookups
// return nil for what the broker does not know; a Topic is never changed
// once returned.
type partitions interface {
	// Topic, TopicByID and Resolve look a topic up in the cache; Lookup
	// reads etcd on a miss.
	Topic(name string) *partition.Topic
	TopicByID(id metadata.TopicID) *partition.Topic
	Resolve(byID bool, name string, id [16]byte) *partition.Topic
	Lookup(ctx context.Context, name string) (*partition.Topic, error)
	// Topics lists every known topic, by name.
	Topics() []*partition.Topic
	// Install and Remove bring the cache in line with a change this broker
	// made in etcd; UpdateTopic makes one (compare-and-swap, retried).
	Install(mt metadata.Topic) *partition.Topic
	Remove(name string)
	UpdateTopic(ctx context.Context, name string, validateOnly bool, mutate func(*metadata.Topic) error) error
	// View is the latest cluster view and a channel closed at the next
	// change; Leader is a partition's leader in it (this broker counts once
	// the partition is loaded); WaitLeaders waits, bounded, until the
	// partitions of new or grown topics have leaders; WaitRevision until
	// the view has reached an etcd revision (false if ctx ended first).
	View() (*metadata.View, <-chan struct{})
	Leader(v *metadata.View, p *partition.Partition) (metadata.Leader, bool)
	WaitLeaders(ctx context.Context, topics ...*partition.Topic)
	WaitRevision(ctx context.Context, rev int64) bool
	// CommitSignal returns a channel closed at the next commit.
	CommitSignal() <-chan struct{}
}

var _ partitions = (*partition.Manager)(nil)

// groups is what the front end needs of the group coordinator
// (coordinator.Coordinator). WithGroup runs fn under the group's shard lock
// and must not wait there; writes are queued in a handler's ordered part
// (Shard.QueueWrite) and waited for in its wait part (Write.Wait).
type groups interface {
	WithGroup(id string, create bool, fn func(s *coordinator.Shard, g *coordinator.Group)) error
	// Locate returns the shard partition of a group, nil if unknown yet.
	Locate(group string) *partition.Partition
	ListGroups() (groups []coordinator.Listed, loading bool)
	// KIP-848 group configs, read with no lock held
	// (coordinator/consumer_configs.go).
	ConsumerConfig(group string) coordinator.ConsumerConfig
	InvalidateConsumerConfig(group string)

	// KIP-932 share groups: membership on the group's coordinator, the
	// share partitions' states at their leaders (Shares).
	ShareGroupHeartbeat(h coordinator.ShareHeartbeat, resp *kmsg.ShareGroupHeartbeatResponse) error
	DescribeShareGroup(id string) (*coordinator.ShareGroupState, error)
	ShareGroupMembers(id string) (bool, error)
	Shares() *coordinator.Shares
}

var _ groups = (*coordinator.Coordinator)(nil)

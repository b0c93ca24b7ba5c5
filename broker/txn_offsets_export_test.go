package broker

import "context"

// ApplyTxnOffsets ends a producer's transaction in a group on this
// broker's coordinator, as the group's transaction marker does.
func (b *Broker) ApplyTxnOffsets(ctx context.Context, group string, producerID int64, producerEpoch int16, commit bool) error {
	return b.groups.ApplyTxnOffsets(ctx, group, producerID, producerEpoch, commit)
}

// ReloadGroups drops every coordinator shard this broker leads and loads
// them again from etcd, as a new coordinator of them would.
func (b *Broker) ReloadGroups() {
	b.groups.Close()
	b.groups.Sync()
}

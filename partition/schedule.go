package partition

import (
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/tiering"
)

var (
	_ tiering.Led       = (*Partition)(nil)
	_ tiering.Scheduled = (*Manager)(nil)
)

// ScheduledTopics implements tiering.Scheduled: every known topic but the
// internal one (the coordinator shards keep no records), with the policy
// its configs set.
func (m *Manager) ScheduledTopics() []tiering.ScheduledTopic {
	var out []tiering.ScheduledTopic
	for _, t := range m.Topics() {
		if t.Meta.Name == metadata.OffsetsTopic {
			continue
		}
		c := t.Config
		st := tiering.ScheduledTopic{
			Policy: tiering.TopicPolicy{
				Name:    t.Meta.Name,
				Deletes: c.Deletes, RetentionMs: c.RetentionMs, RetentionBytes: c.RetentionBytes,
				Compacts: c.Compacts, DeleteRetentionMs: c.DeleteRetentionMs, MinCompactionLag: c.MinCompactionLag,
				SegmentBytes: c.SegmentBytes, Archive: c.Archive,
			},
			Partitions: make([]tiering.Led, len(t.Parts)),
		}
		for i, p := range t.Parts {
			st.Partitions[i] = p
		}
		out = append(out, st)
	}
	return out
}

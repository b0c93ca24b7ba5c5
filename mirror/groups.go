package mirror

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// syncGroups translates the committed offsets of the selected source
// groups onto the target, as MirrorMaker 2's checkpoints:
//
//   - only offsets the mirror has passed (committed <= its progress), so
//     that the translation is exact and the group on the target skips no
//     record;
//   - only for groups with no active member on the target (a group that
//     has moved there owns its offsets);
//   - never backwards: an offset already committed on the target at or
//     past the translation stays.
func (m *Mirror) syncGroups(ctx context.Context) error {
	m.mu.Lock()
	topics := make([]string, 0, len(m.ready))
	for t := range m.ready {
		topics = append(topics, t)
	}
	m.mu.Unlock()
	pos, err := progress(ctx, &m.cfg, m.names, m.srcAdm, m.tgtAdm, topics)
	if err != nil {
		return err
	}
	listed, err := m.srcAdm.ListGroups(ctx)
	if err != nil {
		return fmt.Errorf("list source groups: %w", err)
	}
	var errs []error
	for _, g := range listed.Groups() {
		if g == m.cfg.Name || !m.groups.MatchString(g) {
			continue
		}
		if err := m.syncGroup(ctx, g, pos); err != nil {
			errs = append(errs, fmt.Errorf("group %s: %w", g, err))
		}
	}
	return errors.Join(errs...)
}

func (m *Mirror) syncGroup(ctx context.Context, group string, pos map[TopicPartition]int64) error {
	srcOffs, err := m.srcAdm.FetchOffsets(ctx, group)
	if err != nil {
		return err
	}
	want := make(kadm.Offsets)
	srcOffs.Each(func(o kadm.OffsetResponse) {
		tp := TopicPartition{o.Topic, o.Partition}
		if o.Err != nil || o.At < 0 || !m.names.match(o.Topic) {
			return
		}
		if p, ok := pos[tp]; !ok || o.At > p {
			return // not mirrored that far yet
		}
		t, ok := m.offsets.Translate(tp, o.At)
		if !ok {
			return
		}
		want.Add(kadm.Offset{Topic: m.names.target(o.Topic), Partition: o.Partition, At: t, LeaderEpoch: -1, Metadata: o.Metadata})
	})
	if len(want) == 0 {
		return nil
	}
	described, err := m.tgtAdm.DescribeGroups(ctx, group)
	if err != nil {
		return err
	}
	if d, ok := described[group]; ok && d.Err == nil && len(d.Members) > 0 {
		m.log.Debug("mirror: group active on the target, not synchronised", "group", group, "state", d.State)
		return nil
	} else if ok && d.Err != nil && !errors.Is(d.Err, kerr.GroupIDNotFound) {
		return d.Err
	}
	cur, err := m.tgtAdm.FetchOffsets(ctx, group)
	if err != nil && !errors.Is(err, kerr.GroupIDNotFound) {
		return err
	}
	commit := make(kadm.Offsets)
	want.Each(func(o kadm.Offset) {
		if c, ok := cur.Lookup(o.Topic, o.Partition); ok && c.Err == nil && c.At >= o.At {
			return
		}
		commit.Add(o)
	})
	if len(commit) == 0 {
		return nil
	}
	resp, err := m.tgtAdm.CommitOffsets(ctx, group, commit)
	if err != nil {
		return err
	}
	if err := resp.Error(); err != nil {
		return err
	}
	n := 0
	commit.Each(func(kadm.Offset) { n++ })
	m.metrics.groupCommits.Add(float64(n))
	m.log.Info("mirror: committed translated group offsets on the target", "group", group, "partitions", n)
	return nil
}

package broker

// DescribeLogDirs: v0-v4.
//
// One log dir per broker, its data directory (the WAL's), listing each
// partition this broker leads (of the named topics and partitions, or all
// for null topics): its size is the bytes of its committed ranges in the
// object store (its manifest entries at or above the log start) plus the
// bytes appended and not yet committed (in the WAL, waiting for upload). A
// partition led by another broker is listed by that broker, as Kafka lists
// a replica only on the brokers that hold it. is_future is false and the
// offset lag 0 (there are no followers). v4 reports the data directory's
// file system's total and usable bytes. Needs DESCRIBE on the cluster
// (CLUSTER_AUTHORIZATION_FAILED: v3+ at the top, before with no dirs).

import (
	"context"
	"slices"
	"strings"
	"syscall"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/partition"
)

func handleDescribeLogDirs(_ context.Context, c *conn, req *kmsg.DescribeLogDirsRequest, resp *kmsg.DescribeLogDirsResponse) {
	b := c.srv
	if !c.allowedOnCluster(kmsg.ACLOperationDescribe) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return
	}
	dir := kmsg.NewDescribeLogDirsResponseDir()
	dir.Dir = b.cfg.DataDir
	dir.TotalBytes, dir.UsableBytes = -1, -1
	var st syscall.Statfs_t
	if err := syscall.Statfs(b.cfg.DataDir, &st); err == nil {
		dir.TotalBytes = int64(st.Blocks) * int64(st.Bsize)
		dir.UsableBytes = int64(st.Bavail) * int64(st.Bsize)
	}

	var topics []*partition.Topic
	wanted := map[string][]int32{}
	if req.Topics == nil {
		topics = b.topics.Topics()
	}
	for _, rt := range req.Topics {
		if t := b.topics.Topic(rt.Topic); t != nil {
			if _, dup := wanted[rt.Topic]; !dup {
				topics = append(topics, t)
			}
			wanted[rt.Topic] = append(wanted[rt.Topic], rt.Partitions...)
		}
	}
	slices.SortFunc(topics, func(x, y *partition.Topic) int { return strings.Compare(x.Meta.Name, y.Meta.Name) })
	for _, t := range topics {
		dt := kmsg.NewDescribeLogDirsResponseDirTopic()
		dt.Topic = t.Meta.Name
		parts := wanted[t.Meta.Name]
		if req.Topics == nil {
			for i := range t.Meta.Partitions {
				parts = append(parts, i)
			}
		}
		for _, i := range parts {
			p := t.Partition(i)
			if p == nil {
				continue
			}
			bucket, pending, led := p.Size()
			if !led {
				continue
			}
			dp := kmsg.NewDescribeLogDirsResponseDirTopicPartition()
			dp.Partition, dp.Size = i, bucket+pending
			dt.Partitions = append(dt.Partitions, dp)
		}
		if len(dt.Partitions) > 0 {
			dir.Topics = append(dir.Topics, dt)
		}
	}
	resp.Dirs = append(resp.Dirs, dir)
}

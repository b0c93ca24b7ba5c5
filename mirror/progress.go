package mirror

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// lagLoop measures the lag of the partitions this instance copies every
// second, and prints the progress line every ProgressInterval.
func (m *Mirror) lagLoop(ctx context.Context) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastLine := time.Now()
	var lastRecords, lastBytes float64
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		m.mu.Lock()
		topicSet := make(map[string]bool)
		for tp := range m.parts {
			topicSet[tp.Topic] = true
		}
		m.mu.Unlock()
		if len(topicSet) == 0 {
			continue
		}
		topics := make([]string, 0, len(topicSet))
		for t := range topicSet {
			topics = append(topics, t)
		}
		ends, err := m.srcAdm.ListCommittedOffsets(ctx, topics...)
		if err != nil {
			if ctx.Err() == nil {
				m.errorf("lag", err)
			}
			continue
		}
		now := time.Now()
		var total int64
		var maxSec float64
		var parts, stopped int
		m.mu.Lock()
		for tp, st := range m.parts {
			end, ok := ends.Lookup(tp.Topic, tp.Partition)
			if !ok || end.Err != nil {
				continue
			}
			lag := max(end.Offset-st.next, 0)
			var sec float64
			if lag == 0 {
				st.caughtUp = now
			} else {
				sec = now.Sub(st.caughtUp).Seconds()
				if !st.lastTS.IsZero() {
					sec = min(sec, max(now.Sub(st.lastTS).Seconds(), 0))
				}
			}
			st.lag = lag
			m.metrics.setLag(tp, lag, sec)
			total += lag
			maxSec = max(maxSec, sec)
			parts++
			if st.stopped != "" {
				stopped++
			}
		}
		m.mu.Unlock()
		if m.opts.Progress == nil || m.cfg.ProgressInterval <= 0 || now.Sub(lastLine) < m.cfg.ProgressInterval {
			continue
		}
		records, bytes := sumCounter(m.metrics.records), sumCounter(m.metrics.bytes)
		el := now.Sub(lastLine).Seconds()
		line := fmt.Sprintf("mirror: %.0f records copied, %.0f records/s, %.2f MB/s; %d partitions, lag %d records, max %.1fs; %.0f errors",
			records, (records-lastRecords)/el, (bytes-lastBytes)/el/1e6, parts, total, maxSec, sumCounter(m.metrics.errors))
		if stopped > 0 {
			line += fmt.Sprintf("; %d partitions stopped (see the log)", stopped)
		}
		fmt.Fprintln(m.opts.Progress, line)
		lastLine, lastRecords, lastBytes = now, records, bytes
	}
}

// Progress is the mirror's position in each source partition, read from
// the clusters: the source group's committed offsets, with exactly-once
// the mirror's group on the target, with preserve-offsets the target
// partitions' ends; the furthest of those known.
func progress(ctx context.Context, cfg *Config, names topicNames, srcAdm, tgtAdm *kadm.Client, topics []string) (map[TopicPartition]int64, error) {
	out := make(map[TopicPartition]int64)
	note := func(tp TopicPartition, at int64) {
		if cur, ok := out[tp]; !ok || at > cur {
			out[tp] = at
		}
	}
	want := make(map[string]bool)
	for _, t := range topics {
		want[t] = true
	}
	src, err := srcAdm.FetchOffsets(ctx, cfg.Name)
	if err != nil {
		return nil, fmt.Errorf("the mirror's group on the source: %w", err)
	}
	src.Each(func(o kadm.OffsetResponse) {
		if o.Err == nil && o.At >= 0 && want[o.Topic] {
			note(TopicPartition{o.Topic, o.Partition}, o.At)
		}
	})
	fromTarget := func(topic string) (string, bool) {
		s, ok := strings.CutPrefix(topic, names.prefix)
		return s, ok && want[s]
	}
	if cfg.ExactlyOnce {
		tgt, err := tgtAdm.FetchOffsets(ctx, cfg.Name)
		if err != nil {
			return nil, fmt.Errorf("the mirror's group on the target: %w", err)
		}
		tgt.Each(func(o kadm.OffsetResponse) {
			if s, ok := fromTarget(o.Topic); ok && o.Err == nil && o.At >= 0 {
				note(TopicPartition{s, o.Partition}, o.At)
			}
		})
	}
	if cfg.PreserveOffsets && len(topics) > 0 {
		targets := make([]string, len(topics))
		for i, t := range topics {
			targets[i] = names.target(t)
		}
		ends, err := tgtAdm.ListEndOffsets(ctx, targets...)
		if err != nil {
			return nil, fmt.Errorf("target end offsets: %w", err)
		}
		ends.Each(func(o kadm.ListedOffset) {
			if s, ok := fromTarget(o.Topic); ok && o.Err == nil {
				note(TopicPartition{s, o.Partition}, o.Offset)
			}
		})
	}
	return out, nil
}

// PartitionStatus is one row of Status.
type PartitionStatus struct {
	Topic       string // source topic
	Partition   int32
	TargetTopic string
	SourceStart int64 // log start
	SourceEnd   int64 // last stable offset
	Mirrored    int64 // the mirror's position (-1: none yet)
	Lag         int64 // records between the position (or the log start) and the end
	TargetEnd   int64 // -1: no target partition
}

// Status reads the mirror's state from both clusters: for every matched
// source partition its ends, the mirror's position and the lag.
func Status(ctx context.Context, cfg Config, opts Options) ([]PartitionStatus, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	names, err := newTopicNames(&cfg)
	if err != nil {
		return nil, err
	}
	srcCl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(splitAddrs(cfg.SourceBootstrap)...)}, opts.SourceOpts...)...)
	if err != nil {
		return nil, err
	}
	defer srcCl.Close()
	tgtCl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(splitAddrs(cfg.TargetBootstrap)...)}, opts.TargetOpts...)...)
	if err != nil {
		return nil, err
	}
	defer tgtCl.Close()
	srcAdm, tgtAdm := kadm.NewClient(srcCl), kadm.NewClient(tgtCl)
	tds, err := srcAdm.ListTopics(ctx)
	if err != nil {
		return nil, fmt.Errorf("list source topics: %w", err)
	}
	var topics, targets []string
	for _, td := range tds.Sorted() {
		if td.Err == nil && names.match(td.Topic) {
			topics = append(topics, td.Topic)
			targets = append(targets, names.target(td.Topic))
		}
	}
	if len(topics) == 0 {
		return nil, nil
	}
	starts, err := srcAdm.ListStartOffsets(ctx, topics...)
	if err != nil {
		return nil, err
	}
	ends, err := srcAdm.ListCommittedOffsets(ctx, topics...)
	if err != nil {
		return nil, err
	}
	tends, err := tgtAdm.ListEndOffsets(ctx, targets...)
	if err != nil {
		return nil, err
	}
	pos, err := progress(ctx, &cfg, names, srcAdm, tgtAdm, topics)
	if err != nil {
		return nil, err
	}
	var rows []PartitionStatus
	ends.Each(func(o kadm.ListedOffset) {
		tp := TopicPartition{o.Topic, o.Partition}
		r := PartitionStatus{Topic: o.Topic, Partition: o.Partition, TargetTopic: names.target(o.Topic),
			SourceStart: -1, SourceEnd: o.Offset, Mirrored: -1, TargetEnd: -1}
		if s, ok := starts.Lookup(o.Topic, o.Partition); ok && s.Err == nil {
			r.SourceStart = s.Offset
		}
		if t, ok := tends.Lookup(r.TargetTopic, o.Partition); ok && t.Err == nil {
			r.TargetEnd = t.Offset
		}
		from := r.SourceStart
		if at, ok := pos[tp]; ok {
			r.Mirrored, from = at, max(at, r.SourceStart)
		}
		r.Lag = max(r.SourceEnd-from, 0)
		rows = append(rows, r)
	})
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].Topic != rows[j].Topic {
			return rows[i].Topic < rows[j].Topic
		}
		return rows[i].Partition < rows[j].Partition
	})
	return rows, nil
}

// WriteStatus prints Status's rows as a table, and the total lag.
func WriteStatus(w io.Writer, rows []PartitionStatus) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tTARGET TOPIC\tSOURCE START\tSOURCE END\tMIRRORED\tLAG\tTARGET END\t")
	var total int64
	for _, r := range rows {
		mirrored := "-"
		if r.Mirrored >= 0 {
			mirrored = fmt.Sprint(r.Mirrored)
		}
		tend := "-"
		if r.TargetEnd >= 0 {
			tend = fmt.Sprint(r.TargetEnd)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%d\t%s\t%d\t%s\t\n", r.Topic, r.Partition, r.TargetTopic, r.SourceStart, r.SourceEnd, mirrored, r.Lag, tend)
		total += r.Lag
	}
	tw.Flush()
	fmt.Fprintf(w, "%d partitions, total lag %d records\n", len(rows), total)
}

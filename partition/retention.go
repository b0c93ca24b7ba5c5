package partition

// What retention, DeleteRecords and compaction (tiering schedules, the
// front end) read of a partition and install in it once committed.

import "github.com/strata-io/strata/metadata"

// Expired returns what retention drops of the partition: the base offsets
// of the manifest entries to delete and the log start after them (none
// when nothing expired or the partition is not led).
func (p *Partition) Expired(now, retentionMs, retentionBytes int64) (epoch, logStart int64, drop []int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.epoch == 0 {
		return 0, 0, nil
	}
	es := p.manifest
	i := 0
	for i < len(es) && es[i].LastOffset < p.logStart { // below the log start already (DeleteRecords)
		i++
	}
	for retentionMs >= 0 && i < len(es) && es[i].MaxTimestamp < now-retentionMs {
		i++
	}
	if retentionBytes >= 0 {
		var size int64
		for _, e := range es[i:] {
			size += e.Size
		}
		for i < len(es) && size-es[i].Size >= retentionBytes {
			size -= es[i].Size
			i++
		}
	}
	if i == 0 {
		return 0, 0, nil
	}
	for _, e := range es[:i] {
		drop = append(drop, e.BaseOffset)
	}
	return p.epoch, max(p.logStart, es[i-1].LastOffset+1), drop
}

// Below returns the base offsets of the manifest entries wholly below
// offset, and the leadership's epoch (0: not led).
func (p *Partition) Below(offset int64) (epoch int64, drop []int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, e := range p.manifest {
		if e.LastOffset >= offset {
			break
		}
		drop = append(drop, e.BaseOffset)
	}
	return p.epoch, drop
}

// Truncated installs a log start committed under epoch: the manifest
// entries wholly below it are gone.
func (p *Partition) Truncated(epoch, logStart int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if epoch != p.epoch || logStart <= p.logStart {
		return
	}
	p.logStart = logStart
	i := 0
	for i < len(p.manifest) && p.manifest[i].LastOffset < logStart {
		i++
	}
	p.manifest = append([]metadata.ManifestEntry(nil), p.manifest[i:]...)
	p.notify()
}

// CommittedManifest returns the leadership's epoch (0: not led) and a copy
// of the manifest entries at or above the log start.
func (p *Partition) CommittedManifest() (int64, []metadata.ManifestEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []metadata.ManifestEntry
	for _, e := range p.manifest {
		if e.LastOffset >= p.logStart {
			out = append(out, e)
		}
	}
	return p.epoch, out
}

// Replaced installs a compaction committed under epoch: the entries of run
// become entry, and the tail window forgets the batches it covers (they are
// committed, so the window only cached them).
func (p *Partition) Replaced(epoch int64, run []metadata.ManifestEntry, entry metadata.ManifestEntry) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if epoch != p.epoch {
		return
	}
	for i, e := range p.manifest {
		if e.BaseOffset != run[0].BaseOffset {
			continue
		}
		j := i
		for j < len(p.manifest) && p.manifest[j].LastOffset <= entry.LastOffset {
			j++
		}
		p.manifest = append(append(append([]metadata.ManifestEntry(nil), p.manifest[:i]...), entry), p.manifest[j:]...)
		break
	}
	// The tail window may still hold the replaced batches as they were
	// before log compaction: reads of those offsets go to the new entry.
	drop := 0
	for drop < len(p.mem) && p.mem[drop].last <= entry.LastOffset {
		p.memBytes -= len(p.mem[drop].data)
		drop++
	}
	if drop > 0 {
		p.mem = append([]memBatch(nil), p.mem[drop:]...)
	}
}

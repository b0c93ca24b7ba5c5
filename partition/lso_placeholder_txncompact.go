package partition

// LastStableOffset returns the partition's last stable offset.
//
// Placeholder of branch txn-compact, so that *Partition is a tiering.Led:
// the transaction log work (branch txn-log) defines the real one, and this
// file goes at the merge. Without transactions the last stable offset is
// the high watermark.
func (p *Partition) LastStableOffset() int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hwm
}

package coordinator

// Transaction version 2 (KIP-890 part 2): a producer's transaction takes
// a partition when the partition's leader appends the producer's first
// transactional batch of a Produce v12+ (and a group when its coordinator
// takes a TxnOffsetCommit v5+), with no AddPartitionsToTxn or
// AddOffsetsToTxn from the client.
//
// The leader and the group coordinator are often not the transaction
// coordinator, and brokers talk only through etcd. So the one that adds
// changes the transactional id's record itself: it reads the record and
// writes the record with the partition or group added (and, when no
// transaction was ongoing, Ongoing from now on: the transaction and its
// timeout begin) in an etcd transaction that compares the record's
// ModRevision with the one it read (metadata.Store.UpdateTxn), reading
// again on a conflict. The transaction coordinator's own writes compare
// the ModRevision too: one that finds the record changed reads it again
// and answers CONCURRENT_TRANSACTIONS (the client retries), and the
// coordinator follows its shards' records (metadata.Store.WatchTxns), so a
// transaction a leader began is timed out and ended from the record as it
// stands. A leader that is the transaction coordinator itself adds through
// its own records (Txns.update), which keeps them current at once.
//
// A producer of version 2 begins its next transaction as soon as EndTxn
// v5 answers, which is when the end is decided (PrepareCommit or
// PrepareAbort), not when its markers are written: its first Produce then
// finds the previous transaction still ending. Answering
// CONCURRENT_TRANSACTIONS there costs a lot: franz-go retries a produce
// that gets it after a metadata refresh, which it makes at most every
// MetadataMinAge (5 s), and the Java client after its retry backoff. So,
// as Kafka's leader retries its additions (KAFKA-18654), AddImplicit waits
// while the previous transaction ends, reading the record again after a
// short backoff, for at most half the time its context has left (the
// caller keeps the rest: a produce waits for its acks with it).

import (
	"context"
	"errors"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/metadata"
)

const (
	// addTries is how many times an implicit addition reads and writes a
	// record that keeps changing under it before it answers
	// CONCURRENT_TRANSACTIONS.
	addTries = 5
	// addRetryBackoff is the first wait of an implicit addition that
	// found the previous transaction ending (CONCURRENT_TRANSACTIONS)
	// before it tries again; it doubles up to addRetryMaxBackoff. Kafka's
	// is 20 ms (add.partitions.to.txn.retry.backoff.ms), fixed: its
	// markers take milliseconds, Strata's a seal interval.
	addRetryBackoff    = 10 * time.Millisecond
	addRetryMaxBackoff = 50 * time.Millisecond
)

// AddImplicit adds parts and groups to the ongoing transaction of txnID
// under producer id pid and epoch, beginning one when none is ongoing
// (transaction version 2): nil, or the transaction coordinator's error
// (INVALID_PRODUCER_ID_MAPPING, PRODUCER_FENCED, CONCURRENT_TRANSACTIONS
// while the previous transaction ends or the record keeps changing,
// INVALID_TXN_STATE for a dead id), or COORDINATOR_NOT_AVAILABLE when
// etcd did not answer or the offsets topic is unknown. The caller maps
// them for its request.
//
// While the answer is CONCURRENT_TRANSACTIONS it tries again, after
// addRetryBackoff and then longer waits, for at most half the time ctx
// has left (not at all without a deadline), and then answers it.
func (t *Txns) AddImplicit(ctx context.Context, txnID string, pid int64, epoch int16, parts []metadata.TxnPartition, groups []string) error {
	var stop time.Time // zero: answer the first CONCURRENT_TRANSACTIONS
	if dl, ok := ctx.Deadline(); ok {
		stop = time.Now().Add(time.Until(dl) / 2)
	}
	backoff := addRetryBackoff
	for {
		err := t.addImplicit(ctx, txnID, pid, epoch, parts, groups)
		if t.onAddTry != nil {
			t.onAddTry(err)
		}
		if err != kerr.ConcurrentTransactions || time.Now().Add(backoff).After(stop) {
			return err
		}
		timer := time.NewTimer(backoff)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return err
		}
		backoff = min(2*backoff, addRetryMaxBackoff)
	}
}

// addImplicit is one try of AddImplicit.
func (t *Txns) addImplicit(ctx context.Context, txnID string, pid int64, epoch int16, parts []metadata.TxnPartition, groups []string) error {
	plan := func(now int64) func(cur *metadata.TxnMetadata) (*txnStep, error) {
		return func(cur *metadata.TxnMetadata) (*txnStep, error) {
			return stepAdd(cur, pid, epoch, parts, groups, now, 2)
		}
	}
	if _, err := t.shardFor(txnID); err == nil {
		// This broker coordinates the id.
		if err := t.refresh(ctx, txnID); err != nil {
			return err
		}
		_, err := t.update(ctx, txnID, plan(t.nowMs()))
		return err
	}
	sl, err := t.locate(txnID)
	if err != nil {
		return err
	}
	err = t.store.UpdateTxn(ctx, sl.key.Partition, txnID, addTries, func(cur *metadata.LoadedTxn) (*metadata.TxnMetadata, error) {
		if cur == nil {
			return nil, kerr.InvalidProducerIDMapping
		}
		st, err := plan(t.nowMs())(&cur.Meta)
		if st == nil || err != nil {
			return nil, err
		}
		return &st.next, nil
	})
	var ke *kerr.Error
	switch {
	case err == nil, errors.As(err, &ke):
		return err
	case errors.Is(err, metadata.ErrTxnChanged):
		return kerr.ConcurrentTransactions
	}
	t.log.Debug("add to transaction", "transactional_id", txnID, "error", err)
	return kerr.CoordinatorNotAvailable
}

package metadata

import (
	"errors"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/strata-io/strata/internal/metric"
)

// TxnLimits are an etcd server's limits on one transaction, within which
// CommitSegments packs a seal's commits: MaxOps is etcd's --max-txn-ops
// (the most compares, success ops or failure ops, each counted apart) and
// MaxRequestBytes its --max-request-bytes.
type TxnLimits struct {
	MaxOps          int
	MaxRequestBytes int
}

var (
	// DefaultTxnLimits are etcd's defaults: a stock etcd accepts these.
	DefaultTxnLimits = TxnLimits{MaxOps: 128, MaxRequestBytes: 1536 << 10}
	// LargeTxnLimits are what StartEmbedded configures and what a Store
	// assumes until etcd refuses them: a seal's commits over some 900
	// partitions fit one transaction (about 485 bytes each, 375 once
	// manifest entries are written compact; maxCommitTxnBytes bounds a
	// transaction below MaxRequestBytes; see docs/operations.md). 8 MiB,
	// for one partition's commit of many producers' states, stays under
	// the 10 MiB that etcd recommends as the most for --max-request-bytes.
	LargeTxnLimits = TxnLimits{MaxOps: 1 << 16, MaxRequestBytes: 8 << 20}
)

// Valid says whether l can bound a transaction of one commit (the
// smallest CommitSegments makes: three ops).
func (l TxnLimits) Valid() bool { return l.MaxOps >= 3 && l.MaxRequestBytes >= 64<<10 }

// commitsPerTxn is how many partitions' commits a transaction within l
// takes by count: each puts two keys (the success ops), compares one.
func (l TxnLimits) commitsPerTxn() int { return l.MaxOps / opsPerCommit }

// txnBytes is the budget of a transaction's request within l: a 32nd is
// left for the envelope of the request and of etcd's raft entry, which
// the estimate of each commit (pendingCommit.bytes, itself above the
// protobuf size) does not count; and never more than maxCommitTxnBytes.
func (l TxnLimits) txnBytes() int {
	return min(l.MaxRequestBytes-l.MaxRequestBytes/32, maxCommitTxnBytes)
}

// maxCommitTxnBytes bounds one commit transaction however large etcd's
// limits are. etcd applies a transaction at once, and renews a lease only
// once what it has committed is applied (waiting at most a second): a
// broker's commits must never queue more than a fraction of a second of
// work in etcd. Measured on a single etcd on 2 CPUs, a transaction of
// 1,000 partitions' commits (about 500 KiB) applies in about 0.08 s, one
// of 4,000 in 1.1 s and one of 8,000 in 2.2 s, other requests waiting up
// to 1.5 s behind it. Three brokers sealing 33,000 partitions each in
// 8 MiB transactions, four in flight, kept etcd's apply queue longer than
// a 5 s session TTL, and every broker lost its lease over and over. In
// transactions of 512 KiB, one at a time (commitTxnsInFly), a seal over
// 10,000 partitions takes ten transactions and the queue stays short.
const maxCommitTxnBytes = 512 << 10

// txnLimiter holds the limits a Store packs within. They start at what the
// Store was configured with (by default LargeTxnLimits); the first
// transaction etcd refuses for its number of ops or its size lowers the
// limit concerned to etcd's default for the Store's life, and the
// commits of that transaction go again in smaller ones. A broker against
// a stock etcd so pays one refused request once, not one per seal.
type txnLimiter struct {
	mu      sync.Mutex
	limits  TxnLimits
	lowered bool
}

func (t *txnLimiter) get() TxnLimits {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.limits
}

// lower sets the limit that err (a refused transaction sent within used)
// names to etcd's default if it is above it, and reports whether a retry
// within the new limits can succeed, with the limits as they now are.
func (t *txnLimiter) lower(used TxnLimits, err error) (TxnLimits, bool) {
	ops, size := txnTooManyOps(err), txnTooLarge(err)
	t.mu.Lock()
	defer t.mu.Unlock()
	changed := false
	if ops && t.limits.MaxOps > DefaultTxnLimits.MaxOps {
		t.limits.MaxOps, changed = DefaultTxnLimits.MaxOps, true
	}
	if size && t.limits.MaxRequestBytes > DefaultTxnLimits.MaxRequestBytes {
		t.limits.MaxRequestBytes, changed = DefaultTxnLimits.MaxRequestBytes, true
	}
	if changed {
		t.lowered = true
	}
	// Another transaction may have lowered them already since used was read.
	return t.limits, (ops && t.limits.MaxOps < used.MaxOps) || (size && t.limits.MaxRequestBytes < used.MaxRequestBytes)
}

// txnTooManyOps: etcd refused a transaction for its number of ops.
func txnTooManyOps(err error) bool {
	return errors.Is(rpctypes.Error(err), rpctypes.ErrTooManyOps)
}

// txnTooLarge: etcd (its raft layer, or its gRPC server's message limit,
// which is --max-request-bytes plus 512 KiB) or the client's own send
// limit refused a transaction for its size.
func txnTooLarge(err error) bool {
	if errors.Is(rpctypes.Error(err), rpctypes.ErrRequestTooLarge) {
		return true
	}
	// gRPC's "received message larger than max" and "trying to send
	// message larger than max" (code ResourceExhausted, as etcd's "database
	// space exceeded", which is not this).
	return strings.Contains(rpctypes.ErrorDesc(err), "message larger than max")
}

// commitMetrics count CommitSegments' work: how many etcd transactions a
// call (one seal's commits) takes is what etcd's write rate follows.
type commitMetrics struct {
	calls     prometheus.Counter
	commits   prometheus.Counter
	txns      prometheus.Counter
	txnsPer   prometheus.Histogram
	refused   prometheus.Counter
	txnCommit prometheus.Histogram
}

func newCommitMetrics(reg prometheus.Registerer) *commitMetrics {
	return &commitMetrics{
		calls: metric.Counter(reg, "strata_metadata_commit_calls_total",
			"Calls of CommitSegments: one per sealed segment's commits (more when some are retried)."),
		commits: metric.Counter(reg, "strata_metadata_commits_total",
			"Partition commits (manifest entry and state) passed to CommitSegments."),
		txns: metric.Counter(reg, "strata_metadata_commit_transactions_total",
			"etcd transactions CommitSegments sent, refused and retried ones included."),
		txnsPer: metric.Histogram(reg, "strata_metadata_commit_transactions_per_call",
			"etcd transactions of one CommitSegments call (one seal's commits).",
			prometheus.ExponentialBuckets(1, 2, 10)),
		refused: metric.Counter(reg, "strata_metadata_commit_transactions_refused_total",
			"Commit transactions etcd refused for their number of ops or size: the broker then uses etcd's default limits (set etcd's --max-txn-ops and --max-request-bytes as docs/operations.md says)."),
		txnCommit: metric.Histogram(reg, "strata_metadata_commit_partitions_per_transaction",
			"Partition commits in one etcd transaction of CommitSegments.",
			prometheus.ExponentialBuckets(1, 4, 10)),
	}
}

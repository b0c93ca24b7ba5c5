package broker

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/strata-io/strata/acl"
	"github.com/strata-io/strata/coordinator"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/quota"
	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/wal"
)

// server is the Kafka front end: what the listener, the connections and the
// handlers work with. It holds the partitions and the group coordinator
// through the interfaces the front end defines (interfaces.go), and no
// pointer to the Broker that built it.
type server struct {
	cfg     Config
	log     *slog.Logger
	metrics *metrics
	ctx     context.Context // cancelled by Close after the graceful part

	id        int32
	clusterID string

	topics partitions
	groups groups
	txns   *coordinator.Txns  // the transaction coordinator
	store  *metadata.Store    // topics, producer ids
	wal    *wal.WAL           // produce appends, WAL room
	reader *tiering.Reader    // fetch reads below the memory window
	sched  *tiering.Schedules // DeleteRecords truncates through it
	prodID producerIDs

	// Who may connect and do what (security.go): the SASL mechanisms
	// offered, the authorizer (nil when off: everything is allowed) and the
	// watched credentials, ACLs and quotas.
	mechanisms []string
	authz      *acl.Authorizer
	security   atomic.Pointer[metadata.Security]
	secMu      sync.Mutex
	secChanged chan struct{} // closed when security changes; guarded by secMu
	quotas     *quota.Manager

	ready     atomic.Bool
	closingCh chan struct{} // closed when shutdown starts: stops produces, wakes long polls

	listeners []*listener // the first is the one registered in etcd
	connWG    sync.WaitGroup
	connMu    sync.Mutex
	conns     map[*conn]struct{}
	front     frontEnd // connection limits and accounting (listener.go)
}

// isClosing reports whether shutdown has started.
func (b *server) isClosing() bool {
	select {
	case <-b.closingCh:
		return true
	default:
		return false
	}
}

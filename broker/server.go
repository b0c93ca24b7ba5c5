package broker

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/strata-io/strata/metadata"
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
	advAddr   string

	topics partitions
	groups groups
	store  *metadata.Store    // topics, producer ids
	wal    *wal.WAL           // produce appends, WAL room
	reader *tiering.Reader    // fetch reads below the memory window
	sched  *tiering.Schedules // DeleteRecords truncates through it
	prodID producerIDs

	ready     atomic.Bool
	closingCh chan struct{} // closed when shutdown starts: stops produces, wakes long polls

	ln     net.Listener
	connWG sync.WaitGroup
	connMu sync.Mutex
	conns  map[*conn]struct{}
	front  frontEnd // connection limits and accounting (listener.go)
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

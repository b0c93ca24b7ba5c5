package broker

// API CONTRACT (stub by the lead; replaced by the real broker).

import "context"

// Broker is one running Strata broker.
type Broker struct{}

// Start validates cfg, locks the data directory, connects to (or starts) etcd
// and the object store, recovers the WAL and starts serving. It fails with a
// one-line reason when anything is unreachable or the directory is locked.
func Start(ctx context.Context, cfg Config) (*Broker, error) { panic("stub") }

// Addr is the Kafka listener's address.
func (b *Broker) Addr() string { panic("stub") }

// Ready reports whether the broker serves requests (for /readyz).
func (b *Broker) Ready() bool { panic("stub") }

// Close shuts down gracefully: stop accepting, seal, upload and commit what is
// open, resign leaderships, stop. Safe twice.
func (b *Broker) Close() error { panic("stub") }

// Package loadgen is the load generator of `strata loadgen`: it runs a
// Workload of franz-go producers and consumer groups against any
// Kafka-compatible cluster (or an in-process kfake cluster), measures
// throughput and latency, optionally verifies every record (Verifier), and
// reports the result as result.json, text, HTML and SVG charts.
//
// A run goes through its phases in order: setup (topics, and in the tail
// scenario the consumer groups' first assignment, within
// Options.SetupTimeout), warmup and measure (producing until the duration
// or the record count), flush (the last acknowledgements), drain or
// catch-up (the consumers reading up to the end offsets). The drain timeout
// runs from the end of producing and covers the flush and the consumers.
//
// A run always ends by its deadline: warm-up + duration + drain timeout +
// Options.Grace after Run is called, whatever the cluster does. Every wait
// of the run (producing into a full buffer, Flush, PollFetches, the end
// offsets, the drain, leaving the groups) takes the run's context, and
// every client is made with it (kgo.WithContext); at the deadline the
// context ends, the waits return, the clients are closed at once, and Run
// returns what was measured with Result.CutShort set.
//
// Goroutines: Run's own goroutine owns the runner's phases and closes
// every client; one goroutine per producer and per consumer member, and the
// interval ticker, are started by run and stopped by it or by close before
// Run returns. Counters are atomic; a group's offsets are guarded by its
// mutex, which is never held while waiting on a client.
package loadgen

package loadgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ResultVersion is the version of result.json's format. Fields are only
// ever added; a change to the meaning of one bumps the version.
const ResultVersion = 1

// Result is what a run measured: result.json. Its field names are stable
// and documented in docs/loadgen.md. Throughputs are in records/s and in MB/s
// of 10^6 bytes of record keys and values; latencies in milliseconds.
type Result struct {
	Version   int       `json:"version"`
	Label     string    `json:"label"`
	Bootstrap string    `json:"bootstrap"`
	Started   time.Time `json:"started"`
	Host      Host      `json:"host"`
	Workload  Workload  `json:"workload"`
	// MeasuredSeconds is the produce phase after the warm-up: from its
	// start to the last acknowledgement.
	MeasuredSeconds float64        `json:"measured_s"`
	Produce         ProduceResult  `json:"produce"`
	Consume         *ConsumeResult `json:"consume,omitempty"`
	Intervals       []Interval     `json:"intervals"`
	Verify          *VerifyReport  `json:"verify,omitempty"`
	// CutShort is whether the run's deadline (warm-up + duration + drain
	// timeout + grace) passed before the run ended, as it does when a
	// cluster stops answering: the figures are what was measured until
	// then, and Error says when it passed.
	CutShort bool `json:"cut_short,omitempty"`
	// Error is why the run ended early, if it did.
	Error string `json:"error,omitempty"`
}

// Host is the machine the load generator ran on.
type Host struct {
	CPUs int    `json:"cpus"`
	OS   string `json:"os"`
	Arch string `json:"arch"`
	Go   string `json:"go"`
}

// ProduceResult is the producers' side, over the measured time: records
// sent after the warm-up and acknowledged.
type ProduceResult struct {
	Records       int64   `json:"records"`
	Bytes         int64   `json:"bytes"`
	RecordsPerSec float64 `json:"records_per_s"`
	MBPerSec      float64 `json:"mb_per_s"`
	// Errors counts records whose produce failed, warm-up included;
	// FirstError is the first of them.
	Errors     int64  `json:"errors"`
	FirstError string `json:"first_error,omitempty"`
	// Latency is from the time a record was due to be sent (the pace of
	// --rate, or the call to produce at full speed) to its acknowledgement.
	Latency Latency `json:"latency"`
}

// ConsumeResult is the consumers' side. In the tail scenario it counts the
// records sent after the warm-up, over the time from the end of the warm-up
// to the last of them consumed; in catch-up, every record of the run, over
// the time from the consumers' start to the last record consumed
// (CatchUpSeconds). Every consumer group reads every record, so Records is
// summed over the groups.
type ConsumeResult struct {
	Records        int64   `json:"records"`
	Bytes          int64   `json:"bytes"`
	RecordsPerSec  float64 `json:"records_per_s"`
	MBPerSec       float64 `json:"mb_per_s"`
	Seconds        float64 `json:"seconds"`
	CatchUpSeconds float64 `json:"catch_up_s,omitempty"`
	// Drained is whether every group read up to the end offsets that the
	// topics had when producing ended, within --drain-timeout.
	Drained bool  `json:"drained"`
	Errors  int64 `json:"errors"`
	// Latency is end to end: from the send time in the record's header to
	// its delivery to a consumer. In catch-up it is the backlog's age.
	Latency Latency `json:"e2e_latency"`
}

// Interval is one interval of the run (--interval, 1 s by default), warm-up
// and drain included. Its latencies are of the records acknowledged or
// consumed in it.
type Interval struct {
	// Seconds is the interval's end, in seconds from the start of producing.
	Seconds float64 `json:"t_s"`
	// Phase is what the run was doing at the interval's end: warmup,
	// measure, flush, drain or catch-up.
	Phase           string  `json:"phase"`
	ProduceRecords  int64   `json:"produce_records"`
	ProduceRate     float64 `json:"produce_records_per_s"`
	ProduceMBPerSec float64 `json:"produce_mb_per_s"`
	ProduceLatency  Latency `json:"produce_latency"`
	ConsumeRecords  int64   `json:"consume_records"`
	ConsumeRate     float64 `json:"consume_records_per_s"`
	ConsumeMBPerSec float64 `json:"consume_mb_per_s"`
	E2ELatency      Latency `json:"e2e_latency"`
	Errors          int64   `json:"errors"`
}

// Failed reports whether verification found a fault.
func (r *Result) Failed() bool { return r.Verify != nil && !r.Verify.OK }

// WriteFile writes r as indented JSON.
func (r *Result) WriteFile(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// ReadResult reads a result.json, or the result.json in a directory.
func ReadResult(path string) (*Result, error) {
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		path = filepath.Join(path, "result.json")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Version == 0 {
		return nil, fmt.Errorf("%s: %w", path, errNotResult)
	}
	if r.Version > ResultVersion {
		return nil, fmt.Errorf("%s: result version %d is newer than this tool's (%d)", path, r.Version, ResultVersion)
	}
	return &r, nil
}

var errNotResult = errors.New("loadgen: not a loadgen result (no version)")

// Ceilings is what a benchmark measured of the machine's raw limits
// (ceilings.json of BenchmarkLoadgen, read by tools/benchdoc).
type Ceilings struct {
	Measured time.Time `json:"measured"`
	CPUs     int       `json:"cpus"`
	Ceilings []Ceiling `json:"ceilings"`
}

// Ceiling is one raw figure of the machine.
type Ceiling struct {
	Name  string  `json:"name"`
	What  string  `json:"what"`
	Value float64 `json:"value"`
	Unit  string  `json:"unit"`
}

// Package e2e runs real Kafka clients against real `strata serve` processes,
// with embedded or external etcd and a filesystem or MinIO object store.
package e2e

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/testenv"
)

// strataBin is the binary built once by TestMain.
var strataBin string

func TestMain(m *testing.M) {
	if cfg := os.Getenv(groupMemberEnv); cfg != "" {
		// A consumer-group member that TestGroupClients started
		// (groups_member_test.go): no tests, no broker build.
		os.Exit(groupMemberMain(cfg))
	}
	testenv.RunWithStrata(m, &strataBin)
}

// Options choose a broker's dependencies. The zero value is the single-node
// default: embedded etcd and a filesystem object store in the data dir.
type Options struct {
	DataDir       string   // default: a new temporary directory
	EtcdEndpoints string   // default: embedded
	ObjectStore   string   // default: file://<data-dir>/objects
	Args          []string // extra flags
	Env           []string // extra environment
}

// Strata is a running `strata serve` process.
type Strata struct {
	t        testing.TB
	opts     Options
	Addr     string // Kafka listener
	HTTPAddr string // metrics, health
	proc     *testenv.Process
}

// StartStrata starts a broker and waits until /readyz answers.
func StartStrata(t testing.TB, opts Options) *Strata {
	t.Helper()
	if opts.DataDir == "" {
		opts.DataDir = filepath.Join(t.TempDir(), "data")
	}
	s := &Strata{t: t, opts: opts}
	s.Addr = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	s.HTTPAddr = "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	s.start()
	return s
}

func (s *Strata) start() {
	s.t.Helper()
	args := []string{"serve", "--data-dir", s.opts.DataDir, "--listen", s.Addr,
		"--http-listen", s.HTTPAddr, "--seal-interval", "50ms", "--log-level", "debug"}
	if s.opts.EtcdEndpoints != "" {
		args = append(args, "--etcd-endpoints", s.opts.EtcdEndpoints)
	}
	if s.opts.ObjectStore != "" {
		args = append(args, "--object-store", s.opts.ObjectStore)
	}
	args = append(args, s.opts.Args...)
	s.proc = testenv.Start(s.t, "strata "+s.Addr, s.opts.Env, strataBin, args...)
	testenv.WaitHTTP(s.t, "http://"+s.HTTPAddr+"/readyz", 60*time.Second)
}

// Kill sends SIGKILL and waits for the process to die.
func (s *Strata) Kill() {
	s.t.Helper()
	s.proc.Kill(s.t)
}

// Stop sends SIGTERM (graceful shutdown) and waits; it returns the exit code.
func (s *Strata) Stop() int {
	s.t.Helper()
	_ = syscall.Kill(s.proc.Cmd.Process.Pid, syscall.SIGTERM)
	s.wait()
	return s.proc.Cmd.ProcessState.ExitCode()
}

// Pause freezes the broker with SIGSTOP (to its process group, as Kill): it
// keeps its sockets and memory but does nothing, like a long GC pause or a
// frozen VM, until Resume.
func (s *Strata) Pause() {
	s.t.Helper()
	if err := s.proc.Signal(syscall.SIGSTOP); err != nil {
		s.t.Fatalf("SIGSTOP strata %s: %v", s.Addr, err)
	}
}

// Resume sends SIGCONT to a paused broker.
func (s *Strata) Resume() {
	s.t.Helper()
	if err := s.proc.Signal(syscall.SIGCONT); err != nil {
		s.t.Fatalf("SIGCONT strata %s: %v", s.Addr, err)
	}
}

// Exited reports whether the process has exited, and if so its exit code
// (-1 if a signal ended it).
func (s *Strata) Exited() (code int, exited bool) {
	if !s.proc.Exited() {
		return 0, false
	}
	return s.proc.Cmd.ProcessState.ExitCode(), true
}

func (s *Strata) wait() {
	s.t.Helper()
	select {
	case <-s.proc.Done:
	case <-time.After(60 * time.Second):
		s.t.Fatalf("strata %s did not exit", s.Addr)
	}
}

// Restart starts the broker again with the same options and addresses.
func (s *Strata) Restart() {
	s.t.Helper()
	s.start()
}

// Output is everything the process logged.
func (s *Strata) Output() string { return s.proc.Output() }

// DataDir is the broker's data directory.
func (s *Strata) DataDir() string { return s.opts.DataDir }

// Client returns a franz-go client on the broker, closed at the end of the test.
func (s *Strata) Client(opts ...kgo.Opt) *kgo.Client {
	s.t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(s.Addr)}, opts...)...)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(cl.Close)
	return cl
}

// Dial opens a raw TCP connection to the Kafka listener.
func (s *Strata) Dial() net.Conn {
	s.t.Helper()
	c, err := net.DialTimeout("tcp", s.Addr, 5*time.Second)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	return c
}

// brokerAddrs lists the brokers' Kafka addresses, in order.
func brokerAddrs(brokers []*Strata) []string {
	var out []string
	for _, s := range brokers {
		out = append(out, s.Addr)
	}
	return out
}

// logElapsed logs a line that starts with the seconds since start.
func logElapsed(t *testing.T, start time.Time, format string, args ...any) {
	t.Helper()
	t.Logf("[%5.1fs] %s", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
}

// clusterClientOpts are the options of a franz-go client of a cluster:
// seeded with every broker, refreshing metadata at most every 500ms
// (franz-go's default is 5s) so that what a test measures is the brokers
// rather than the client's throttle, logging to log.
func clusterClientOpts(addrs []string, log io.Writer) []kgo.Opt {
	return []kgo.Opt{
		kgo.SeedBrokers(addrs...),
		kgo.MetadataMinAge(500 * time.Millisecond),
		kgo.WithLogger(kgo.BasicLogger(log, kgo.LogLevelInfo, nil)),
	}
}

// brokerSet is what the runs of the multi-broker tests share: the test, its
// start (the clock of logf), the brokers and the log of their clients.
type brokerSet struct {
	t         *testing.T
	start     time.Time
	brokers   []*Strata
	clientLog *ringLog
}

// logf logs a line that starts with the seconds since the run started.
func (b *brokerSet) logf(format string, args ...any) {
	b.t.Helper()
	logElapsed(b.t, b.start, format, args...)
}

func (b *brokerSet) addrs() []string { return brokerAddrs(b.brokers) }

// client is a franz-go client with clusterClientOpts and then opts; the
// caller closes it.
func (b *brokerSet) client(opts ...kgo.Opt) *kgo.Client {
	b.t.Helper()
	cl, err := kgo.NewClient(append(clusterClientOpts(b.addrs(), b.clientLog), opts...)...)
	if err != nil {
		b.t.Fatal(err)
	}
	return cl
}

// hostPort is the host:port a broker is reached at, as Metadata lists it.
func hostPort(host string, port int32) string {
	return net.JoinHostPort(host, strconv.Itoa(int(port)))
}

// testContext is a context bounded for one test step.
func testContext(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// createTopicsRequest asks for one topic with the default replication factor.
func createTopicsRequest(topic string, partitions int32, configs map[string]string) *kmsg.CreateTopicsRequest {
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, partitions, -1
	for name, value := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = name, kmsg.StringPtr(value)
		ct.Configs = append(ct.Configs, c)
	}
	req.Topics = append(req.Topics, ct)
	return req
}

// groupsCommitRequest commits offset for one partition (leader epoch -1:
// unchecked); generation -1 and no member id make a simple consumer's
// commit.
func groupsCommitRequest(group string, generation int32, memberID, topic string, partition int32, offset int64) *kmsg.OffsetCommitRequest {
	req := kmsg.NewPtrOffsetCommitRequest()
	req.Group, req.Generation, req.MemberID = group, generation, memberID
	rt := kmsg.NewOffsetCommitRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewOffsetCommitRequestTopicPartition()
	rp.Partition, rp.Offset = partition, offset
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// listOffsetsRequest asks for the offset of one partition at timestamp
// (-1: the end), as a client does (replica -1, leader epoch -1: unchecked).
func listOffsetsRequest(topic string, partition int32, timestamp int64) *kmsg.ListOffsetsRequest {
	req := kmsg.NewPtrListOffsetsRequest()
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = partition, timestamp
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	return req
}

// metricValue is the value of an unlabelled metric on the broker's /metrics.
func metricValue(tb testing.TB, s *Strata, name string) float64 {
	tb.Helper()
	resp, err := http.Get("http://" + s.HTTPAddr + "/metrics")
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				tb.Fatalf("metric %s: %q: %v", name, v, err)
			}
			return f
		}
	}
	tb.Fatalf("no metric %s on /metrics", name)
	return 0
}

// Package testenv starts the real servers that integration tests need — etcd
// and MinIO built by the Makefile into the repository's .tools folder — on
// free 127.0.0.1 ports, and stops them when the test ends.
//
// A test that cannot find a tool fails when CI is set and skips (saying what
// to run) otherwise; it never skips silently in CI.
package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// MinIO credentials used by StartMinIO.
const (
	MinIOUser     = "strata-test"
	MinIOPassword = "strata-test-secret"
)

// Require returns the path of an executable, failing the test in CI and
// skipping it elsewhere when it is missing. Names without a slash are looked
// up in the repository's .tools folder first, then on PATH.
func Require(t testing.TB, name, hint string) string {
	t.Helper()
	if p := filepath.Join(RepoRoot(t), ".tools", name); fileExists(p) {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	msg := fmt.Sprintf("%s not found (%s)", name, hint)
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}

var (
	rootOnce sync.Once
	root     string
)

// RepoRoot is the directory holding go.mod.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := findRoot()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// findRoot looks for go.mod from the working directory up, once.
func findRoot() (string, error) {
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		if err != nil {
			return
		}
		for {
			if fileExists(filepath.Join(dir, "go.mod")) {
				root = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return
			}
			dir = parent
		}
	})
	if root == "" {
		return "", errors.New("testenv: go.mod not found above the working directory")
	}
	return root, nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}

// FreePort returns a TCP port on 127.0.0.1 that is free now and that this
// process has not returned before. It is taken below the kernel's ephemeral
// range, so that the outgoing connections of a busy test (which take their
// local ports from that range) cannot occupy it before the server binds it;
// a port from the ephemeral range (":0") could, and did.
func FreePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	lo, hi := portRange()
	for range 1000 {
		port := lo + rand.IntN(hi-lo)
		if portsGiven[port] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		l.Close()
		portsGiven[port] = true
		return port
	}
	t.Fatalf("free port: none free in [%d, %d) after 1000 tries", lo, hi)
	return 0
}

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// portRange is where FreePort looks: from 10000 up to the start of the
// ephemeral range (Linux's default starts at 32768).
func portRange() (lo, hi int) {
	lo, hi = 10000, 32768
	raw, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	var first, last int
	if _, err := fmt.Sscan(string(raw), &first, &last); err == nil && first > lo+1000 {
		hi = first
	}
	return lo, hi
}

// Process is a server started by a test.
type Process struct {
	Cmd   *exec.Cmd
	Log   *bytes.Buffer   // combined output, for failure messages
	Done  <-chan struct{} // closed once the process has exited and Cmd.ProcessState is set
	mu    sync.Mutex
	label string
}

// Start runs name with args and env, stopping it (SIGTERM, then SIGKILL) when
// the test ends. Its output is kept in Log and printed if the test fails.
func Start(t testing.TB, label string, env []string, name string, args ...string) *Process {
	t.Helper()
	p := startProcess(t, label, env, name, args...)
	t.Cleanup(func() { p.stop(t) })
	return p
}

// startProcess is Start without the cleanup: the caller arranges for stop.
// Servers that tests restart (MinIO, etcd members) stop all their runs in
// one cleanup registered when they were first started, so that they stop
// after what was started after them and depends on them.
func startProcess(t testing.TB, label string, env []string, name string, args ...string) *Process {
	t.Helper()
	p := &Process{Log: &bytes.Buffer{}, label: label}
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	w := &lockedWriter{p: p}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", label, err)
	}
	p.Cmd = cmd
	done := make(chan struct{})
	p.Done = done
	go func() { _ = cmd.Wait(); close(done) }()
	return p
}

// stop ends the process, if it still runs, with SIGTERM (and SIGCONT, should
// a test have paused it), then SIGKILL after 10 s; it prints the output if
// the test failed.
func (p *Process) stop(t testing.TB) {
	if !p.Exited() { // a test may have killed it already; its pid may be reused
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGTERM)
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGCONT)
	}
	if !p.WaitExit(10 * time.Second) {
		_ = syscall.Kill(-p.Cmd.Process.Pid, syscall.SIGKILL)
		<-p.Done
	}
	if t.Failed() {
		t.Logf("--- %s output ---\n%s", p.label, p.Output())
	}
}

// Signal sends sig to the process's group: the server and anything it
// started. It does nothing once the process has exited.
func (p *Process) Signal(sig syscall.Signal) error {
	if p.Exited() {
		return nil
	}
	return syscall.Kill(-p.Cmd.Process.Pid, sig)
}

// Kill sends SIGKILL to the process's group, as a crash rather than a
// shutdown, and waits for the exit; the test fails if it does not come.
func (p *Process) Kill(t testing.TB) {
	t.Helper()
	_ = p.Signal(syscall.SIGKILL)
	if !p.WaitExit(30 * time.Second) {
		t.Fatalf("%s did not exit after SIGKILL", p.label)
	}
}

// Exited reports whether the process has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.Done:
		return true
	default:
		return false
	}
}

// WaitExit waits up to within for the process to exit and reports whether it
// did.
func (p *Process) WaitExit(within time.Duration) bool {
	select {
	case <-p.Done:
		return true
	case <-time.After(within):
		return false
	}
}

// Output is what the process printed so far.
func (p *Process) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.Log.String()
}

type lockedWriter struct{ p *Process }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	return w.p.Log.Write(b)
}

// WaitHTTP polls url until it answers 200 or the deadline passes.
func WaitHTTP(t testing.TB, url string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s did not answer 200 within %s", url, within)
}

// Etcd is a real etcd server.
type Etcd struct {
	*Process
	Endpoint string // http://127.0.0.1:PORT
	// Metrics is the base URL of its plain HTTP metrics port: /metrics
	// counts its requests by method (grpc_server_handled_total).
	Metrics string
}

// EtcdMaxTxnOps and EtcdMaxRequestBytes are the transaction limits of every
// etcd the test environment starts: those of the embedded etcd
// (metadata.LargeTxnLimits), so that a broker's seal commits in one
// transaction against either.
const (
	EtcdMaxTxnOps       = 1 << 16
	EtcdMaxRequestBytes = 8 << 20
)

// EtcdTxnFlags are the etcd flags that set EtcdMaxTxnOps and EtcdMaxRequestBytes.
func EtcdTxnFlags() []string {
	return []string{"--max-txn-ops", strconv.Itoa(EtcdMaxTxnOps), "--max-request-bytes", strconv.Itoa(EtcdMaxRequestBytes)}
}

// StartEtcd starts a single-member etcd in a temporary directory.
func StartEtcd(t testing.TB) *Etcd {
	t.Helper()
	return startEtcd(t, "http")
}

// StartEtcdWith starts a single-member etcd as StartEtcd does, with extra
// flags after the others (a flag given again takes its last value, so
// "--max-txn-ops", "128" restores etcd's default).
func StartEtcdWith(t testing.TB, extra ...string) *Etcd {
	t.Helper()
	return startEtcd(t, "http", extra...)
}

// StartEtcdTLS starts a single-member etcd whose client port serves TLS
// with certFile and keyFile and requires a client certificate from the CAs
// of caFile (etcd's --client-cert-auth). Endpoint is its https:// URL.
func StartEtcdTLS(t testing.TB, caFile, certFile, keyFile string) *Etcd {
	t.Helper()
	return startEtcd(t, "https", "--cert-file", certFile, "--key-file", keyFile,
		"--client-cert-auth", "--trusted-ca-file", caFile)
}

// startEtcd starts a single-member etcd serving clients over scheme, with
// extra flags. Readiness is read from its plain HTTP metrics port, which
// needs no client certificate.
func startEtcd(t testing.TB, scheme string, extra ...string) *Etcd {
	t.Helper()
	bin := Require(t, "etcd", "run `make tools`")
	dir := t.TempDir()
	cu := scheme + "://127.0.0.1:" + strconv.Itoa(FreePort(t))
	pu := "http://127.0.0.1:" + strconv.Itoa(FreePort(t))
	mu := "http://127.0.0.1:" + strconv.Itoa(FreePort(t))
	p := Start(t, "etcd", nil, bin, append([]string{
		"--name", "test", "--data-dir", filepath.Join(dir, "etcd"),
		"--listen-client-urls", cu, "--advertise-client-urls", cu,
		"--listen-peer-urls", pu, "--initial-advertise-peer-urls", pu,
		"--listen-metrics-urls", mu,
		"--initial-cluster", "test=" + pu, "--log-level", "warn"}, append(EtcdTxnFlags(), extra...)...)...)
	WaitHTTP(t, mu+"/health", 30*time.Second)
	return &Etcd{Process: p, Endpoint: cu, Metrics: mu}
}

// MinIO is a real MinIO server.
type MinIO struct {
	*Process
	Endpoint string // 127.0.0.1:PORT

	bin, dir, console string     // to start it again as it was
	runs              []*Process // this one and the ones before, stopped when the test ends
}

// StartMinIO starts a MinIO server on a temporary directory, with the
// credentials MinIOUser/MinIOPassword, and sets AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY for the test so minio-go's default chain finds them.
func StartMinIO(t testing.TB) *MinIO {
	t.Helper()
	m := &MinIO{
		bin:      Require(t, "minio", "run `make tools`"),
		dir:      t.TempDir(),
		Endpoint: "127.0.0.1:" + strconv.Itoa(FreePort(t)),
		console:  "127.0.0.1:" + strconv.Itoa(FreePort(t)),
	}
	t.Cleanup(func() {
		for _, p := range m.runs {
			p.stop(t)
		}
	})
	m.start(t)
	t.Setenv("AWS_ACCESS_KEY_ID", MinIOUser)
	t.Setenv("AWS_SECRET_ACCESS_KEY", MinIOPassword)
	return m
}

func (m *MinIO) start(t testing.TB) {
	t.Helper()
	m.Process = startProcess(t, "minio "+m.Endpoint, []string{
		"MINIO_ROOT_USER=" + MinIOUser, "MINIO_ROOT_PASSWORD=" + MinIOPassword,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off",
	}, m.bin, "server", "--quiet", "--address", m.Endpoint, "--console-address", m.console, m.dir)
	m.runs = append(m.runs, m.Process)
	WaitHTTP(t, "http://"+m.Endpoint+"/minio/health/live", 60*time.Second)
}

// Restart starts a killed MinIO again on the same address and data
// directory, so what it stored before is there, and waits until it is live.
// (Another process could take the port while MinIO is down; on a test
// machine that is unlikely.)
func (m *MinIO) Restart(t testing.TB) {
	t.Helper()
	if !m.Exited() {
		t.Fatalf("minio %s restarted while running", m.Endpoint)
	}
	m.start(t)
}

// S3URL is a --object-store URL for bucket on this MinIO.
func (m *MinIO) S3URL(bucket string) string {
	return "s3://" + bucket + "?endpoint=" + m.Endpoint + "&insecure=true&region=us-east-1"
}

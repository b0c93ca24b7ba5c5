package testenv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// EtcdCluster is a real multi-member etcd cluster on 127.0.0.1, each member
// a process of its own with its own data directory, so that a test can kill
// and restart members (the leader among them) one at a time. Every member
// stops when the test ends, after what the test started after the cluster.
type EtcdCluster struct {
	t       testing.TB
	bin     string
	token   string // --initial-cluster-token, unique per cluster
	initial string // --initial-cluster: name=peer-url,...
	members []*etcdMember
}

type etcdMember struct {
	name, dir          string
	clientURL, peerURL string
	proc               *Process   // the current run
	runs               []*Process // this one and the ones before
}

// StartEtcdCluster starts an n-member etcd cluster and waits until every
// member is healthy. Keys are compacted after a minute (brokers rewrite
// theirs often). The members stop when the test ends.
func StartEtcdCluster(t testing.TB, n int) *EtcdCluster {
	t.Helper()
	if n < 1 {
		t.Fatalf("etcd cluster of %d members", n)
	}
	c := &EtcdCluster{t: t, bin: Require(t, "etcd", "run `make tools`"), token: "strata-test-" + randomHex(6)}
	dir := t.TempDir()
	var initial []string
	for i := range n {
		m := &etcdMember{
			name:      "m" + strconv.Itoa(i),
			dir:       filepath.Join(dir, "m"+strconv.Itoa(i)),
			clientURL: "http://127.0.0.1:" + strconv.Itoa(FreePort(t)),
			peerURL:   "http://127.0.0.1:" + strconv.Itoa(FreePort(t)),
		}
		c.members = append(c.members, m)
		initial = append(initial, m.name+"="+m.peerURL)
	}
	c.initial = strings.Join(initial, ",")
	t.Cleanup(func() {
		for _, m := range c.members {
			for _, p := range m.runs {
				p.stop(t)
			}
		}
	})
	// All at once: no member is healthy before a quorum has started.
	for _, m := range c.members {
		c.start(m, "new")
	}
	for _, m := range c.members {
		WaitHTTP(t, m.clientURL+"/health", 60*time.Second)
	}
	return c
}

func (c *EtcdCluster) start(m *etcdMember, state string) {
	c.t.Helper()
	m.proc = startProcess(c.t, "etcd "+m.name, nil, c.bin, append([]string{
		"--name", m.name, "--data-dir", m.dir,
		"--listen-client-urls", m.clientURL, "--advertise-client-urls", m.clientURL,
		"--listen-peer-urls", m.peerURL, "--initial-advertise-peer-urls", m.peerURL,
		"--initial-cluster", c.initial, "--initial-cluster-token", c.token,
		"--initial-cluster-state", state,
		"--auto-compaction-mode", "periodic", "--auto-compaction-retention", "1m",
		"--log-level", "warn"}, EtcdTxnFlags()...)...)
	m.runs = append(m.runs, m.proc)
}

// Len is the number of members.
func (c *EtcdCluster) Len() int { return len(c.members) }

// Endpoints is the members' client URLs, comma-separated, as
// --etcd-endpoints takes them.
func (c *EtcdCluster) Endpoints() string {
	urls := make([]string, len(c.members))
	for i, m := range c.members {
		urls[i] = m.clientURL
	}
	return strings.Join(urls, ",")
}

// Endpoint is member i's client URL.
func (c *EtcdCluster) Endpoint(i int) string { return c.members[i].clientURL }

// Leader asks the running members for their status and returns the index of
// the one that is the raft leader. It fails while an election is under way.
func (c *EtcdCluster) Leader(ctx context.Context) (int, error) {
	var errs []string
	for i, m := range c.members {
		if m.proc.Exited() {
			continue
		}
		st, err := memberStatus(ctx, m.clientURL)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%s: %v", m.name, err))
			continue
		}
		if st.Leader != 0 && st.Leader == st.Header.MemberID {
			return i, nil
		}
	}
	if len(errs) > 0 {
		return -1, fmt.Errorf("no etcd member says it leads (%s)", strings.Join(errs, "; "))
	}
	return -1, fmt.Errorf("no etcd member says it leads")
}

// etcdStatus is the part of etcd's Maintenance.Status answer that Leader
// uses, as the gRPC gateway encodes it (64-bit integers as strings).
type etcdStatus struct {
	Header struct {
		MemberID uint64 `json:"member_id,string"`
	} `json:"header"`
	Leader uint64 `json:"leader,string"`
}

func memberStatus(ctx context.Context, clientURL string) (etcdStatus, error) {
	var st etcdStatus
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, clientURL+"/v3/maintenance/status", strings.NewReader("{}"))
	if err != nil {
		return st, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return st, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("status: HTTP %d", resp.StatusCode)
	}
	err = json.NewDecoder(resp.Body).Decode(&st)
	return st, err
}

// Kill sends SIGKILL to member i and waits for it to exit.
func (c *EtcdCluster) Kill(i int) {
	c.t.Helper()
	c.members[i].proc.Kill(c.t)
}

// Restart starts a killed member i again on its data directory and ports,
// as a member of the existing cluster, and waits until it is healthy.
func (c *EtcdCluster) Restart(i int) {
	c.t.Helper()
	m := c.members[i]
	if !m.proc.Exited() {
		c.t.Fatalf("etcd %s restarted while running", m.name)
	}
	c.start(m, "existing")
	WaitHTTP(c.t, m.clientURL+"/health", 60*time.Second)
}

// Output is what member i printed since it last started.
func (c *EtcdCluster) Output(i int) string { return c.members[i].proc.Output() }

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

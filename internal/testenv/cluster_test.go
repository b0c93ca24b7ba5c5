package testenv

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// TestEtcdClusterLeaderKill: a 3-member cluster elects a new leader when its
// leader is killed, keeps what was written, and takes the member back.
func TestEtcdClusterLeaderKill(t *testing.T) {
	c := StartEtcdCluster(t, 3)
	if n := len(strings.Split(c.Endpoints(), ",")); n != 3 {
		t.Fatalf("Endpoints() = %q: %d URLs, want 3", c.Endpoints(), n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	leader := waitLeader(t, ctx, c)
	etcdPut(t, ctx, c.Endpoint(leader), "k", "v1")

	c.Kill(leader)
	next := waitLeader(t, ctx, c)
	if next == leader {
		t.Fatalf("member %d still reported as leader after SIGKILL", leader)
	}
	etcdPut(t, ctx, c.Endpoint(next), "k", "v2")

	c.Restart(leader)
	// The restarted member catches up with what was written without it.
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := etcdGet(ctx, c.Endpoint(leader), "k")
		if err == nil && v == "v2" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted member: k = %q, %v; want v2", v, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestMinIORestart: a stopped MinIO refuses connections; restarted, it is on
// the same address with the same objects.
func TestMinIORestart(t *testing.T) {
	m := StartMinIO(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cl, err := minio.New(m.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(MinIOUser, MinIOPassword, "")})
	if err != nil {
		t.Fatal(err)
	}
	if err := cl.MakeBucket(ctx, "bucket", minio.MakeBucketOptions{}); err != nil {
		t.Fatal(err)
	}
	want := []byte("kept across restarts")
	if _, err := cl.PutObject(ctx, "bucket", "o", bytes.NewReader(want), int64(len(want)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}

	m.Kill(t)
	if resp, err := http.Get("http://" + m.Endpoint + "/minio/health/live"); err == nil {
		resp.Body.Close()
		t.Fatalf("stopped MinIO answered HTTP %d", resp.StatusCode)
	}

	m.Restart(t)
	obj, err := cl.GetObject(ctx, "bucket", "o", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("after restart: %q, %v; want %q", got, err, want)
	}
}

func waitLeader(t *testing.T, ctx context.Context, c *EtcdCluster) int {
	t.Helper()
	for {
		i, err := c.Leader(ctx)
		if err == nil {
			return i
		}
		if ctx.Err() != nil {
			t.Fatalf("no leader: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// etcdPut and etcdGet use etcd's JSON gateway, whose keys and values are
// base64.
func etcdPut(t *testing.T, ctx context.Context, endpoint, key, value string) {
	t.Helper()
	if _, err := etcdCall(ctx, endpoint, "/v3/kv/put", map[string]string{"key": b64(key), "value": b64(value)}); err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
}

func etcdGet(ctx context.Context, endpoint, key string) (string, error) {
	body, err := etcdCall(ctx, endpoint, "/v3/kv/range", map[string]string{"key": b64(key)})
	if err != nil {
		return "", err
	}
	var resp struct {
		KVs []struct {
			Value string `json:"value"`
		} `json:"kvs"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		return "", err
	}
	if len(resp.KVs) != 1 {
		return "", fmt.Errorf("%d values", len(resp.KVs))
	}
	v, err := base64.StdEncoding.DecodeString(resp.KVs[0].Value)
	return string(v), err
}

func etcdCall(ctx context.Context, endpoint, path string, body any) ([]byte, error) {
	b, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+path, bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("HTTP %d: %s", resp.StatusCode, out)
	}
	return out, err
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

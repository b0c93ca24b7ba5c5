package objectstore

import (
	"context"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testenv"
)

func openS3(t *testing.T, url string) Bucket {
	t.Helper()
	b, err := Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open(%q): %v", url, err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// withPrefix turns s3://BUCKET?... into s3://BUCKET/PREFIX?...
func withPrefix(url, prefix string) string {
	i := strings.IndexByte(url, '?')
	return url[:i] + "/" + prefix + url[i:]
}

// TestS3 runs against a real MinIO, reached through Open so that URL parsing
// and bucket creation are covered too.
func TestS3(t *testing.T) {
	m := testenv.StartMinIO(t)

	t.Run("Acceptance", func(t *testing.T) {
		AcceptanceTest(t, openS3(t, m.S3URL("strata-acceptance")))
	})

	t.Run("Prefix", func(t *testing.T) {
		url := m.S3URL("strata-shared")
		AcceptanceTest(t, openS3(t, withPrefix(url, "cluster-a")))
		// Seen without the prefix, every object is under it.
		whole := openS3(t, url)
		names := listAll(t, t.Context(), whole, "")
		if len(names) == 0 {
			t.Fatal("nothing in the bucket")
		}
		for _, n := range names {
			if !strings.HasPrefix(n, "cluster-a/") {
				t.Fatalf("object %q outside the prefix", n)
			}
		}
		// And another prefix sees none of them.
		if got := listAll(t, t.Context(), openS3(t, withPrefix(url, "cluster-b")), ""); len(got) != 0 {
			t.Fatalf("cluster-b sees %q", got)
		}
	})

	t.Run("ConcurrentCreate", func(t *testing.T) {
		// Racing creators of one bucket all succeed (BucketAlreadyOwnedByYou
		// is not an error), and so does opening an existing bucket.
		url := m.S3URL("strata-race")
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				b, err := Open(t.Context(), url)
				if err != nil {
					t.Errorf("Open: %v", err)
					return
				}
				b.Close()
			})
		}
		wg.Wait()
		openS3(t, url)
	})

	t.Run("BadCredentials", func(t *testing.T) {
		t.Setenv("AWS_SECRET_ACCESS_KEY", "wrong-secret")
		_, err := Open(t.Context(), m.S3URL("strata-badcreds"))
		if err == nil || !strings.Contains(err.Error(), "credentials") {
			t.Fatalf("Open with a wrong secret: error = %v, want one about credentials", err)
		}
	})

	t.Run("InstrumentedFaulty", func(t *testing.T) {
		// The wrappers stack on a real bucket as on Mem.
		f := NewFaulty(Instrument(openS3(t, m.S3URL("strata-wrapped")), nil))
		AcceptanceTest(t, f)
	})
}

// TestOpenUnreachable: nothing listens on the endpoint, so Open must give up
// within its bounded check and name the endpoint.
func TestOpenUnreachable(t *testing.T) {
	// Credentials from the environment keep the chain from asking an
	// instance-metadata service.
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "y")
	endpoint := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	start := time.Now()
	b, err := Open(context.Background(), "s3://strata?endpoint="+endpoint+"&insecure=true&region=us-east-1")
	if err == nil {
		b.Close()
		t.Fatal("Open of an unreachable endpoint succeeded")
	}
	if !strings.Contains(err.Error(), endpoint) {
		t.Fatalf("error %q does not name the endpoint %s", err, endpoint)
	}
	t.Logf("failed after %s: %v", time.Since(start).Round(time.Millisecond), err)
}

// TestNewS3Timeout: the endpoint accepts connections but never answers, so
// only the check's deadline ends NewS3.
func TestNewS3Timeout(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "y")
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	})
	defer func() {
		l.Close()
		wg.Wait()
		for _, c := range conns {
			c.Close()
		}
	}()

	endpoint := l.Addr().String()
	b, err := NewS3(t.Context(), S3Config{
		Bucket: "strata", Endpoint: endpoint, Insecure: true, Region: "us-east-1",
		CheckTimeout: 200 * time.Millisecond,
	})
	if err == nil {
		b.Close()
		t.Fatal("NewS3 of a silent endpoint succeeded")
	}
	for _, want := range []string{endpoint, "not reachable within 200ms"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not mention %q", err, want)
		}
	}
}

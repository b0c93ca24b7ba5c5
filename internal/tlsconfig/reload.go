package tlsconfig

import (
	"crypto/sha256"
	"crypto/tls"
	"encoding/binary"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// CheckInterval is the least time between two checks of a watched file set
// made by handshakes.
const CheckInterval = time.Second

// Reloader holds a certificate and key loaded from files and reloads them
// when the files change (see the package doc). Its methods are safe for
// concurrent use.
type Reloader struct {
	w *watched[tls.Certificate]
}

// NewReloader loads the certificate (PEM, leaf first) in certFile and the
// private key in keyFile. It fails, naming both files, when either cannot be
// read or parsed or when the key is not the certificate's. log receives
// reload warnings and notices; nil discards them.
func NewReloader(certFile, keyFile string, log *slog.Logger) (*Reloader, error) {
	what := fmt.Sprintf("certificate %s and key %s", certFile, keyFile)
	w, err := newWatched(logger(log), what, []string{certFile, keyFile},
		func(contents [][]byte) (*tls.Certificate, error) {
			cert, err := tls.X509KeyPair(contents[0], contents[1])
			if err != nil {
				return nil, fmt.Errorf("tlsconfig: %s: %w", what, err)
			}
			return &cert, nil
		})
	if err != nil {
		return nil, err
	}
	if leaf := w.current().Leaf; leaf != nil && time.Now().After(leaf.NotAfter) {
		w.log.Warn("tlsconfig: "+what+": the certificate has expired; peers will refuse it", "not_after", leaf.NotAfter)
	}
	return &Reloader{w: w}, nil
}

// GetCertificate returns the current pair, checking the files first when
// CheckInterval has passed since the last check. It never fails: it is
// tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.w.get(), nil
}

// GetClientCertificate is GetCertificate for the client side of a
// handshake: tls.Config.GetClientCertificate.
func (r *Reloader) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return r.w.get(), nil
}

// Certificate returns the current pair without checking the files.
func (r *Reloader) Certificate() *tls.Certificate { return r.w.current() }

// Reload rereads the files now. When they cannot be loaded it returns why
// and keeps the current pair.
func (r *Reloader) Reload() error { return r.w.reload() }

// watched is a value parsed from a set of files, reparsed when their
// content changes.
type watched[T any] struct {
	log   *slog.Logger
	what  string // names the files in errors and logs
	files []string
	parse func(contents [][]byte) (*T, error)

	cur       atomic.Pointer[T]
	nextCheck atomic.Int64 // unix nanoseconds; handshakes check the files after it

	mu      sync.Mutex // guards sum and failSum; TryLock'ed by handshakes
	sum     [sha256.Size]byte
	failSum [sha256.Size]byte // of the last failure logged, to log each once
}

func newWatched[T any](log *slog.Logger, what string, files []string, parse func([][]byte) (*T, error)) (*watched[T], error) {
	w := &watched[T]{log: log, what: what, files: files, parse: parse}
	v, sum, err := w.load()
	if err != nil {
		return nil, err
	}
	w.cur.Store(v)
	w.sum = sum
	w.nextCheck.Store(time.Now().Add(CheckInterval).UnixNano())
	return w, nil
}

// current returns the value without checking the files.
func (w *watched[T]) current() *T { return w.cur.Load() }

// get returns the current value, first checking the files if it is time
// and no other caller is checking them.
func (w *watched[T]) get() *T {
	now := time.Now()
	if now.UnixNano() >= w.nextCheck.Load() && w.mu.TryLock() {
		if now.UnixNano() >= w.nextCheck.Load() {
			w.reloadLocked() // logged there; the old value stays
			w.nextCheck.Store(time.Now().Add(CheckInterval).UnixNano())
		}
		w.mu.Unlock()
	}
	return w.cur.Load()
}

// reload checks the files now.
func (w *watched[T]) reload() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	err := w.reloadLocked()
	w.nextCheck.Store(time.Now().Add(CheckInterval).UnixNano())
	return err
}

func (w *watched[T]) reloadLocked() error {
	v, sum, err := w.load()
	if err != nil {
		// sum identifies the failure: the content that failed to parse,
		// or the read error's text.
		if sum != w.failSum {
			w.failSum = sum
			w.log.Warn("tlsconfig: reload failed; keeping the current "+w.what, "err", err)
		}
		return err
	}
	if v == nil || sum == w.sum {
		return nil // unchanged
	}
	w.cur.Store(v)
	w.sum = sum
	w.failSum = [sha256.Size]byte{}
	attrs := []any{}
	if c, ok := any(v).(*tls.Certificate); ok && c.Leaf != nil {
		attrs = append(attrs, "subject", c.Leaf.Subject.String(), "not_after", c.Leaf.NotAfter)
	}
	w.log.Info("tlsconfig: reloaded "+w.what, attrs...)
	return nil
}

// load reads and parses the files, unless their content hashes to w.sum:
// then it returns a nil value and no error. On a failure the hash returned
// identifies it.
func (w *watched[T]) load() (*T, [sha256.Size]byte, error) {
	h := sha256.New()
	contents := make([][]byte, len(w.files))
	for i, f := range w.files {
		data, err := os.ReadFile(f)
		if err != nil {
			err = fmt.Errorf("tlsconfig: %s: %w", w.what, err)
			return nil, sha256.Sum256([]byte(err.Error())), err
		}
		contents[i] = data
		h.Write(binary.BigEndian.AppendUint64(nil, uint64(len(data))))
		h.Write(data)
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	if sum == w.sum {
		return nil, sum, nil
	}
	v, err := w.parse(contents)
	if err != nil {
		return nil, sum, err
	}
	return v, sum, nil
}

package main

// Client security for the subcommands that act as Kafka clients (`strata
// leaders`, `strata loadgen run`): librdkafka's property names, as kcat
// takes them, given with -X key=value or read from a properties file with
// -F (lines key=value; # comments), so that what reaches a cluster with
// kcat reaches it with strata too:
//
//	security.protocol         plaintext, ssl, sasl_plaintext, sasl_ssl
//	sasl.mechanism(s)         PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
//	sasl.username, sasl.password
//	ssl.ca.location           PEM CA bundle to trust (default: the system's)
//	ssl.certificate.location  PEM client certificate (mutual TLS)
//	ssl.key.location          PEM key of the client certificate
//	ssl.endpoint.identification.algorithm
//	                          https (default: check the broker's name) or none
//
// A password belongs in a -F file, not on the command line, where other
// users of the machine can read it.

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// clientPropNames are the properties clientProps accepts.
var clientPropNames = []string{
	"security.protocol",
	"sasl.mechanism", "sasl.mechanisms",
	"sasl.username", "sasl.password",
	"ssl.ca.location", "ssl.certificate.location", "ssl.key.location",
	"ssl.endpoint.identification.algorithm",
}

// clientProps are a client's security properties, a flag.Value for -X.
type clientProps map[string]string

func (p clientProps) String() string {
	keys := make([]string, 0, len(p))
	for k := range p {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return strings.Join(keys, ",") // never the values: one may be a password
}

// Set takes one key=value.
func (p clientProps) Set(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	k = strings.TrimSpace(k)
	if !ok || k == "" {
		return fmt.Errorf("%q is not key=value", kv)
	}
	if !slices.Contains(clientPropNames, k) {
		return fmt.Errorf("unknown property %q (known: %s)", k, strings.Join(clientPropNames, ", "))
	}
	if k == "sasl.mechanisms" {
		k = "sasl.mechanism"
	}
	p[k] = strings.TrimSpace(v)
	return nil
}

// clientPropsFile is a flag.Value for -F: it reads a properties file into
// props.
type clientPropsFile struct{ props clientProps }

func (f clientPropsFile) String() string { return "" }

func (f clientPropsFile) Set(path string) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := f.props.Set(line); err != nil {
			return fmt.Errorf("%s:%d: %w", path, n, err)
		}
	}
	return sc.Err()
}

// opts are the kgo options that reach a broker with these properties.
func (p clientProps) opts() ([]kgo.Opt, error) {
	proto := strings.ToLower(p["security.protocol"])
	if proto == "" {
		proto = "plaintext"
	}
	var useTLS, useSASL bool
	switch proto {
	case "plaintext":
	case "ssl":
		useTLS = true
	case "sasl_plaintext":
		useSASL = true
	case "sasl_ssl":
		useTLS, useSASL = true, true
	default:
		return nil, fmt.Errorf("security.protocol %q: want plaintext, ssl, sasl_plaintext or sasl_ssl", p["security.protocol"])
	}
	for _, k := range []string{"ssl.ca.location", "ssl.certificate.location", "ssl.key.location", "ssl.endpoint.identification.algorithm"} {
		if _, set := p[k]; set && !useTLS {
			return nil, fmt.Errorf("%s needs security.protocol ssl or sasl_ssl", k)
		}
	}
	for _, k := range []string{"sasl.mechanism", "sasl.username", "sasl.password"} {
		if _, set := p[k]; set && !useSASL {
			return nil, fmt.Errorf("%s needs security.protocol sasl_plaintext or sasl_ssl", k)
		}
	}
	var opts []kgo.Opt
	if useTLS {
		cfg, err := p.tlsConfig()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if useSASL {
		m, err := p.mechanism()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

func (p clientProps) tlsConfig() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	switch alg := strings.ToLower(p["ssl.endpoint.identification.algorithm"]); alg {
	case "", "https":
	case "none":
		// As librdkafka: the chain is still checked, the name is not.
		cfg.InsecureSkipVerify = true
	default:
		return nil, fmt.Errorf("ssl.endpoint.identification.algorithm %q: want https or none", alg)
	}
	if ca := p["ssl.ca.location"]; ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ssl.ca.location %s: no PEM certificate", ca)
		}
		cfg.RootCAs = pool
	}
	if cfg.InsecureSkipVerify {
		roots := cfg.RootCAs
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			inter := x509.NewCertPool()
			for _, c := range cs.PeerCertificates[1:] {
				inter.AddCert(c)
			}
			_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
			return err
		}
	}
	certFile, keyFile := p["ssl.certificate.location"], p["ssl.key.location"]
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("ssl.certificate.location and ssl.key.location go together")
	}
	if certFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

func (p clientProps) mechanism() (sasl.Mechanism, error) {
	user, pass := p["sasl.username"], p["sasl.password"]
	if user == "" {
		return nil, errors.New("SASL needs sasl.username (and sasl.password)")
	}
	switch mech := strings.ToUpper(p["sasl.mechanism"]); mech {
	case "", "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(), nil
	default:
		return nil, fmt.Errorf("sasl.mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", mech)
	}
}

// registerClientProps adds -X and -F, filling p, to fs.
func registerClientProps(fs *flag.FlagSet, p clientProps) {
	fs.Var(p, "X", "a client security property `key=value` as kcat takes it (security.protocol, sasl.mechanism, sasl.username, sasl.password, ssl.ca.location, ssl.certificate.location, ssl.key.location, ssl.endpoint.identification.algorithm); repeatable")
	fs.Var(clientPropsFile{p}, "F", "a properties `file` of -X's key=value lines (# comments); keep passwords here, not on the command line")
}

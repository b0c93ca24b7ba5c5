package deploy_test

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/internal/testenv"
)

// secretFlags are the flags that name a file holding a secret (or the
// certificate that goes with one).
var secretFlags = []string{"tls-cert-file", "tls-key-file", "tls-client-ca-file", "sasl-bootstrap-users"}

// checkSecureSettings: every listener is SASL_SSL with its certificate and
// SCRAM mechanisms only, the authorizer is on with super users and denies
// what no ACL allows, pprof is off, and the first users come from a file.
func checkSecureSettings(t *testing.T, where string, eff map[string]string) {
	t.Helper()
	for _, l := range listeners(t, eff) {
		if l.Protocol != broker.ProtocolSASLSSL {
			t.Errorf("%s: listener %s is %s, want SASL_SSL (TLS and passwords)", where, l.Name, l.Protocol)
		}
	}
	if eff["tls-cert-file"] == "" || eff["tls-key-file"] == "" {
		t.Errorf("%s: no --tls-cert-file and --tls-key-file", where)
	}
	mechs := strings.Split(eff["sasl-enabled-mechanisms"], ",")
	if eff["sasl-enabled-mechanisms"] == "" || slices.ContainsFunc(mechs, func(m string) bool { return !strings.HasPrefix(m, "SCRAM-") }) {
		t.Errorf("%s: --sasl-enabled-mechanisms=%q, want SCRAM only (PLAIN sends the password to the broker)", where, eff["sasl-enabled-mechanisms"])
	}
	if eff["sasl-bootstrap-users"] == "" {
		t.Errorf("%s: no --sasl-bootstrap-users: nobody could authenticate to create the other users", where)
	}
	if eff["authorizer"] != "true" {
		t.Errorf("%s: --authorizer=%q, want true", where, eff["authorizer"])
	}
	if eff["allow-everyone-if-no-acl-found"] == "true" {
		t.Errorf("%s: --allow-everyone-if-no-acl-found=true opens every resource no ACL names", where)
	}
	supers := strings.Split(eff["super-users"], ";")
	if eff["super-users"] == "" || slices.ContainsFunc(supers, func(p string) bool { return !strings.HasPrefix(p, "User:") || len(p) == len("User:") }) {
		t.Errorf("%s: --super-users=%q, want User:NAME principals to create the first ACLs", where, eff["super-users"])
	}
	if eff["pprof"] == "true" {
		t.Errorf("%s: --pprof=true exposes profiles on the HTTP port", where)
	}
}

// TestKubernetesSecurity checks the brokers' security: SASL_SSL and the
// authorizer on, every secret file the flags name in a Secret volume
// mounted read-only, whole (a renewed certificate reaches the pod), with
// mode 0440 at most; the Secrets generated from files that git ignores; and
// no password, key or certificate in the manifests themselves.
func TestKubernetesSecurity(t *testing.T) {
	ms := loadManifests(t)
	d := parseDockerfile(t)
	flags := testenv.ServeFlags(t, strataBin)
	sts := find(t, ms, "StatefulSet", "strata")
	pod := sts.Spec.Template.Spec
	c := &pod.Containers[0]
	eff := containerConfig(t, ms, d, c, strataBin, flags)
	checkSecureSettings(t, "the strata container", eff)

	for _, f := range secretFlags {
		file := eff[f]
		if file == "" {
			continue
		}
		mounted := false
		for _, vm := range c.VolumeMounts {
			if path.Dir(file) != path.Clean(vm.MountPath) {
				continue
			}
			mounted = true
			if !vm.ReadOnly {
				t.Errorf("--%s=%s: volume %s is not mounted readOnly", f, file, vm.Name)
			}
			if vm.SubPath != "" {
				t.Errorf("--%s=%s: volume %s is mounted with subPath, which never sees a renewed Secret", f, file, vm.Name)
			}
			var key string
			for _, v := range pod.Volumes {
				if v.Name != vm.Name {
					continue
				}
				if v.Secret == nil {
					t.Errorf("--%s=%s: volume %s is not a Secret", f, file, v.Name)
					break
				}
				if m := v.Secret.DefaultMode; m == nil || *m&^0o440 != 0 {
					t.Errorf("--%s=%s: Secret volume %s has defaultMode %v, want 0440 (288) or less", f, file, v.Name, m)
				}
				key = path.Base(file)
				for _, it := range v.Secret.Items {
					if it.Mode != nil && *it.Mode&^0o440 != 0 {
						t.Errorf("Secret volume %s: item %s has mode %o", v.Name, it.Key, *it.Mode)
					}
					if it.Path == path.Base(file) {
						key = it.Key
					}
				}
				sec := find(t, ms, "Secret", v.Secret.SecretName)
				_, inData := sec.Data[key]
				_, generated := sec.generated[key]
				if !inData && !generated {
					t.Errorf("--%s=%s: Secret %s has no key %s", f, file, sec.Metadata.Name, key)
				}
			}
			if key == "" {
				t.Errorf("--%s=%s: the pod has no volume %s", f, file, vm.Name)
			}
		}
		if !mounted {
			t.Errorf("--%s=%s is in no mounted directory", f, file)
		}
	}

	// Generated Secrets: from files under secrets/, which git ignores; the
	// TLS one is of the kubernetes.io/tls type.
	ignore, err := os.ReadFile(filepath.Join(k8sDir, "secrets", ".gitignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for _, l := range strings.Split(string(ignore), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			patterns = append(patterns, l)
		}
	}
	if !slices.Contains(patterns, "*") || slices.ContainsFunc(patterns, func(p string) bool {
		return strings.HasPrefix(p, "!") && p != "!.gitignore" && p != "!README.md"
	}) {
		t.Errorf("secrets/.gitignore %q must ignore everything but itself and README.md", patterns)
	}
	generated := 0
	for _, m := range ms {
		if m.generated == nil {
			continue
		}
		generated++
		for key, file := range m.generated {
			if !strings.HasPrefix(path.Clean(file), "secrets/") || path.Base(file) == ".gitignore" || path.Base(file) == "README.md" {
				t.Errorf("Secret %s: key %s comes from %s, not from an ignored file in secrets/", m.Metadata.Name, key, file)
			}
		}
		if m.Metadata.Name == "strata-tls" {
			if _, ok := m.generated["tls.key"]; m.Type != "kubernetes.io/tls" || !ok {
				t.Errorf("Secret strata-tls has type %q and keys %v; want kubernetes.io/tls with tls.crt and tls.key", m.Type, m.generated)
			}
		}
	}
	if generated == 0 {
		t.Error("kustomization.yaml generates no Secret")
	}

	// Nothing secret in clear. dev-minio.yaml, the trial MinIO that
	// kustomization.yaml does not apply, has throwaway keys on purpose.
	secretish := regexp.MustCompile(`(?i)password|passwd|secret|private|token|credential|jaas`)
	for _, m := range ms {
		if m.file == "dev-minio.yaml" {
			continue
		}
		if m.Kind == "Secret" && (len(m.Data) > 0 || len(m.StringData) > 0) {
			t.Errorf("%s: Secret %s has its values in the manifest; generate it from files in secrets/", m.file, m.Metadata.Name)
		}
		for k, v := range m.Data {
			if m.Kind == "ConfigMap" && secretish.MatchString(k) && v != "" {
				t.Errorf("%s: ConfigMap %s holds %s in clear", m.file, m.Metadata.Name, k)
			}
		}
	}
	for _, e := range c.Env {
		if secretish.MatchString(e.Name) && e.Value != "" {
			t.Errorf("env %s has a value in the manifest; take it from a Secret", e.Name)
		}
	}
	if eff["etcd-password"] != "" {
		t.Error("the strata container sets --etcd-password in clear; take STRATA_ETCD_PASSWORD from a Secret")
	}
	files, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if regexp.MustCompile(`-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----`).Match(raw) {
			t.Errorf("%s holds a PEM key or certificate", f)
		}
	}
}

// unitDirectives are a unit file's Key=Value lines (continuations are not
// joined: ExecStart is read by testenv.ExecStart).
func unitDirectives(t *testing.T, unit string) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	sc := bufio.NewScanner(strings.NewReader(unit))
	for sc.Scan() {
		l := sc.Text()
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") && !strings.HasPrefix(l, " ") {
			out[k] = append(out[k], strings.Fields(v)...)
		}
	}
	return out
}

// TestSystemdSecurity checks the single machine's broker unit: SASL_SSL and
// the authorizer on, an advertised address for each listener, its secret
// files under /etc/strata, which the unit's sandbox makes read-only and
// which its header installs readable by root and the strata group only.
func TestSystemdSecurity(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("systemd", "strata.service"))
	if err != nil {
		t.Fatal(err)
	}
	unit := string(raw)
	args := testenv.ExecStart(t, unit)
	eff := testenv.FlagValues(t, "strata.service", args[2:])
	checkSecureSettings(t, "strata.service", eff)
	ls := listeners(t, eff)
	adv, err := broker.ParseAdvertisedListeners(eff["advertised-listeners"], ls, "placeholder.invalid")
	if err != nil {
		t.Errorf("--advertised-listeners=%q: %v", eff["advertised-listeners"], err)
	}
	for _, l := range ls {
		if host, _, _ := net.SplitHostPort(adv[l.Name]); host == "" || host == "placeholder.invalid" || net.ParseIP(host) != nil && net.ParseIP(host).IsUnspecified() {
			t.Errorf("listener %s advertises %q; name the machine as clients reach it", l.Name, adv[l.Name])
		}
	}

	dirs := unitDirectives(t, unit)
	if !slices.Equal(dirs["ProtectSystem"], []string{"strict"}) || !slices.Contains(dirs["ReadOnlyPaths"], "/etc/strata") {
		t.Errorf("ProtectSystem=%v ReadOnlyPaths=%v: want strict and /etc/strata read-only", dirs["ProtectSystem"], dirs["ReadOnlyPaths"])
	}
	install := regexp.MustCompile(`(?m)^#\s+install -m 0([0-7]{3}) -o root -g strata \S+ (\S+)$`)
	modes := map[string]string{}
	for _, m := range install.FindAllStringSubmatch(unit, -1) {
		modes[m[2]] = m[1]
	}
	for _, f := range secretFlags {
		file := eff[f]
		if file == "" {
			continue
		}
		if !strings.HasPrefix(file, "/etc/strata/") {
			t.Errorf("--%s=%s is not under /etc/strata", f, file)
		}
		for _, rw := range dirs["ReadWritePaths"] {
			if strings.HasPrefix(file, strings.TrimSuffix(rw, "/")+"/") {
				t.Errorf("--%s=%s is writable by the service (ReadWritePaths=%s)", f, file, rw)
			}
		}
		mode, ok := modes[file]
		if !ok {
			t.Errorf("the unit's header does not say how to install %s (install -m 0640 -o root -g strata ...)", file)
			continue
		}
		if n, _ := strconv.ParseUint(mode, 8, 32); n&^0o640 != 0 {
			t.Errorf("the unit's header installs %s with mode 0%s; want 0640 or less", file, mode)
		}
	}
	if !regexp.MustCompile(`(?m)^#\s+install -d -m 0750 -o root -g strata`).MatchString(unit) {
		t.Error("the unit's header does not create the secrets' directories 0750 root:strata")
	}
}

// TestSecureConfigurationsStart starts a broker with the security settings
// of the StatefulSet and of strata.service (files, addresses and etcd
// replaced by the test's own) and checks what they promise: TLS with the
// given certificate, the bootstrap user admin authenticating with SCRAM
// and allowed everything as a super user, a wrong password refused, and an
// ordinary user denied what no ACL allows.
func TestSecureConfigurationsStart(t *testing.T) {
	ms := loadManifests(t)
	d := parseDockerfile(t)
	flags := testenv.ServeFlags(t, strataBin)
	c := &find(t, ms, "StatefulSet", "strata").Spec.Template.Spec.Containers[0]
	k8s := containerConfig(t, ms, d, c, strataBin, flags)
	raw, err := os.ReadFile(filepath.Join("systemd", "strata.service"))
	if err != nil {
		t.Fatal(err)
	}
	systemd := testenv.FlagValues(t, "strata.service", testenv.ExecStart(t, string(raw))[2:])

	for name, eff := range map[string]map[string]string{"kubernetes": k8s, "systemd": systemd} {
		t.Run(name, func(t *testing.T) { startSecure(t, eff) })
	}
}

func startSecure(t *testing.T, eff map[string]string) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	adminPass, alicePass := randomHex(t), randomHex(t)
	users := filepath.Join(dir, "bootstrap-users")
	if err := os.WriteFile(users, []byte("# first users\nadmin:"+adminPass+"\nalice:"+alicePass+"\n"), 0o440); err != nil {
		t.Fatal(err)
	}

	// The deployment's settings but for where things are.
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	ls := listeners(t, eff)
	if len(ls) != 1 {
		t.Fatalf("%d listeners; this test starts one", len(ls))
	}
	args := []string{"serve"}
	for k, v := range eff {
		switch k {
		case "etcd-endpoints", "object-store", "advertised-listeners", "listen":
			continue // embedded etcd, the file store, the test's addresses
		case "data-dir":
			v = filepath.Join(dir, "data")
		case "listeners":
			v = ls[0].Name + "://" + addr
		case "advertised-addr":
			v = addr
		case "http-listen":
			v = httpAddr
		case "tls-cert-file":
			v = certFile
		case "tls-key-file":
			v = keyFile
		case "sasl-bootstrap-users":
			v = users
		case "tls-client-ca-file":
			t.Fatal("this test does not make client certificates")
		}
		args = append(args, "--"+k+"="+v)
	}
	if eff["advertised-listeners"] != "" {
		args = append(args, "--advertised-listeners="+ls[0].Name+"://"+addr)
	}
	testenv.Start(t, "strata", nil, strataBin, args...)
	scheme := "http"
	if eff["http-tls"] == "true" {
		scheme = "https"
	}
	testenv.WaitHTTP(t, scheme+"://"+httpAddr+"/readyz", 60*time.Second)

	tlsCfg := &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}
	mech := strings.Split(eff["sasl-enabled-mechanisms"], ",")[0]
	client := func(user, pass string) *kgo.Client {
		a := scram.Auth{User: user, Pass: pass}
		m := a.AsSha256Mechanism()
		if mech == "SCRAM-SHA-512" {
			m = a.AsSha512Mechanism()
		}
		cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DialTLSConfig(tlsCfg), kgo.SASL(m),
			kgo.RequestRetries(0), kgo.RetryTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(cl.Close)
		return cl
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	admin := kadm.NewClient(client("admin", adminPass))
	resp, err := admin.CreateTopic(ctx, 1, -1, nil, "secured")
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("the super user admin cannot create a topic: %v", err)
	}

	if _, err := kadm.NewClient(client("admin", "not-"+adminPass)).ListBrokers(ctx); err == nil {
		t.Error("a wrong password is accepted")
	}

	alice := client("alice", alicePass)
	res := alice.ProduceSync(ctx, &kgo.Record{Topic: "secured", Value: []byte("x")})
	if err := res.FirstErr(); !errors.Is(err, kerr.TopicAuthorizationFailed) {
		t.Errorf("alice, with no ACL, produces to a topic: %v; want TOPIC_AUTHORIZATION_FAILED", err)
	}
}

// selfSigned writes a certificate for localhost and 127.0.0.1 and its key,
// and returns them with a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o440); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o440); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile, pool
}

func randomHex(t *testing.T) string {
	t.Helper()
	b := make([]byte, 12)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestDeployDocLinks: every docs/deploy.md#anchor that a deployment file
// names is a heading of docs/deploy.md, as GitHub spells its anchors.
func TestDeployDocLinks(t *testing.T) {
	root := testenv.RepoRoot(t)
	doc, err := os.ReadFile(filepath.Join(root, "docs", "deploy.md"))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	punct := regexp.MustCompile(`[^a-z0-9 _-]`)
	for _, l := range strings.Split(string(doc), "\n") {
		if h, ok := strings.CutPrefix(strings.TrimLeft(l, "#"), " "); ok && strings.HasPrefix(l, "#") {
			anchors[strings.ReplaceAll(punct.ReplaceAllString(strings.ToLower(strings.TrimSpace(h)), ""), " ", "-")] = true
		}
	}
	link := regexp.MustCompile(`deploy\.md#([a-z0-9_-]+)`)
	links := 0
	for _, dir := range []string{filepath.Join(root, "deploy"), filepath.Join(root, "terraform")} {
		err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
				return err
			}
			src, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			for _, m := range link.FindAllStringSubmatch(string(src), -1) {
				links++
				if !anchors[m[1]] {
					t.Errorf("%s links to docs/deploy.md#%s, which is no heading there", p, m[1])
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if links == 0 {
		t.Error("no link to docs/deploy.md found; the scan is broken")
	}
}

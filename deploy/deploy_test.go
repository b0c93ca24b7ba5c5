package deploy_test

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/internal/testenv"
)

// strataBin is the strata binary, built once by TestMain.
var strataBin string

func TestMain(m *testing.M) { testenv.RunWithStrata(m, &strataBin) }

// The Kubernetes objects' fields that the checks read.
type (
	manifest struct {
		APIVersion string            `yaml:"apiVersion"`
		Kind       string            `yaml:"kind"`
		Metadata   meta              `yaml:"metadata"`
		Data       map[string]string `yaml:"data"`
		StringData map[string]string `yaml:"stringData"`
		Type       string            `yaml:"type"`
		Spec       spec              `yaml:"spec"`
		file       string
		generated  map[string]string // a secretGenerator's Secret: key -> file
	}
	meta struct {
		Name        string            `yaml:"name"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	}
	spec struct {
		// Service
		ClusterIP                string         `yaml:"clusterIP"`
		PublishNotReadyAddresses bool           `yaml:"publishNotReadyAddresses"`
		Ports                    []servicePort  `yaml:"ports"`
		Selector                 map[string]any `yaml:"selector"` // Service: labels; workloads: matchLabels
		// StatefulSet, Deployment
		ServiceName          string      `yaml:"serviceName"`
		Replicas             int         `yaml:"replicas"`
		Template             podTemplate `yaml:"template"`
		VolumeClaimTemplates []struct {
			Metadata meta `yaml:"metadata"`
		} `yaml:"volumeClaimTemplates"`
		// PodDisruptionBudget
		MaxUnavailable any `yaml:"maxUnavailable"`
		MinAvailable   any `yaml:"minAvailable"`
	}
	servicePort struct {
		Name       string `yaml:"name"`
		Port       int    `yaml:"port"`
		TargetPort any    `yaml:"targetPort"`
	}
	podTemplate struct {
		Metadata meta `yaml:"metadata"`
		Spec     struct {
			ServiceAccountName            string `yaml:"serviceAccountName"`
			TerminationGracePeriodSeconds *int   `yaml:"terminationGracePeriodSeconds"`
			SecurityContext               struct {
				RunAsNonRoot bool `yaml:"runAsNonRoot"`
				RunAsUser    *int `yaml:"runAsUser"`
				RunAsGroup   *int `yaml:"runAsGroup"`
				FSGroup      *int `yaml:"fsGroup"`
			} `yaml:"securityContext"`
			Containers []container `yaml:"containers"`
			Volumes    []struct {
				Name   string `yaml:"name"`
				Secret *struct {
					SecretName  string `yaml:"secretName"`
					DefaultMode *int   `yaml:"defaultMode"`
					Items       []struct {
						Key  string `yaml:"key"`
						Path string `yaml:"path"`
						Mode *int   `yaml:"mode"`
					} `yaml:"items"`
				} `yaml:"secret"`
			} `yaml:"volumes"`
		} `yaml:"spec"`
	}
	container struct {
		Name    string   `yaml:"name"`
		Image   string   `yaml:"image"`
		Command []string `yaml:"command"`
		Args    []string `yaml:"args"`
		Env     []struct {
			Name      string `yaml:"name"`
			Value     string `yaml:"value"`
			ValueFrom *struct {
				FieldRef *struct {
					FieldPath string `yaml:"fieldPath"`
				} `yaml:"fieldRef"`
			} `yaml:"valueFrom"`
		} `yaml:"env"`
		EnvFrom []struct {
			ConfigMapRef *struct {
				Name string `yaml:"name"`
			} `yaml:"configMapRef"`
			SecretRef *struct {
				Name     string `yaml:"name"`
				Optional bool   `yaml:"optional"`
			} `yaml:"secretRef"`
		} `yaml:"envFrom"`
		Ports []struct {
			Name          string `yaml:"name"`
			ContainerPort int    `yaml:"containerPort"`
		} `yaml:"ports"`
		StartupProbe    *probe `yaml:"startupProbe"`
		LivenessProbe   *probe `yaml:"livenessProbe"`
		ReadinessProbe  *probe `yaml:"readinessProbe"`
		SecurityContext struct {
			AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
			ReadOnlyRootFilesystem   bool  `yaml:"readOnlyRootFilesystem"`
			Capabilities             struct {
				Drop []string `yaml:"drop"`
			} `yaml:"capabilities"`
		} `yaml:"securityContext"`
		VolumeMounts []struct {
			Name      string `yaml:"name"`
			MountPath string `yaml:"mountPath"`
			SubPath   string `yaml:"subPath"`
			ReadOnly  bool   `yaml:"readOnly"`
		} `yaml:"volumeMounts"`
	}
	probe struct {
		HTTPGet *struct {
			Path   string `yaml:"path"`
			Port   any    `yaml:"port"`
			Scheme string `yaml:"scheme"`
		} `yaml:"httpGet"`
	}
)

const k8sDir = "kubernetes"

// loadManifests reads every object of the files kustomization.yaml lists,
// and of dev-minio.yaml; a YAML file in the folder that is neither is an
// error (it would be applied by nobody).
func loadManifests(t *testing.T) []*manifest {
	t.Helper()
	var kust struct {
		Resources []string `yaml:"resources"`
		Namespace string   `yaml:"namespace"`
		Images    []struct {
			Name   string `yaml:"name"`
			NewTag string `yaml:"newTag"`
		} `yaml:"images"`
		SecretGenerator []struct {
			Name     string   `yaml:"name"`
			Type     string   `yaml:"type"`
			Files    []string `yaml:"files"`
			Literals []string `yaml:"literals"`
			Envs     []string `yaml:"envs"`
		} `yaml:"secretGenerator"`
	}
	readYAML(t, filepath.Join(k8sDir, "kustomization.yaml"), &kust)
	files := append(append([]string{}, kust.Resources...), "dev-minio.yaml")
	all, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range all {
		if base := filepath.Base(f); base != "kustomization.yaml" && !slices.Contains(files, base) {
			t.Errorf("%s is neither in kustomization.yaml's resources nor the trial MinIO", f)
		}
	}
	var out []*manifest
	for _, f := range files {
		raw, err := os.ReadFile(filepath.Join(k8sDir, f))
		if err != nil {
			t.Fatalf("kustomization.yaml lists %s: %v", f, err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(raw))
		for {
			m := &manifest{file: f}
			err := dec.Decode(m)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			if m.APIVersion == "" || m.Kind == "" || m.Metadata.Name == "" {
				t.Errorf("%s: an object without apiVersion, kind or name", f)
			}
			out = append(out, m)
		}
	}
	// The Secrets kustomize generates from files, which only the operator
	// has: their keys and files, not their contents.
	for _, g := range kust.SecretGenerator {
		if len(g.Literals) > 0 || len(g.Envs) > 0 {
			t.Errorf("secretGenerator %s has literals or env files: secrets come from files in secrets/ only", g.Name)
		}
		m := &manifest{APIVersion: "v1", Kind: "Secret", Type: g.Type, Metadata: meta{Name: g.Name}, file: "kustomization.yaml", generated: map[string]string{}}
		for _, f := range g.Files {
			key, file, ok := strings.Cut(f, "=")
			if !ok {
				key, file = filepath.Base(f), f
			}
			m.generated[key] = file
		}
		out = append(out, m)
	}
	return out
}

func readYAML(t *testing.T, name string, v any) {
	t.Helper()
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

func find(t *testing.T, ms []*manifest, kind, name string) *manifest {
	t.Helper()
	for _, m := range ms {
		if m.Kind == kind && m.Metadata.Name == name {
			return m
		}
	}
	t.Fatalf("no %s %s in the manifests", kind, name)
	return nil
}

// matchLabels is a workload's or budget's spec.selector.matchLabels.
func matchLabels(t *testing.T, m *manifest) map[string]string {
	t.Helper()
	ml, ok := m.Spec.Selector["matchLabels"].(map[string]any)
	if !ok || len(m.Spec.Selector) != 1 {
		t.Fatalf("%s %s: selector is not only matchLabels", m.Kind, m.Metadata.Name)
	}
	return stringMap(t, ml)
}

func stringMap(t *testing.T, m map[string]any) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			t.Fatalf("label %s is not a string", k)
		}
		out[k] = s
	}
	return out
}

// selects reports whether a selector's labels all appear in labels.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func (c *container) port(t *testing.T, name string) int {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == name {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port named %s", c.Name, name)
	return 0
}

// probePath returns a probe's path and the container port it targets.
func (c *container) probePath(t *testing.T, which string, p *probe) (string, int) {
	t.Helper()
	if p == nil || p.HTTPGet == nil {
		t.Fatalf("container %s has no HTTP %s probe", c.Name, which)
	}
	switch port := p.HTTPGet.Port.(type) {
	case string:
		return p.HTTPGet.Path, c.port(t, port)
	case int:
		return p.HTTPGet.Path, port
	}
	t.Fatalf("container %s: %s probe port %v", c.Name, which, p.HTTPGet.Port)
	return "", 0
}

// Dockerfile is the final stage of the repository's Dockerfile, and what
// the build stage does.
type dockerfile struct {
	args       map[string]string // ARG defaults before the first FROM
	froms      []string
	runs       []string
	copies     []string // COPY arguments in order, with the RUN lines between as "RUN ..."
	env        map[string]string
	envOrder   []string
	expose     []int
	volumes    []string
	user       string
	entrypoint []string
	cmd        []string
}

func parseDockerfile(t *testing.T) *dockerfile {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	d := &dockerfile{args: map[string]string{}, env: map[string]string{}}
	var lines []string
	var cur string
	for _, l := range strings.Split(string(raw), "\n") {
		trimmed := strings.TrimSpace(l)
		if cur == "" && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if strings.HasSuffix(trimmed, `\`) {
			cur += strings.TrimSuffix(trimmed, `\`) + " "
			continue
		}
		lines = append(lines, cur+trimmed)
		cur = ""
	}
	jsonList := func(s string) []string {
		var v []string
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatalf("Dockerfile: %q is not exec form (a JSON list): %v", s, err)
		}
		return v
	}
	for _, l := range lines {
		instr, rest, _ := strings.Cut(l, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "ARG":
			if k, v, ok := strings.Cut(rest, "="); ok && len(d.froms) == 0 {
				d.args[k] = v
			}
		case "FROM":
			d.froms = append(d.froms, rest)
			// Each stage starts afresh; the checks are about the last one.
			d.env, d.envOrder, d.expose, d.volumes, d.user, d.entrypoint, d.cmd = map[string]string{}, nil, nil, nil, "", nil, nil
		case "RUN":
			d.runs = append(d.runs, rest)
			d.copies = append(d.copies, "RUN "+rest)
		case "COPY":
			d.copies = append(d.copies, rest)
		case "ENV":
			for _, kv := range strings.Fields(rest) {
				k, v, ok := strings.Cut(kv, "=")
				if !ok {
					t.Fatalf("Dockerfile: ENV %q: use KEY=VALUE", kv)
				}
				d.env[k] = v
				d.envOrder = append(d.envOrder, k)
			}
		case "EXPOSE":
			for _, p := range strings.Fields(rest) {
				n, err := strconv.Atoi(strings.TrimSuffix(p, "/tcp"))
				if err != nil {
					t.Fatalf("Dockerfile: EXPOSE %q", p)
				}
				d.expose = append(d.expose, n)
			}
		case "VOLUME":
			d.volumes = jsonList(rest)
		case "USER":
			d.user = rest
		case "ENTRYPOINT":
			d.entrypoint = jsonList(rest)
		case "CMD":
			d.cmd = jsonList(rest)
		}
	}
	return d
}

func goMod(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

// envFlags turns STRATA_* variables into the flags they stand for, failing
// the test for a name that is no flag's.
func envFlags(t *testing.T, where string, env map[string]string, flags map[string]testenv.ServeFlag) []string {
	t.Helper()
	byEnv := map[string]string{}
	for _, f := range flags {
		byEnv[f.Env] = f.Name
	}
	var args []string
	for k, v := range env {
		if !strings.HasPrefix(k, "STRATA_") {
			continue
		}
		name, ok := byEnv[k]
		if !ok {
			t.Errorf("%s sets %s, the variable of no strata serve flag", where, k)
			continue
		}
		args = append(args, "--"+name+"="+v)
	}
	slices.Sort(args)
	return args
}

// listeners are the Kafka listeners of effective flag values, parsed by the
// broker itself: --listeners, or the one PLAINTEXT listener on --listen.
func listeners(t *testing.T, eff map[string]string) []broker.Listener {
	t.Helper()
	if eff["listeners"] == "" {
		return []broker.Listener{{Name: "PLAINTEXT", Protocol: broker.ProtocolPlaintext, Addr: eff["listen"]}}
	}
	ls, err := broker.ParseListeners(eff["listeners"], eff["listener-security-protocol-map"])
	if err != nil {
		t.Fatalf("--listeners=%q: %v", eff["listeners"], err)
	}
	return ls
}

// portName is the Kubernetes port name of a listener: SASL_SSL → sasl-ssl.
func portName(listener string) string {
	return strings.ToLower(strings.ReplaceAll(listener, "_", "-"))
}

// TestDockerfile checks the image against go.mod, the Makefile's build and
// strata serve: the Go version, a static build of ./cmd/strata with the
// version stamped, the replaced modules copied before go mod download, the
// STRATA_* defaults parsed by strata itself, the exposed ports being the
// listeners', the data directory a volume owned by the non-root user.
func TestDockerfile(t *testing.T) {
	d := parseDockerfile(t)
	bin := strataBin
	flags := testenv.ServeFlags(t, bin)

	goVer := regexp.MustCompile(`(?m)^go (\S+)`).FindStringSubmatch(goMod(t))
	if goVer == nil || d.args["GO_VERSION"] != goVer[1] {
		t.Errorf("Dockerfile builds with Go %q, go.mod says %v", d.args["GO_VERSION"], goVer)
	}
	if len(d.froms) != 2 || !strings.HasPrefix(d.froms[0], "golang:${GO_VERSION} ") || !strings.HasPrefix(d.froms[1], "gcr.io/distroless/static") {
		t.Errorf("stages %q: want golang:${GO_VERSION} then distroless/static", d.froms)
	}
	build := ""
	for _, r := range d.runs {
		if strings.Contains(r, "go build") {
			build = r
		}
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-X main.version=${VERSION}", "./cmd/strata"} {
		if !strings.Contains(build, want) {
			t.Errorf("the go build step %q lacks %s (make build's static, stamped build)", build, want)
		}
	}
	// go.mod's replace directives point into the tree: go mod download
	// needs them copied first.
	for _, m := range regexp.MustCompile(`=>\s*\./(\S+)`).FindAllStringSubmatch(goMod(t), -1) {
		copied := false
		for _, c := range d.copies {
			if strings.HasPrefix(c, "RUN ") && strings.Contains(c, "go mod download") {
				break
			}
			if strings.HasPrefix(c, "RUN ") {
				continue
			}
			var srcs []string
			for _, f := range strings.Fields(c) {
				if !strings.HasPrefix(f, "--") {
					srcs = append(srcs, f)
				}
			}
			for _, src := range srcs[:max(0, len(srcs)-1)] { // the last is the destination
				dir := strings.TrimSuffix(src, "/")
				if dir == "." || m[1] == dir || strings.HasPrefix(m[1], dir+"/") {
					copied = true
				}
			}
		}
		if !copied {
			t.Errorf("go.mod replaces a module with ./%s, which the Dockerfile does not copy before go mod download", m[1])
		}
	}

	if len(d.entrypoint) != 1 || !slices.Equal(d.cmd, []string{"serve"}) {
		t.Errorf("ENTRYPOINT %q CMD %q: want the binary, then serve", d.entrypoint, d.cmd)
	}
	if len(d.entrypoint) == 1 && !slices.ContainsFunc(d.copies, func(c string) bool { return strings.HasSuffix(c, " "+d.entrypoint[0]) }) {
		t.Errorf("ENTRYPOINT %s is not where a COPY puts the binary", d.entrypoint[0])
	}

	args := envFlags(t, "Dockerfile", d.env, flags)
	if err := testenv.CheckServeArgs(bin, args); err != nil {
		t.Errorf("strata serve refuses the image's environment: %v", err)
	}
	vals := testenv.FlagValues(t, "Dockerfile", args)
	want := []int{testenv.Port(t, vals["listen"]), testenv.Port(t, vals["http-listen"])}
	if !slices.Equal(d.expose, want) {
		t.Errorf("EXPOSE %v, want the Kafka and HTTP listeners' ports %v", d.expose, want)
	}
	if !slices.Equal(d.volumes, []string{vals["data-dir"]}) {
		t.Errorf("VOLUME %v, want the data directory %s", d.volumes, vals["data-dir"])
	}
	uid, _, _ := strings.Cut(d.user, ":")
	if n, err := strconv.Atoi(uid); err != nil || n == 0 {
		t.Errorf("USER %q: want a numeric non-root user (Kubernetes' runAsNonRoot checks it)", d.user)
	}
	owned := false
	for _, c := range d.copies {
		if strings.Contains(c, "--chown="+d.user) && strings.HasSuffix(c, " "+vals["data-dir"]) {
			owned = true
		}
	}
	if !owned {
		t.Errorf("no COPY --chown=%s creates %s: the broker could not write its data directory", d.user, vals["data-dir"])
	}
}

// containerConfig is the broker container's configuration as flag values:
// the image's ENV, then envFrom, then env, then the arguments (flags win
// over all variables). strata serve must parse it all.
func containerConfig(t *testing.T, ms []*manifest, d *dockerfile, c *container, bin string, flags map[string]testenv.ServeFlag) map[string]string {
	t.Helper()
	env := map[string]string{}
	for k, v := range d.env {
		env[k] = v
	}
	defined := map[string]bool{}
	for _, ef := range c.EnvFrom {
		switch {
		case ef.ConfigMapRef != nil:
			for k, v := range find(t, ms, "ConfigMap", ef.ConfigMapRef.Name).Data {
				env[k] = v
			}
		case ef.SecretRef != nil && !ef.SecretRef.Optional:
			find(t, ms, "Secret", ef.SecretRef.Name)
		}
	}
	dependent := regexp.MustCompile(`\$\(([A-Z_]+)\)`)
	for _, e := range c.Env {
		for _, m := range dependent.FindAllStringSubmatch(e.Value, -1) {
			if !defined[m[1]] {
				t.Errorf("env %s uses $(%s) before it is defined (Kubernetes expands only earlier variables)", e.Name, m[1])
			}
		}
		defined[e.Name] = true
		if e.ValueFrom == nil {
			env[e.Name] = e.Value
		}
	}
	envArgs := envFlags(t, "the strata container", env, flags)
	if err := testenv.CheckServeArgs(bin, append(envArgs, c.Args[1:]...)); err != nil {
		t.Errorf("strata serve refuses the container's configuration: %v", err)
	}
	eff := testenv.FlagValues(t, "environment", envArgs)
	for k, v := range testenv.FlagValues(t, "args", c.Args[1:]) {
		if _, ok := flags[k]; !ok {
			t.Errorf("the container passes --%s, which strata serve --help does not list", k)
		}
		eff[k] = v
	}
	return eff
}

// TestKubernetesStrata checks the brokers' StatefulSet against strata serve,
// the image and its own Services, budget and volumes.
func TestKubernetesStrata(t *testing.T) {
	ms := loadManifests(t)
	d := parseDockerfile(t)
	bin := strataBin
	flags := testenv.ServeFlags(t, bin)

	sts := find(t, ms, "StatefulSet", "strata")
	pod := sts.Spec.Template
	labels := pod.Metadata.Labels
	if !selects(matchLabels(t, sts), labels) {
		t.Errorf("the StatefulSet's selector %v does not select its pods %v", sts.Spec.Selector, labels)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Spec.Containers))
	}
	c := &pod.Spec.Containers[0]
	if len(c.Command) != 0 || len(c.Args) == 0 || c.Args[0] != "serve" {
		t.Fatalf("container runs command %q args %q: want the image's entrypoint with serve", c.Command, c.Args)
	}

	eff := containerConfig(t, ms, d, c, bin, flags)

	// Each Kafka listener has a container port named after it, and both
	// Services expose exactly those; the one listener advertises the pod's
	// own name under the headless Service.
	ls := listeners(t, eff)
	if len(ls) != 1 {
		t.Fatalf("listeners %+v: the manifests advertise one listener per pod (STRATA_ADVERTISED_ADDR)", ls)
	}
	kafkaName := portName(ls[0].Name)
	kafka, httpPort := c.port(t, kafkaName), c.port(t, "http")
	if got := testenv.Port(t, ls[0].Addr); got != kafka {
		t.Errorf("listener %s port %d, container port %s %d", ls[0].Name, got, kafkaName, kafka)
	}
	if got := testenv.Port(t, eff["http-listen"]); got != httpPort {
		t.Errorf("--http-listen port %d, container port http %d", got, httpPort)
	}
	scheme := "HTTP"
	if eff["http-tls"] == "true" {
		scheme = "HTTPS"
	}
	for which, p := range map[string]*probe{"readiness": c.ReadinessProbe, "liveness": c.LivenessProbe} {
		want := map[string]string{"readiness": "/readyz", "liveness": "/healthz"}[which]
		if path, port := c.probePath(t, which, p); path != want || port != httpPort {
			t.Errorf("%s probe %s on %d, want %s on the HTTP port %d", which, path, port, want, httpPort)
		}
		if got := cmp.Or(p.HTTPGet.Scheme, "HTTP"); got != scheme {
			t.Errorf("%s probe scheme %s; --http-tls=%q wants %s", which, got, eff["http-tls"], scheme)
		}
	}
	ann := pod.Metadata.Annotations
	if ann["prometheus.io/scrape"] != "true" || ann["prometheus.io/port"] != strconv.Itoa(httpPort) || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("Prometheus annotations %v, want scrape true, port %d, path /metrics", ann, httpPort)
	}

	headless := find(t, ms, "Service", sts.Spec.ServiceName)
	if headless.Spec.ClusterIP != "None" || !headless.Spec.PublishNotReadyAddresses {
		t.Errorf("Service %s must be headless and publish not-ready pods", headless.Metadata.Name)
	}
	wantAdv := fmt.Sprintf("$(POD_NAME).%s.$(POD_NAMESPACE).svc.cluster.local:%d", sts.Spec.ServiceName, kafka)
	if eff["advertised-addr"] != wantAdv {
		t.Errorf("advertised address %q, want %q", eff["advertised-addr"], wantAdv)
	}
	if eff["advertised-listeners"] != "" {
		t.Errorf("--advertised-listeners=%q: the one listener advertises --advertised-addr", eff["advertised-listeners"])
	}
	for _, e := range c.Env {
		if (e.Name == "POD_NAME" || e.Name == "POD_NAMESPACE") && (e.ValueFrom == nil || e.ValueFrom.FieldRef == nil ||
			e.ValueFrom.FieldRef.FieldPath != map[string]string{"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace"}[e.Name]) {
			t.Errorf("%s does not come from the pod's metadata", e.Name)
		}
	}
	for _, svc := range []string{sts.Spec.ServiceName, "strata"} {
		s := find(t, ms, "Service", svc)
		if !selects(stringMap(t, s.Spec.Selector), labels) {
			t.Errorf("Service %s selects %v, not the broker pods %v", svc, s.Spec.Selector, labels)
		}
		if len(s.Spec.Ports) != 1 || s.Spec.Ports[0].TargetPort != kafkaName || s.Spec.Ports[0].Port != kafka {
			t.Errorf("Service %s ports %+v, want %d to the %s port", svc, s.Spec.Ports, kafka, kafkaName)
		}
	}

	// The WAL is on the pod's own volume, writable by the image's user.
	mounted := ""
	for _, vm := range c.VolumeMounts {
		if len(sts.Spec.VolumeClaimTemplates) == 1 && vm.Name == sts.Spec.VolumeClaimTemplates[0].Metadata.Name {
			mounted = vm.MountPath
		}
	}
	if mounted == "" || mounted != eff["data-dir"] {
		t.Errorf("the data directory %s is not the volume claim's mount %q", eff["data-dir"], mounted)
	}
	uid, _, _ := strings.Cut(d.user, ":")
	sc := pod.Spec.SecurityContext
	if !sc.RunAsNonRoot || sc.RunAsUser == nil || strconv.Itoa(*sc.RunAsUser) != uid || sc.FSGroup == nil || strconv.Itoa(*sc.FSGroup) != uid {
		t.Errorf("pod security context %+v, want non-root, user and fsGroup %s as in the image", sc, uid)
	}
	csc := c.SecurityContext
	if !csc.ReadOnlyRootFilesystem || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation || !slices.Equal(csc.Capabilities.Drop, []string{"ALL"}) {
		t.Errorf("container security context %+v, want a read-only root, no privilege escalation, no capabilities", csc)
	}

	// Graceful termination: room for sealing, uploading and hand-off.
	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || *g < 60 {
		t.Errorf("terminationGracePeriodSeconds %v, want at least 60", g)
	}
	pdb := find(t, ms, "PodDisruptionBudget", "strata")
	if !selects(matchLabels(t, pdb), labels) || pdb.Spec.MaxUnavailable != 1 {
		t.Errorf("the brokers' budget selects %v with maxUnavailable %v; want the broker pods, 1", pdb.Spec.Selector, pdb.Spec.MaxUnavailable)
	}

	// etcd endpoints name the etcd StatefulSet's pods on its client port.
	etcd := find(t, ms, "StatefulSet", "etcd")
	clientPort := etcd.Spec.Template.Spec.Containers[0].port(t, "client")
	var want []string
	for i := range etcd.Spec.Replicas {
		want = append(want, fmt.Sprintf("http://etcd-%d.%s:%d", i, etcd.Spec.ServiceName, clientPort))
	}
	if eff["etcd-endpoints"] != strings.Join(want, ",") {
		t.Errorf("--etcd-endpoints %q, want every etcd pod: %q", eff["etcd-endpoints"], strings.Join(want, ","))
	}
	if sa := pod.Spec.ServiceAccountName; sa != "" {
		find(t, ms, "ServiceAccount", sa)
	}
}

// TestKubernetesEtcd checks the etcd StatefulSet against the etcd that
// go.mod pins: image tag, flags (parsed by that etcd), the static member
// list, probes on its metrics listener, and a budget that keeps a quorum.
func TestKubernetesEtcd(t *testing.T) {
	etcdBin := testenv.Require(t, "etcd", "run `make tools`")
	ms := loadManifests(t)
	sts := find(t, ms, "StatefulSet", "etcd")
	c := &sts.Spec.Template.Spec.Containers[0]

	ver := regexp.MustCompile(`go\.etcd\.io/etcd/server/v3 (v\S+)`).FindStringSubmatch(goMod(t))
	if ver == nil || !strings.HasSuffix(c.Image, ":"+ver[1]) {
		t.Errorf("etcd image %s, want the version go.mod tests against (%v)", c.Image, ver)
	}
	if !slices.Equal(c.Command, []string{"/usr/local/bin/etcd"}) {
		t.Errorf("etcd command %q", c.Command)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	out, err := exec.CommandContext(ctx, etcdBin, append(append([]string{}, c.Args...), "--help")...).CombinedOutput()
	cancel()
	if err != nil {
		t.Errorf("etcd refuses the StatefulSet's arguments: %v\n%s", err, bytes.TrimSpace(out[max(0, len(out)-300):]))
	}
	vals := testenv.FlagValues(t, "etcd args", c.Args)
	host := func(pod string) string {
		return fmt.Sprintf("%s.%s.$(POD_NAMESPACE).svc.cluster.local", pod, sts.Spec.ServiceName)
	}
	var members []string
	for i := range sts.Spec.Replicas {
		pod := fmt.Sprintf("%s-%d", sts.Metadata.Name, i)
		members = append(members, fmt.Sprintf("%s=http://%s:%d", pod, host(pod), c.port(t, "peer")))
	}
	want := map[string]string{
		"name":                        "$(POD_NAME)",
		"initial-cluster":             strings.Join(members, ","),
		"initial-advertise-peer-urls": fmt.Sprintf("http://%s:%d", host("$(POD_NAME)"), c.port(t, "peer")),
		"advertise-client-urls":       fmt.Sprintf("http://%s:%d", host("$(POD_NAME)"), c.port(t, "client")),
		"listen-metrics-urls":         fmt.Sprintf("http://0.0.0.0:%d", c.port(t, "metrics")),
	}
	for k, w := range want {
		if vals[k] != w {
			t.Errorf("--%s=%q, want %q", k, vals[k], w)
		}
	}
	if sts.Spec.Replicas != 3 {
		t.Errorf("%d etcd members, want 3", sts.Spec.Replicas)
	}
	metrics := c.port(t, "metrics")
	for which, p := range map[string]*probe{"startup": c.StartupProbe, "liveness": c.LivenessProbe, "readiness": c.ReadinessProbe} {
		path, port := c.probePath(t, which, p)
		if port != metrics || (which == "readiness") != (path == "/readyz") || (which != "readiness" && path != "/livez") {
			t.Errorf("etcd %s probe %s on %d, want /livez (or /readyz for readiness) on the metrics port %d", which, path, port, metrics)
		}
	}
	svc := find(t, ms, "Service", sts.Spec.ServiceName)
	if svc.Spec.ClusterIP != "None" || !svc.Spec.PublishNotReadyAddresses || !selects(stringMap(t, svc.Spec.Selector), sts.Spec.Template.Metadata.Labels) {
		t.Errorf("Service %s must be headless, publish not-ready members and select the etcd pods", svc.Metadata.Name)
	}
	pdb := find(t, ms, "PodDisruptionBudget", "etcd")
	if !selects(matchLabels(t, pdb), sts.Spec.Template.Metadata.Labels) || pdb.Spec.MaxUnavailable != 1 {
		t.Errorf("etcd's budget %v / %v: want the etcd pods, one at a time (a quorum of 3 stays)", pdb.Spec.Selector, pdb.Spec.MaxUnavailable)
	}
	if ann := sts.Spec.Template.Metadata.Annotations; ann["prometheus.io/port"] != strconv.Itoa(metrics) {
		t.Errorf("etcd's scrape port %q, want %d", ann["prometheus.io/port"], metrics)
	}
}

// TestTrialMinIOMatchesTheBrokers: the trial MinIO's Service is where the
// ConfigMap's object store points, with the Secret the brokers read.
func TestTrialMinIOMatchesTheBrokers(t *testing.T) {
	ms := loadManifests(t)
	cm := find(t, ms, "ConfigMap", "strata")
	svc := find(t, ms, "Service", "minio")
	sec := find(t, ms, "Secret", "strata-object-store")
	want := fmt.Sprintf("endpoint=minio:%d&insecure=true", svc.Spec.Ports[0].Port)
	if u := cm.Data["STRATA_OBJECT_STORE"]; !strings.Contains(u, want) {
		t.Errorf("STRATA_OBJECT_STORE %q does not name the trial MinIO (%s)", u, want)
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} {
		if sec.StringData[k] == "" {
			t.Errorf("Secret strata-object-store has no %s", k)
		}
	}
}

// TestProbePathsAreServed starts a real broker and a real etcd and asks
// them for every path the manifests probe or scrape: they must answer 200.
func TestProbePathsAreServed(t *testing.T) {
	ms := loadManifests(t)
	bin := strataBin
	etcdBin := testenv.Require(t, "etcd", "run `make tools`")

	paths := func(sts *manifest) []string {
		c := &sts.Spec.Template.Spec.Containers[0]
		var out []string
		for _, p := range []*probe{c.StartupProbe, c.LivenessProbe, c.ReadinessProbe} {
			if p != nil && p.HTTPGet != nil {
				out = append(out, p.HTTPGet.Path)
			}
		}
		return append(out, sts.Spec.Template.Metadata.Annotations["prometheus.io/path"])
	}

	httpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	testenv.Start(t, "strata", nil, bin, "serve", "--data-dir", t.TempDir(),
		"--listen", fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)), "--http-listen", httpAddr)
	testenv.WaitHTTP(t, "http://"+httpAddr+"/readyz", 60*time.Second)
	for _, p := range paths(find(t, ms, "StatefulSet", "strata")) {
		get(t, "http://"+httpAddr+p)
	}

	client := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	peer := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	metrics := fmt.Sprintf("http://127.0.0.1:%d", testenv.FreePort(t))
	testenv.Start(t, "etcd", nil, etcdBin, "--name", "m0", "--data-dir", t.TempDir(),
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "m0="+peer, "--listen-metrics-urls", metrics, "--log-level", "warn")
	testenv.WaitHTTP(t, metrics+"/readyz", 60*time.Second)
	for _, p := range paths(find(t, ms, "StatefulSet", "etcd")) {
		get(t, metrics+p)
	}
}

func get(t *testing.T, url string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Errorf("GET %s: %v", url, err)
		return
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("GET %s: %s", url, resp.Status)
	}
}

// execStart returns the words of the ExecStart line of systemd/name.
func execStart(t *testing.T, name string) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("systemd", name))
	if err != nil {
		t.Fatal(err)
	}
	return testenv.ExecStart(t, string(raw))
}

// TestSystemdUnits checks the single-machine units' command lines with
// strata serve and etcd themselves.
func TestSystemdUnits(t *testing.T) {
	bin := strataBin
	flags := testenv.ServeFlags(t, bin)
	args := execStart(t, "strata.service")
	if len(args) < 2 || args[0] != "/usr/local/bin/strata" || args[1] != "serve" {
		t.Fatalf("strata.service runs %q", args)
	}
	for k := range testenv.FlagValues(t, "strata.service", args[2:]) {
		if _, ok := flags[k]; !ok {
			t.Errorf("strata.service passes --%s, which strata serve --help does not list", k)
		}
	}
	if err := testenv.CheckServeArgs(bin, args[2:]); err != nil {
		t.Errorf("strata serve refuses strata.service's command line: %v", err)
	}
	vals := testenv.FlagValues(t, "strata.service", args[2:])

	etcdBin := testenv.Require(t, "etcd", "run `make tools`")
	eargs := execStart(t, "etcd.service")
	if eargs[0] != "/usr/local/bin/etcd" {
		t.Fatalf("etcd.service runs %q", eargs)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	out, err := exec.CommandContext(ctx, etcdBin, append(eargs[1:], "--help")...).CombinedOutput()
	cancel()
	if err != nil {
		t.Errorf("etcd refuses etcd.service's command line: %v\n%s", err, bytes.TrimSpace(out[max(0, len(out)-300):]))
	}
	evals := testenv.FlagValues(t, "etcd.service", eargs[1:])
	if vals["etcd-endpoints"] != evals["advertise-client-urls"] {
		t.Errorf("strata.service uses etcd at %q, etcd.service advertises %q", vals["etcd-endpoints"], evals["advertise-client-urls"])
	}
}

package terraform_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2"
	"github.com/zclconf/go-cty/cty"
	"gopkg.in/yaml.v3"

	"github.com/strata-io/strata/broker"
	"github.com/strata-io/strata/internal/testenv"
	"github.com/strata-io/strata/internal/tfmodule"
)

// strataBin is the strata binary, built once by TestMain.
var strataBin string

func TestMain(m *testing.M) { testenv.RunWithStrata(m, &strataBin) }

// The configurations under test: reusable modules, and examples (root
// modules) that call them.
var (
	moduleDirs  = []string{"modules/aws", "modules/minio"}
	exampleDirs = []string{"examples/minimal", "examples/production", "examples/minio"}
)

func load(t *testing.T, dir string) *tfmodule.Module {
	t.Helper()
	m, err := tfmodule.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestConfigurationsAreDeclaredAndDocumented checks each module and example
// for what terraform validate and a reviewer would: typed, described and
// validated variables, described outputs, pinned providers in versions.tf,
// references to declared names only, module arguments the callee declares,
// template variables that match, and a README whose generated part is
// current.
func TestConfigurationsAreDeclaredAndDocumented(t *testing.T) {
	for _, dir := range append(append([]string{}, moduleDirs...), exampleDirs...) {
		t.Run(dir, func(t *testing.T) {
			m := load(t, dir)
			isModule := strings.HasPrefix(dir, "modules/")

			if len(m.Variables) == 0 && isModule {
				t.Error("a module without variables")
			}
			for _, v := range m.Variables {
				if v.File != "variables.tf" {
					t.Errorf("variable %s is in %s, not variables.tf", v.Name, v.File)
				}
				if v.Type == "" {
					t.Errorf("variable %s has no type", v.Name)
				}
				if !strings.HasSuffix(v.Description, ".") || len(v.Description) < 10 {
					t.Errorf("variable %s: description %q is not a sentence", v.Name, v.Description)
				}
				if v.Validations == 0 && v.Type != "bool" {
					t.Errorf("variable %s (%s) has no validation block", v.Name, v.Type)
				}
			}
			for _, o := range m.Outputs {
				if o.File != "outputs.tf" {
					t.Errorf("output %s is in %s, not outputs.tf", o.Name, o.File)
				}
				if !strings.HasSuffix(o.Description, ".") || len(o.Description) < 10 {
					t.Errorf("output %s: description %q is not a sentence", o.Name, o.Description)
				}
			}

			if m.VersionsFile != "versions.tf" {
				t.Errorf("the terraform block is in %q, want versions.tf", m.VersionsFile)
			}
			if m.RequiredVersion == "" {
				t.Error("versions.tf pins no required_version")
			}
			declared := map[string]bool{}
			for _, p := range m.Providers {
				declared[p.Name] = true
				if p.Source == "" || p.Version == "" {
					t.Errorf("required provider %s needs both source and version, got %+v", p.Name, p)
				}
				if !strings.Contains(p.Version, "<") && !strings.HasPrefix(p.Version, "~>") {
					t.Errorf("required provider %s version %q has no upper bound", p.Name, p.Version)
				}
			}
			used := map[string]bool{}
			for _, r := range m.Resources {
				local, _, _ := strings.Cut(r.Type, "_")
				used[local] = true
			}
			for _, p := range m.ProviderBlocks {
				used[p] = true
			}
			for p := range used {
				if !declared[p] {
					t.Errorf("provider %s is used but not in required_providers", p)
				}
			}
			if isModule {
				if len(m.ProviderBlocks) > 0 {
					t.Errorf("a reusable module configures providers %v; leave that to the caller", m.ProviderBlocks)
				}
				if m.Backend != "" {
					t.Errorf("a reusable module declares a %s backend", m.Backend)
				}
			}

			for _, p := range m.UndeclaredReferences() {
				t.Error(p)
			}
			checkModuleCalls(t, m)
			checkTemplateVariables(t, m)

			readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
			if err != nil {
				t.Fatal(err)
			}
			want, err := tfmodule.Splice(string(readme), m.Markdown())
			if err != nil {
				t.Fatalf("README.md: %v", err)
			}
			if want != string(readme) {
				t.Error("README.md's generated tables are out of date: run `make tfdocs`")
			}
		})
	}
}

// checkModuleCalls: every argument is a variable of the called module and
// every required variable is given.
func checkModuleCalls(t *testing.T, m *tfmodule.Module) {
	t.Helper()
	for _, c := range m.ModuleCalls {
		dir := m.LocalSource(c)
		if dir == "" {
			t.Errorf("module %s: source %q is not local; examples call this repository's modules", c.Name, c.Source)
			continue
		}
		callee, err := tfmodule.Load(dir)
		if err != nil {
			t.Errorf("module %s: %v", c.Name, err)
			continue
		}
		for name, a := range c.Args {
			if callee.Variable(name) == nil {
				t.Errorf("%s:%d: module %s: %s has no variable %q", filepath.Base(a.SrcRange.Filename), a.SrcRange.Start.Line, c.Name, c.Source, name)
			}
		}
		for _, v := range callee.Variables {
			if _, given := c.Args[v.Name]; v.Required() && !given {
				t.Errorf("module %s: required variable %s of %s is not given", c.Name, v.Name, c.Source)
			}
		}
	}
}

// checkTemplateVariables: a templatefile call gives exactly the variables
// its template uses (a missing one fails the plan; an extra one is a
// mistake in waiting).
func checkTemplateVariables(t *testing.T, m *tfmodule.Module) {
	t.Helper()
	calls, problems := m.TemplateCalls()
	for _, p := range problems {
		t.Error(p)
	}
	for _, c := range calls {
		tmpl, err := m.LoadTemplate(c.Path)
		if err != nil {
			t.Errorf("templatefile %s: %v", c.Path, err)
			continue
		}
		uses := tmpl.Variables()
		for _, name := range uses {
			if _, ok := c.Vars[name]; !ok {
				t.Errorf("template %s uses ${%s}, which the templatefile call at %s does not give", c.Path, name, c.Range)
			}
		}
		for name := range c.Vars {
			if !slices.Contains(uses, name) {
				t.Errorf("templatefile call for %s gives %s, which the template does not use", c.Path, name)
			}
		}
	}
}

// TestVariableValidations evaluates every variable's validation blocks: the
// default passes them, and each value below is refused or accepted as the
// table says, so that a validation that cannot fail is caught too.
func TestVariableValidations(t *testing.T) {
	for _, dir := range append(append([]string{}, moduleDirs...), exampleDirs...) {
		m := load(t, dir)
		for _, v := range m.Variables {
			if !v.HasDefault {
				continue
			}
			val, err := v.DefaultValue()
			if err != nil {
				t.Errorf("%s: %v", dir, err)
				continue
			}
			failed, err := v.Validate(val)
			if err != nil {
				t.Errorf("%s: %v", dir, err)
			} else if len(failed) > 0 {
				t.Errorf("%s: the default of %s fails its own validation: %v", dir, v.Name, failed)
			}
		}
	}

	str, num := cty.StringVal, cty.NumberIntVal
	list := func(s ...string) cty.Value {
		if len(s) == 0 {
			return cty.ListValEmpty(cty.String)
		}
		vals := make([]cty.Value, len(s))
		for i := range s {
			vals[i] = cty.StringVal(s[i])
		}
		return cty.ListVal(vals)
	}
	subnets := func(n int) cty.Value {
		s := make([]string, n)
		for i := range s {
			s[i] = fmt.Sprintf("subnet-0%016x", i+1)
		}
		return list(s...)
	}
	cases := []struct {
		dir, name string
		value     cty.Value
		ok        bool
	}{
		{"modules/aws", "name", str("strata-eu"), true},
		{"modules/aws", "name", str("Strata"), false},
		{"modules/aws", "name", str("strata-"), false},
		{"modules/aws", "name", str("a-name-that-is-far-too-long"), false},
		{"modules/aws", "tags", cty.MapVal(map[string]cty.Value{"aws:owner": str("x")}), false},
		{"modules/aws", "vpc_id", str("vpc-0123456789abcdef0"), true},
		{"modules/aws", "vpc_id", str("vpc0123"), false},
		{"modules/aws", "broker_subnet_ids", subnets(3), true},
		{"modules/aws", "broker_subnet_ids", subnets(1), false},
		{"modules/aws", "etcd_subnet_ids", subnets(3), true},
		{"modules/aws", "etcd_subnet_ids", subnets(2), false},
		{"modules/aws", "etcd_subnet_ids", list("subnet-x", "subnet-y", "subnet-z"), false},
		{"modules/aws", "etcd_private_ips", list("10.0.1.10", "10.0.2.10", "10.0.3.10"), true},
		{"modules/aws", "etcd_private_ips", list("10.0.1.10", "10.0.2.10"), false},
		{"modules/aws", "etcd_private_ips", list("10.0.1.10", "10.0.2.10", "10.0.3.300"), false},
		{"modules/aws", "etcd_host_number", num(3), false},
		{"modules/aws", "client_cidr_blocks", list("10.0.0.0/16", "192.168.1.0/24"), true},
		{"modules/aws", "client_cidr_blocks", list("0.0.0.0/0"), false},
		{"modules/aws", "client_cidr_blocks", list(), false},
		{"modules/aws", "client_cidr_blocks", list("10.0.0.0"), false},
		{"modules/aws", "metrics_cidr_blocks", list("0.0.0.0/0"), false},
		{"modules/aws", "bucket_name", str("my-strata-bucket"), true},
		{"modules/aws", "bucket_name", str("my.strata.bucket"), false},
		{"modules/aws", "bucket_name", str("My-Bucket"), false},
		{"modules/aws", "kms_key_arn", str("arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"), true},
		{"modules/aws", "kms_key_arn", str("alias/strata"), false},
		{"modules/aws", "architecture", str("amd64"), false},
		{"modules/aws", "strata_binary_url", str("http://example.com/strata"), false},
		{"modules/aws", "strata_binary_sha256", str(strings.Repeat("ab", 32)), true},
		{"modules/aws", "strata_binary_sha256", str("abc"), false},
		{"modules/aws", "broker_count", num(0), false},
		{"modules/aws", "broker_count", cty.NumberFloatVal(2.5), false},
		{"modules/aws", "broker_health_check_type", str("elb"), false},
		{"modules/aws", "kafka_port", num(2379), false},
		{"modules/aws", "http_port", num(80), false},
		{"modules/aws", "session_ttl", str("10s"), true},
		{"modules/aws", "session_ttl", str("1500ms"), false},
		{"modules/aws", "session_ttl", str("1m"), false},
		{"modules/aws", "cache_bytes", str("512MiB"), true},
		{"modules/aws", "cache_bytes", str("1GB"), false},
		{"modules/aws", "log_level", str("trace"), false},
		{"modules/aws", "etcd_version", str("v3.6.5"), false},
		{"modules/aws", "etcd_version", str("3.4.30"), false},
		{"modules/aws", "etcd_sha256", cty.MapVal(map[string]cty.Value{"amd64": str(strings.Repeat("a", 64))}), false},
		{"modules/aws", "etcd_download_url", str("https://mirror.example.com/etcd/"), false},
		{"modules/aws", "etcd_quota_backend_gib", num(16), false},
		{"modules/aws", "etcd_initial_cluster_state", str("existing"), true},
		{"modules/aws", "etcd_initial_cluster_state", str("join"), false},
		{"modules/aws", "security_protocol", str("SASL_SSL"), true},
		{"modules/aws", "security_protocol", str("SASL_PLAINTEXT"), false},
		{"modules/aws", "security_protocol", str("sasl_ssl"), false},
		{"modules/aws", "tls_certificate_arn", str(testCertARN), true},
		{"modules/aws", "tls_private_key_arn", str(testKeyARN), true},
		{"modules/aws", "tls_private_key_arn", str("/etc/strata/tls.key"), false},
		{"modules/aws", "tls_client_ca_arn", str("arn:aws:s3:::bucket/ca.pem"), false},
		{"modules/aws", "sasl_bootstrap_users_arn", str("admin:secret"), false},
		{"modules/aws", "secrets_kms_key_arn", str("alias/aws/secretsmanager"), false},
		{"modules/aws", "tls_client_auth", str("optional"), false},
		{"modules/aws", "sasl_enabled_mechanisms", list("SCRAM-SHA-512"), true},
		{"modules/aws", "sasl_enabled_mechanisms", list("GSSAPI"), false},
		{"modules/aws", "sasl_enabled_mechanisms", list(), false},
		{"modules/aws", "connections_max_reauth", str("1h"), true},
		{"modules/aws", "connections_max_reauth", str("1 hour"), false},
		{"modules/aws", "super_users", list("User:admin", "User:CN=ops,O=corp"), true},
		{"modules/aws", "super_users", list("admin"), false},
		{"modules/aws", "super_users", list("User:a;User:b"), false},
		{"examples/production", "super_users", list(), false},
		{"examples/production", "sasl_bootstrap_users_arn", str(testUsersARN), true},
		{"examples/production", "sasl_bootstrap_users_arn", str("admin:admin-secret"), false},
		{"modules/minio", "endpoint", str("minio.internal:9000"), true},
		{"modules/minio", "endpoint", str("[::1]:9000"), true},
		{"modules/minio", "endpoint", str("http://minio.internal:9000"), false},
		{"modules/minio", "endpoint", str("minio.internal"), false},
		{"modules/minio", "bucket_name", str("strata"), true},
		{"modules/minio", "bucket_name", str("st"), false},
		{"modules/minio", "user_name", str("a b"), false},
		{"examples/production", "private_subnet_ids", subnets(2), false},
		{"examples/minimal", "strata_binary_url", str("ftp://x"), false},
	}
	modules := map[string]*tfmodule.Module{}
	for _, c := range cases {
		m, ok := modules[c.dir]
		if !ok {
			m = load(t, c.dir)
			modules[c.dir] = m
		}
		v := m.Variable(c.name)
		if v == nil {
			t.Errorf("%s has no variable %s", c.dir, c.name)
			continue
		}
		val, err := v.Convert(c.value)
		if err != nil {
			t.Errorf("%s: %v", c.dir, err)
			continue
		}
		failed, err := v.Validate(val)
		switch {
		case err != nil:
			t.Errorf("%s: %v", c.dir, err)
		case c.ok && len(failed) > 0:
			t.Errorf("%s: %s = %s is refused: %v", c.dir, c.name, c.value.GoString(), failed)
		case !c.ok && len(failed) == 0:
			t.Errorf("%s: %s = %s is accepted; want it refused", c.dir, c.name, c.value.GoString())
		}
	}
}

// The values the AWS module is evaluated with: its required variables, and
// what the resources and data sources it reads would return.
const (
	testBucket = "strata-test-bucket"
	testRegion = "eu-west-1"
	testKMSKey = "arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
)

var testEtcdSubnets = []string{"10.0.1.0/24", "10.0.2.0/24", "10.0.3.0/24"}

func awsInputs(kms bool) map[string]cty.Value {
	in := map[string]cty.Value{
		"vpc_id":               cty.StringVal("vpc-0123456789abcdef0"),
		"broker_subnet_ids":    cty.ListVal([]cty.Value{cty.StringVal("subnet-0aaaaaaaaaaaaaaaa"), cty.StringVal("subnet-0bbbbbbbbbbbbbbbb"), cty.StringVal("subnet-0cccccccccccccccc")}),
		"etcd_subnet_ids":      cty.ListVal([]cty.Value{cty.StringVal("subnet-0aaaaaaaaaaaaaaaa"), cty.StringVal("subnet-0bbbbbbbbbbbbbbbb"), cty.StringVal("subnet-0cccccccccccccccc")}),
		"client_cidr_blocks":   cty.ListVal([]cty.Value{cty.StringVal("10.0.0.0/16")}),
		"strata_binary_url":    cty.StringVal("https://artifacts.example.com/strata"),
		"strata_binary_sha256": cty.StringVal(strings.Repeat("0123456789abcdef", 4)),
	}
	if kms {
		in["kms_key_arn"] = cty.StringVal(testKMSKey)
	}
	return in
}

// awsContext is an evaluation context of the AWS module: var from inputs,
// the bucket, region, partition, etcd subnets and AMI as AWS would give
// them, and every local that can be evaluated from those.
func awsContext(t *testing.T, m *tfmodule.Module, inputs map[string]cty.Value) *hcl.EvalContext {
	t.Helper()
	vars, err := m.Inputs(inputs)
	if err != nil {
		t.Fatal(err)
	}
	subnets := make([]cty.Value, len(testEtcdSubnets))
	for i, c := range testEtcdSubnets {
		subnets[i] = cty.ObjectVal(map[string]cty.Value{"cidr_block": cty.StringVal(c)})
	}
	obj := func(m map[string]cty.Value) cty.Value { return cty.ObjectVal(m) }
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var":  cty.ObjectVal(vars),
			"path": obj(map[string]cty.Value{"module": cty.StringVal(m.Dir)}),
			"aws_s3_bucket": obj(map[string]cty.Value{"this": obj(map[string]cty.Value{
				"id":  cty.StringVal(testBucket),
				"arn": cty.StringVal("arn:aws:s3:::" + testBucket),
			})}),
			"data": obj(map[string]cty.Value{
				"aws_region":        obj(map[string]cty.Value{"current": obj(map[string]cty.Value{"name": cty.StringVal(testRegion)})}),
				"aws_partition":     obj(map[string]cty.Value{"current": obj(map[string]cty.Value{"partition": cty.StringVal("aws"), "dns_suffix": cty.StringVal("amazonaws.com")})}),
				"aws_subnet":        obj(map[string]cty.Value{"etcd": cty.TupleVal(subnets)}),
				"aws_ssm_parameter": obj(map[string]cty.Value{"al2023": cty.TupleVal([]cty.Value{obj(map[string]cty.Value{"insecure_value": cty.StringVal("ami-0123456789abcdef0")})})}),
			}),
		},
		Functions: tfmodule.Functions(),
	}
	return m.EvalLocals(ctx, nil)
}

func localValue(t *testing.T, ctx *hcl.EvalContext, name string) cty.Value {
	t.Helper()
	return reference(t, ctx, "local", name)
}

// reference is the value of root.name (local.x, var.x) in ctx.
func reference(t *testing.T, ctx *hcl.EvalContext, root, name string) cty.Value {
	t.Helper()
	v, diags := hcl.Traversal{hcl.TraverseRoot{Name: root}, hcl.TraverseAttr{Name: name}}.TraverseAbs(ctx)
	if diags.HasErrors() {
		t.Fatalf("%s.%s cannot be evaluated offline: %s", root, name, diags.Error())
	}
	return v
}

// render evaluates the module's templatefile call for path in ctx (with
// count.index = index) and returns the rendered text.
func render(t *testing.T, m *tfmodule.Module, ctx *hcl.EvalContext, path string, index int) string {
	t.Helper()
	calls, problems := m.TemplateCalls()
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	c := ctx.NewChild()
	c.Variables = map[string]cty.Value{"count": cty.ObjectVal(map[string]cty.Value{"index": cty.NumberIntVal(int64(index))})}
	for _, call := range calls {
		if call.Path != path {
			continue
		}
		vars := map[string]cty.Value{}
		for name, e := range call.Vars {
			v, err := tfmodule.Eval(e, c)
			if err != nil {
				t.Fatalf("template variable %s of %s: %v", name, path, err)
			}
			vars[name] = v
		}
		tmpl, err := m.LoadTemplate(path)
		if err != nil {
			t.Fatal(err)
		}
		out, err := tfmodule.Eval(tmpl.Expr, &hcl.EvalContext{Variables: vars, Functions: tfmodule.Functions()})
		if err != nil {
			t.Fatalf("render %s: %v", path, err)
		}
		return out.AsString()
	}
	t.Fatalf("no templatefile call for %s", path)
	return ""
}

// cloudConfig is the part of a cloud-init #cloud-config document that the
// templates use.
type cloudConfig struct {
	WriteFiles []struct {
		Path        string `yaml:"path"`
		Permissions string `yaml:"permissions"`
		Content     string `yaml:"content"`
	} `yaml:"write_files"`
	Runcmd []any `yaml:"runcmd"`
}

func parseCloudConfig(t *testing.T, doc string) cloudConfig {
	t.Helper()
	if !strings.HasPrefix(doc, "#cloud-config\n") {
		t.Fatalf("user data does not start with #cloud-config:\n%s", doc)
	}
	var cc cloudConfig
	dec := yaml.NewDecoder(strings.NewReader(doc))
	dec.KnownFields(true)
	if err := dec.Decode(&cc); err != nil {
		t.Fatalf("user data is not valid cloud-config YAML: %v\n%s", err, doc)
	}
	if len(cc.Runcmd) == 0 {
		t.Error("cloud-config runs nothing (runcmd is empty)")
	}
	return cc
}

func (cc cloudConfig) file(t *testing.T, path string) string {
	t.Helper()
	for _, f := range cc.WriteFiles {
		if f.Path == path {
			return f.Content
		}
	}
	t.Fatalf("cloud-config writes no %s", path)
	return ""
}

func input(t *testing.T, ctx *hcl.EvalContext, name string) cty.Value {
	t.Helper()
	return reference(t, ctx, "var", name)
}

func inputInt(t *testing.T, ctx *hcl.EvalContext, name string) int {
	t.Helper()
	n, _ := input(t, ctx, name).AsBigFloat().Int64()
	return int(n)
}

var strataEnvName = regexp.MustCompile(`\bSTRATA_[A-Z0-9_]+`)

// The secure inputs of the AWS module: SASL_SSL with the certificate in
// Secrets Manager, its key and the bootstrap users in SSM, a customer key
// for them, the authorizer with two super users, and HTTPS on the HTTP port.
const (
	testCertARN       = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:strata/tls-crt-AbCdEf"
	testKeyARN        = "arn:aws:ssm:eu-west-1:123456789012:parameter/strata/tls.key"
	testUsersARN      = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:strata/bootstrap-users-XyZ123"
	testSecretsKMSKey = "arn:aws:kms:eu-west-1:123456789012:key/abcd1234-ab12-cd34-ef56-abcdef123456"
)

func secureAWSInputs(kms bool) map[string]cty.Value {
	in := awsInputs(kms)
	in["security_protocol"] = cty.StringVal("SASL_SSL")
	in["tls_certificate_arn"] = cty.StringVal(testCertARN)
	in["tls_private_key_arn"] = cty.StringVal(testKeyARN)
	in["sasl_bootstrap_users_arn"] = cty.StringVal(testUsersARN)
	in["secrets_kms_key_arn"] = cty.StringVal(testSecretsKMSKey)
	in["authorizer"] = cty.True
	in["super_users"] = cty.ListVal([]cty.Value{cty.StringVal("User:admin"), cty.StringVal("User:CN=ops,O=corp")})
	in["http_tls"] = cty.True
	in["advertise_private_dns_name"] = cty.True
	return in
}

// envFile parses a systemd EnvironmentFile's KEY=VALUE lines.
func envFile(t *testing.T, content string) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, l := range strings.Split(content, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		k, v, ok := strings.Cut(l, "=")
		if !ok || strings.ContainsAny(v, `"'\$`) {
			t.Errorf("environment file line %q is not KEY=VALUE without quotes, backslashes or $", l)
			continue
		}
		env[k] = v
	}
	return env
}

// brokerUnit is what a broker's user data starts: the ExecStart flags, the
// security environment file's variables, the unit and the whole document.
type brokerUnit struct {
	doc, unit string
	cc        cloudConfig
	args      []string          // after "strata serve"
	flags     map[string]string // ExecStart's, then the environment file's where ExecStart has none
	env       map[string]string // /etc/strata/strata.env
}

func renderBroker(t *testing.T, m *tfmodule.Module, ctx *hcl.EvalContext, serveFlags map[string]testenv.ServeFlag) brokerUnit {
	t.Helper()
	var b brokerUnit
	b.doc = render(t, m, ctx, "templates/broker.yaml.tftpl", 0)
	b.cc = parseCloudConfig(t, b.doc)
	b.unit = b.cc.file(t, "/etc/systemd/system/strata.service")
	args := testenv.ExecStart(t, b.unit)
	if len(args) < 2 || args[0] != "/usr/local/bin/strata" || args[1] != "serve" {
		t.Fatalf("ExecStart runs %v, want /usr/local/bin/strata serve ...", args)
	}
	b.args = args[2:]
	b.flags = testenv.FlagValues(t, "ExecStart", b.args)
	if !strings.Contains(b.unit, "\nEnvironmentFile=/etc/strata/strata.env\n") {
		t.Error("strata.service does not read /etc/strata/strata.env")
	}
	b.env = envFile(t, b.cc.file(t, "/etc/strata/strata.env"))
	byEnv := map[string]string{}
	for _, f := range serveFlags {
		byEnv[f.Env] = f.Name
	}
	for k, v := range b.env {
		name, ok := byEnv[k]
		if !ok {
			t.Errorf("/etc/strata/strata.env sets %s, the variable of no strata serve flag", k)
			continue
		}
		if _, set := b.flags[name]; !set {
			b.flags[name] = v
		}
	}
	return b
}

// TestBrokerFlagsExistInStrataServe renders the brokers' cloud-init, plain
// and secure, and starts the built strata binary with the unit's command
// line, the environment file's STRATA_* variables (with their values) and
// those the instance script writes, followed by --help: strata's own flag
// set parses every flag and value, or exits with status 2. The listener is
// parsed by the broker's own ParseListeners.
func TestBrokerFlagsExistInStrataServe(t *testing.T) {
	bin := strataBin
	flags := testenv.ServeFlags(t, bin)
	envs := map[string]string{}
	for _, f := range flags {
		envs[f.Env] = f.Name
	}
	m := load(t, "modules/aws")

	for _, tc := range []struct {
		name   string
		inputs map[string]cty.Value
	}{{"plaintext", awsInputs(false)}, {"sasl_ssl", secureAWSInputs(false)}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := awsContext(t, m, tc.inputs)
			b := renderBroker(t, m, ctx, flags)
			vals := b.flags
			for name := range vals {
				if _, ok := flags[name]; !ok {
					t.Errorf("the brokers are started with --%s, which strata serve --help does not list", name)
				}
			}
			// The variables the instance script writes count as flags too.
			var check []string
			for k, v := range vals {
				check = append(check, "--"+k+"="+v)
			}
			seenEnv := map[string]bool{}
			for _, name := range strataEnvName.FindAllString(b.doc, -1) {
				if seenEnv[name] {
					continue
				}
				seenEnv[name] = true
				flag, ok := envs[name]
				if !ok {
					t.Errorf("the brokers' user data sets %s, which is the variable of no strata serve flag", name)
					continue
				}
				if _, given := vals[flag]; !given {
					check = append(check, "--"+flag+"=x") // the instance script's: string flags; any value parses
				}
			}
			if err := testenv.CheckServeArgs(bin, b.args); err != nil {
				t.Errorf("strata serve refuses the brokers' command line: %v", err)
			}
			if err := testenv.CheckServeArgs(bin, check); err != nil {
				t.Errorf("strata serve refuses the brokers' environment: %v", err)
			}

			// Ports: the one listener is on kafka_port with security_protocol,
			// and the load balancer checks /readyz on the HTTP port (over
			// HTTPS with http_tls) and forwards the Kafka port.
			kafka, httpPort := inputInt(t, ctx, "kafka_port"), inputInt(t, ctx, "http_port")
			protocol := input(t, ctx, "security_protocol").AsString()
			if _, ok := vals["listen"]; ok {
				t.Error("the brokers are given --listen, which --listeners overrides")
			}
			ls, err := broker.ParseListeners(vals["listeners"], vals["listener-security-protocol-map"])
			if err != nil || len(ls) != 1 {
				t.Fatalf("--listeners=%q: %v; want one listener", vals["listeners"], err)
			}
			if string(ls[0].Protocol) != protocol || testenv.Port(t, ls[0].Addr) != kafka {
				t.Errorf("listener %+v, want %s on kafka_port %d", ls[0], protocol, kafka)
			}
			if got := testenv.Port(t, vals["http-listen"]); got != httpPort {
				t.Errorf("--http-listen port %d, want http_port %d", got, httpPort)
			}
			httpTLS := input(t, ctx, "http_tls").True()
			if got := vals["http-tls"] == "true"; got != httpTLS {
				t.Errorf("--http-tls=%q, want %v", vals["http-tls"], httpTLS)
			}
			scheme := map[bool]string{false: "HTTP", true: "HTTPS"}[httpTLS]
			tg := m.Resource("aws_lb_target_group.kafka")
			if tg == nil {
				t.Fatal("no aws_lb_target_group.kafka")
			}
			for _, hc := range tg.Block.Body.Blocks {
				if hc.Type != "health_check" {
					continue
				}
				want := map[string]string{"path": "/readyz", "port": strconv.Itoa(httpPort), "protocol": scheme, "matcher": "200"}
				for attr, w := range want {
					a, ok := hc.Body.Attributes[attr]
					if !ok {
						t.Errorf("health_check has no %s", attr)
						continue
					}
					v, err := tfmodule.Eval(a.Expr, ctx)
					if err != nil || v.Type() != cty.String || v.AsString() != w {
						t.Errorf("health_check %s = %s (%v), want %q", attr, m.Source(a.Expr.Range()), err, w)
					}
				}
			}
			for _, addr := range []string{"aws_lb_target_group.kafka", "aws_lb_listener.kafka"} {
				r := m.Resource(addr)
				v, err := tfmodule.Eval(r.Block.Body.Attributes["port"].Expr, ctx)
				if got, _ := v.AsBigFloat().Int64(); err != nil || int(got) != kafka {
					t.Errorf("%s port = %v (%v), want kafka_port %d", addr, v.GoString(), err, kafka)
				}
			}
			if vals["pprof"] != "false" {
				t.Errorf("--pprof=%q: the module's default must keep pprof off", vals["pprof"])
			}
			checkBrokerSecrets(t, b, ls[0].Protocol)

			// --object-store is an s3 URL that objectstore.Open accepts: bucket as
			// host, only the parameters it knows (objectstore/open.go s3URLForm).
			u, err := url.Parse(vals["object-store"])
			if err != nil {
				t.Fatal(err)
			}
			if u.Scheme != "s3" || u.Host != testBucket || u.Path != "" {
				t.Errorf("--object-store %q: want s3://%s?...", vals["object-store"], testBucket)
			}
			q := u.Query()
			for k := range q {
				if !slices.Contains([]string{"endpoint", "insecure", "region"}, k) {
					t.Errorf("--object-store has parameter %q, which objectstore refuses", k)
				}
			}
			if q.Get("region") != testRegion || q.Get("endpoint") != "s3."+testRegion+".amazonaws.com" || q.Has("insecure") {
				t.Errorf("--object-store %q: want the regional endpoint over TLS and region %s", vals["object-store"], testRegion)
			}

			// --etcd-endpoints are the three members' client URLs.
			var want []string
			for i := range 3 {
				want = append(want, fmt.Sprintf("http://10.0.%d.%d:2379", i+1, 10+i))
			}
			if got := vals["etcd-endpoints"]; got != strings.Join(want, ",") {
				t.Errorf("--etcd-endpoints %q, want %q", got, strings.Join(want, ","))
			}
		})
	}
}

// checkBrokerSecrets: a TLS listener has its certificate and key, a SASL
// one its mechanisms, and each secret file the flags name is fetched by
// the secrets script, from the module's ARN, into memory (/run), readable
// by the strata group only, before every start; without TLS no secret is
// fetched at all.
func checkBrokerSecrets(t *testing.T, b brokerUnit, protocol broker.SecurityProtocol) {
	t.Helper()
	files := map[string]string{} // flag -> path
	for _, f := range []string{"tls-cert-file", "tls-key-file", "tls-client-ca-file", "sasl-bootstrap-users"} {
		if p := b.flags[f]; p != "" {
			files[f] = p
		}
	}
	if protocol.TLS() && (files["tls-cert-file"] == "" || files["tls-key-file"] == "") {
		t.Errorf("a %s listener without --tls-cert-file and --tls-key-file", protocol)
	}
	if protocol.SASL() && b.flags["sasl-enabled-mechanisms"] == "" {
		t.Errorf("a %s listener without --sasl-enabled-mechanisms", protocol)
	}
	if len(files) == 0 {
		if strings.Contains(b.doc, "strata-secrets") {
			t.Error("the user data fetches secrets though no flag names a secret file")
		}
		return
	}
	if !strings.Contains(b.unit, "\nExecStartPre=+/usr/local/sbin/strata-secrets\n") {
		t.Error("strata.service does not fetch its secrets before it starts (ExecStartPre=+/usr/local/sbin/strata-secrets)")
	}
	script := b.cc.file(t, "/usr/local/sbin/strata-secrets")
	for _, want := range []string{`install -d -m 0750 -o root -g strata "$dir"`, "umask 077", "chmod 0440", "chgrp strata"} {
		if !strings.Contains(script, want) {
			t.Errorf("the secrets script lacks %q: the secrets must be readable by the strata group only", want)
		}
	}
	fetched := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^fetch (\S+) '([^']+)'$`).FindAllStringSubmatch(script, -1) {
		fetched["/run/strata/secrets/"+m[1]] = m[2]
	}
	arns := map[string]string{"tls-cert-file": testCertARN, "tls-key-file": testKeyARN, "sasl-bootstrap-users": testUsersARN}
	for f, path := range files {
		if !strings.HasPrefix(path, "/run/strata/secrets/") {
			t.Errorf("--%s=%s is not in /run/strata/secrets (memory, fetched at start)", f, path)
		}
		if arn, ok := fetched[path]; !ok {
			t.Errorf("--%s=%s, which the secrets script does not fetch", f, path)
		} else if arns[f] != "" && arn != arns[f] {
			t.Errorf("--%s is fetched from %s, want %s", f, arn, arns[f])
		}
	}
	if len(fetched) != len(files) {
		t.Errorf("the secrets script fetches %v; the flags name %v", fetched, files)
	}
	timer := b.cc.file(t, "/etc/systemd/system/strata-secrets.timer")
	if !strings.Contains(timer, "OnUnitActiveSec=") || !strings.Contains(b.doc, "systemctl enable --now strata-secrets.timer") {
		t.Error("the secrets are not fetched again periodically (strata-secrets.timer), so a rotated certificate is never picked up")
	}
}

// TestProductionExampleIsSecure evaluates the production example's call of
// the AWS module and renders the brokers it configures: SASL_SSL with
// SCRAM only, the authorizer on with super users and nothing allowed that
// no ACL allows, every secret given by ARN (so none is in the state), and
// the brokers' flags saying the same.
func TestProductionExampleIsSecure(t *testing.T) {
	ex := load(t, "examples/production")
	given := map[string]cty.Value{
		"region":                   cty.StringVal(testRegion),
		"vpc_id":                   cty.StringVal("vpc-0123456789abcdef0"),
		"private_subnet_ids":       awsInputs(false)["broker_subnet_ids"],
		"private_route_table_ids":  cty.ListVal([]cty.Value{cty.StringVal("rtb-0123456789abcdef0")}),
		"etcd_private_ips":         cty.ListVal([]cty.Value{cty.StringVal("10.0.1.10"), cty.StringVal("10.0.2.11"), cty.StringVal("10.0.3.12")}),
		"client_cidr_blocks":       cty.ListVal([]cty.Value{cty.StringVal("10.0.0.0/16")}),
		"strata_binary_url":        cty.StringVal("https://artifacts.example.com/strata"),
		"strata_binary_sha256":     cty.StringVal(strings.Repeat("0123456789abcdef", 4)),
		"tls_certificate_arn":      cty.StringVal(testCertARN),
		"tls_private_key_arn":      cty.StringVal(testKeyARN),
		"sasl_bootstrap_users_arn": cty.StringVal(testUsersARN),
	}
	vars, err := ex.Inputs(given)
	if err != nil {
		t.Fatal(err)
	}
	exCtx := &hcl.EvalContext{Variables: map[string]cty.Value{"var": cty.ObjectVal(vars)}, Functions: tfmodule.Functions()}
	call := ex.ModuleCall("strata")
	if call == nil {
		t.Fatal("examples/production calls no module strata")
	}
	modInputs := awsInputs(false)
	for _, name := range []string{"security_protocol", "tls_certificate_arn", "tls_private_key_arn", "sasl_bootstrap_users_arn",
		"sasl_enabled_mechanisms", "authorizer", "super_users", "allow_everyone_if_no_acl_found", "advertise_private_dns_name",
		"secrets_kms_key_arn", "http_tls", "pprof", "kafka_port", "client_cidr_blocks"} {
		a, ok := call.Args[name]
		if !ok {
			continue // the module's default
		}
		v, err := tfmodule.Eval(a.Expr, exCtx)
		if err != nil {
			t.Fatalf("module strata's %s = %s: %v", name, ex.Source(a.Expr.Range()), err)
		}
		modInputs[name] = v
	}
	m := load(t, "modules/aws")
	ctx := awsContext(t, m, modInputs)
	in := func(name string) cty.Value { return input(t, ctx, name) }
	if p := in("security_protocol").AsString(); p != "SASL_SSL" {
		t.Errorf("the production example's security_protocol is %s, want SASL_SSL", p)
	}
	if !in("authorizer").True() || in("allow_everyone_if_no_acl_found").True() {
		t.Error("the production example must turn the authorizer on and leave allow_everyone_if_no_acl_found off")
	}
	if len(strings_(t, in("super_users"), "super_users")) == 0 {
		t.Error("the production example names no super user: nobody could create the first ACL")
	}
	for _, mech := range strings_(t, in("sasl_enabled_mechanisms"), "sasl_enabled_mechanisms") {
		if !strings.HasPrefix(mech, "SCRAM-") {
			t.Errorf("the production example enables %s; SCRAM only", mech)
		}
	}
	for _, name := range []string{"tls_certificate_arn", "tls_private_key_arn", "sasl_bootstrap_users_arn"} {
		if v := in(name); v.IsNull() || !strings.HasPrefix(v.AsString(), "arn:") {
			t.Errorf("the production example's %s is %#v, want the ARN of a secret", name, v)
		}
	}
	if !in("advertise_private_dns_name").True() {
		t.Error("the production example advertises IP addresses, which a certificate rarely names")
	}

	b := renderBroker(t, m, ctx, testenv.ServeFlags(t, strataBin))
	if b.flags["listeners"] != fmt.Sprintf("SASL_SSL://0.0.0.0:%d", inputInt(t, ctx, "kafka_port")) {
		t.Errorf("the production brokers listen on %q, want SASL_SSL only", b.flags["listeners"])
	}
	if b.flags["authorizer"] != "true" || b.flags["super-users"] == "" || b.flags["allow-everyone-if-no-acl-found"] == "true" {
		t.Errorf("the production brokers run --authorizer=%q --super-users=%q --allow-everyone-if-no-acl-found=%q",
			b.flags["authorizer"], b.flags["super-users"], b.flags["allow-everyone-if-no-acl-found"])
	}
	if b.flags["sasl-bootstrap-users"] == "" {
		t.Error("the production brokers have no --sasl-bootstrap-users: no first user could authenticate")
	}
	checkBrokerSecrets(t, b, broker.ProtocolSASLSSL)
}

// secretName is a variable or output name that says it holds a secret.
var secretName = regexp.MustCompile(`password|secret|private_key|bootstrap_users|token|credential`)

// TestNoSecretInClear: no configuration holds a password, key or
// certificate in its text, a variable that may carry one is marked
// sensitive unless it is only the ARN of where the secret is kept, and so
// is an output that carries one.
func TestNoSecretInClear(t *testing.T) {
	literal := regexp.MustCompile(`(?i)(password|passwd|secret_key|private_key|sasl_jaas_config)\s*=\s*"[^"$]+"|-----BEGIN [A-Z ]*PRIVATE KEY-----`)
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if ext := filepath.Ext(path); ext != ".tf" && ext != ".tftpl" && ext != ".tfvars" && ext != ".md" {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, l := range strings.Split(string(src), "\n") {
			if literal.MatchString(l) {
				t.Errorf("%s: %q looks like a secret in clear", path, strings.TrimSpace(l))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, dir := range append(append([]string{}, moduleDirs...), exampleDirs...) {
		m := load(t, dir)
		for _, v := range m.Variables {
			if secretName.MatchString(v.Name) && !strings.HasSuffix(v.Name, "_arn") && !v.Sensitive {
				t.Errorf("%s: variable %s may carry a secret: mark it sensitive, or take the ARN of a secret instead", dir, v.Name)
			}
			if secretName.MatchString(v.Name) && v.HasDefault && v.Default != "null" && !strings.HasSuffix(v.Name, "_arn") {
				t.Errorf("%s: variable %s has a default (%s); a secret has none", dir, v.Name, v.Default)
			}
		}
		for _, o := range m.Outputs {
			src := m.Source(o.Value.Range())
			if (secretName.MatchString(o.Name) || strings.Contains(src, "secret_key") || strings.Contains(src, "password")) && !o.Sensitive {
				t.Errorf("%s: output %s carries a secret (%s) and is not sensitive", dir, o.Name, src)
			}
		}
	}
}

// TestStrataEnvironmentNamesExist checks every STRATA_* name in the
// configurations (the MinIO example's environment file, the templates)
// against strata serve --help.
func TestStrataEnvironmentNamesExist(t *testing.T) {
	bin := strataBin
	envs := map[string]bool{}
	for _, f := range testenv.ServeFlags(t, bin) {
		envs[f.Env] = true
	}
	seen := 0
	err := filepath.WalkDir(".", func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".tf") || strings.HasSuffix(path, ".tftpl")) {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, name := range strataEnvName.FindAllString(string(src), -1) {
			seen++
			if !envs[name] {
				t.Errorf("%s names %s, the variable of no strata serve flag", path, name)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Error("no STRATA_* name found; the scan is broken")
	}
}

// TestEtcdFlagsExistInEtcd renders each member's cloud-init and runs the
// etcd built by `make tools` (the version in go.mod) with the unit's
// command line and --help, which parses every flag without starting.
func TestEtcdFlagsExistInEtcd(t *testing.T) {
	etcd := testenv.Require(t, "etcd", "run `make tools`")
	m := load(t, "modules/aws")
	ctx := awsContext(t, m, awsInputs(false))
	gomod, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	ver := regexp.MustCompile(`go\.etcd\.io/etcd/server/v3 v(\S+)`).FindSubmatch(gomod)
	if got := input(t, ctx, "etcd_version").AsString(); ver == nil || got != string(ver[1]) {
		t.Errorf("the members download etcd %s; go.mod tests Strata against %s", got, ver)
	}
	names := localValue(t, ctx, "etcd_names")
	var peers []string
	for i := range 3 {
		peers = append(peers, fmt.Sprintf("%s=http://10.0.%d.%d:2380", names.Index(cty.NumberIntVal(int64(i))).AsString(), i+1, 10+i))
	}
	for i := range 3 {
		doc := render(t, m, ctx, "templates/etcd.yaml.tftpl", i)
		cc := parseCloudConfig(t, doc)
		args := testenv.ExecStart(t, cc.file(t, "/etc/systemd/system/etcd.service"))
		if args[0] != "/usr/local/bin/etcd" {
			t.Fatalf("member %d runs %s, want /usr/local/bin/etcd", i, args[0])
		}
		vals := testenv.FlagValues(t, "ExecStart", args[1:])
		ip := fmt.Sprintf("10.0.%d.%d", i+1, 10+i)
		want := map[string]string{
			"name":                        names.Index(cty.NumberIntVal(int64(i))).AsString(),
			"initial-cluster":             strings.Join(peers, ","),
			"initial-advertise-peer-urls": "http://" + ip + ":2380",
			"advertise-client-urls":       "http://" + ip + ":2379",
			"initial-cluster-state":       "new",
		}
		for k, w := range want {
			if vals[k] != w {
				t.Errorf("member %d: --%s=%q, want %q", i, k, vals[k], w)
			}
		}
		ctx2, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		out, err := exec.CommandContext(ctx2, etcd, append(args[1:], "--help")...).CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("member %d: etcd refuses its command line: %v\n%s", i, err, lastLines(out, 5))
		}
		sum := input(t, ctx, "etcd_sha256").Index(cty.StringVal("arm64")).AsString()
		if !strings.Contains(doc, sum+"  ") || !strings.Contains(doc, "sha256sum -c") {
			t.Errorf("member %d does not check the etcd download against %s", i, sum)
		}
	}
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// s3Actions maps each minio-go call in objectstore to the IAM actions it
// needs (AWS's "Actions, resources, and condition keys for Amazon S3").
// MakeBucket needs s3:CreateBucket, which neither module grants: the bucket
// exists before a broker starts, so the broker only calls BucketExists.
var s3Actions = map[string][]string{
	"BucketExists":    {"s3:ListBucket"}, // HeadBucket
	"ListObjectsIter": {"s3:ListBucket"},
	"MakeBucket":      nil,
	"PutObject":       {"s3:PutObject", "s3:AbortMultipartUpload"}, // multipart uploads abort on failure
	"RemoveObject":    {"s3:DeleteObject"},
	"StatObject":      {"s3:GetObject"}, // HeadObject
	"GetObject":       {"s3:GetObject"},
}

// bucketActions are the S3 actions on the bucket itself; the others are on
// its objects.
var bucketActions = map[string]bool{"s3:ListBucket": true}

var clientCall = regexp.MustCompile(`\bs\.(?:client|core)\.([A-Z][A-Za-z]*)\(`)

// neededS3Actions reads the object store's S3 implementation and returns
// the actions its calls need.
func neededS3Actions(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(testenv.RepoRoot(t), "objectstore", "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	need := map[string]bool{}
	calls := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range clientCall.FindAllStringSubmatch(string(src), -1) {
			calls++
			actions, ok := s3Actions[m[1]]
			if !ok {
				t.Errorf("%s calls minio-go's %s, which s3Actions does not map to IAM actions: add it, and grant them in both modules", filepath.Base(f), m[1])
			}
			for _, a := range actions {
				need[a] = true
			}
		}
	}
	if calls < len(s3Actions)-1 {
		t.Fatalf("found %d minio-go calls in objectstore; the scan is broken", calls)
	}
	out := make([]string, 0, len(need))
	for a := range need {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

// statement is one IAM policy statement, evaluated.
type statement struct {
	where      string
	effect     string
	actions    []string
	resources  []string
	principals []string // type:identifier
}

func strings_(t *testing.T, v cty.Value, what string) []string {
	t.Helper()
	if v.IsNull() || !v.CanIterateElements() {
		t.Fatalf("%s is not a list of strings", what)
	}
	var out []string
	for it := v.ElementIterator(); it.Next(); {
		_, e := it.Element()
		if e.Type() != cty.String {
			t.Fatalf("%s holds a %s", what, e.Type().FriendlyName())
		}
		out = append(out, e.AsString())
	}
	return out
}

// checkStatements applies the rules both modules' policies follow and
// returns the S3 actions the Allow statements grant. secrets maps the
// actions that read the brokers' secrets (and decrypt them) to exactly the
// resources they may name.
func checkStatements(t *testing.T, sts []statement, bucketARN, kmsARN string, secrets map[string][]string) []string {
	t.Helper()
	granted := map[string]bool{}
	secretResource := map[string]bool{}
	for _, rs := range secrets {
		for _, r := range rs {
			secretResource[r] = true
		}
	}
	for _, s := range sts {
		for _, r := range s.resources {
			if s.effect == "Allow" && r != bucketARN && r != bucketARN+"/*" && (kmsARN == "" || r != kmsARN) && !secretResource[r] {
				t.Errorf("%s: allows on %q, which is neither the module's bucket nor its objects nor the brokers' secrets", s.where, r)
			}
			if s.effect == "Deny" && r != bucketARN && r != bucketARN+"/*" {
				t.Errorf("%s: denies on %q, which is not the module's bucket", s.where, r)
			}
		}
		if s.effect != "Allow" {
			continue
		}
		for _, a := range s.actions {
			switch {
			case strings.Contains(a, "*"):
				t.Errorf("%s: allows the wildcard action %q", s.where, a)
			case secrets[a] != nil && slices.Equal(sorted(s.resources), sorted(secrets[a])):
				// reads (or decrypts) the brokers' secrets, and nothing else
			case secrets[a] != nil && a != "kms:Decrypt":
				t.Errorf("%s: %s on %v, want the brokers' secrets %v only", s.where, a, s.resources, secrets[a])
			case a == "sts:AssumeRole":
				if len(s.resources) != 0 || !slices.Equal(s.principals, []string{"Service:ec2.amazonaws.com"}) {
					t.Errorf("%s: sts:AssumeRole for %v on %v; want EC2 assuming the role only", s.where, s.principals, s.resources)
				}
			case a == "kms:Decrypt" || a == "kms:GenerateDataKey":
				if !slices.Equal(s.resources, []string{kmsARN}) {
					t.Errorf("%s: %s on %v, want the bucket's key %q only", s.where, a, s.resources, kmsARN)
				}
			case strings.HasPrefix(a, "s3:"):
				granted[a] = true
				want := bucketARN + "/*"
				if bucketActions[a] {
					want = bucketARN
				}
				if !slices.Equal(s.resources, []string{want}) {
					t.Errorf("%s: %s on %v, want %q only", s.where, a, s.resources, want)
				}
			default:
				t.Errorf("%s: allows %s, which a broker does not need", s.where, a)
			}
		}
	}
	out := make([]string, 0, len(granted))
	for a := range granted {
		out = append(out, a)
	}
	sort.Strings(out)
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	sort.Strings(s)
	return s
}

// TestAWSPolicyNamesOnlyTheBucket evaluates every aws_iam_policy_document of
// the AWS module (with a KMS key and the secure inputs): S3 actions only on
// the module's bucket, exactly the actions objectstore's calls need, KMS
// only on the given keys, the brokers' secrets readable and no other, no
// wildcard; and the role gets no other policy.
func TestAWSPolicyNamesOnlyTheBucket(t *testing.T) {
	need := neededS3Actions(t)
	m := load(t, "modules/aws")
	ctx := awsContext(t, m, secureAWSInputs(true))
	secrets := map[string][]string{
		"secretsmanager:GetSecretValue": {testCertARN, testUsersARN},
		"ssm:GetParameter":              {testKeyARN},
		"kms:Decrypt":                   {testSecretsKMSKey},
	}
	bucketARN := "arn:aws:s3:::" + testBucket

	var sts []statement
	docs := 0
	for _, r := range m.Resources {
		if r.Mode != "data" || r.Type != "aws_iam_policy_document" {
			continue
		}
		docs++
		for _, b := range r.Block.Body.Blocks {
			if b.Type == "dynamic" {
				t.Errorf("%s has a dynamic block, which this test cannot evaluate", r.Address())
			}
			if b.Type != "statement" {
				continue
			}
			s := statement{where: fmt.Sprintf("%s (line %d)", r.Address(), b.DefRange().Start.Line), effect: "Allow"}
			body := b.Body
			if a, ok := body.Attributes["effect"]; ok {
				v, err := tfmodule.Eval(a.Expr, ctx)
				if err != nil {
					t.Fatal(err)
				}
				s.effect = v.AsString()
			}
			for _, attr := range []string{"actions", "resources"} {
				a, ok := body.Attributes[attr]
				if !ok {
					continue
				}
				v, err := tfmodule.Eval(a.Expr, ctx)
				if err != nil {
					t.Fatalf("%s: %s cannot be evaluated with only the bucket and the key known: %v", s.where, attr, err)
				}
				if attr == "actions" {
					s.actions = strings_(t, v, s.where+" actions")
				} else {
					s.resources = strings_(t, v, s.where+" resources")
				}
			}
			for _, p := range body.Blocks {
				if p.Type != "principals" {
					continue
				}
				typ, _ := tfmodule.Eval(p.Body.Attributes["type"].Expr, ctx)
				ids, err := tfmodule.Eval(p.Body.Attributes["identifiers"].Expr, ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, id := range strings_(t, ids, s.where+" principals") {
					s.principals = append(s.principals, typ.AsString()+":"+id)
				}
			}
			if _, ok := body.Attributes["not_actions"]; ok {
				t.Errorf("%s uses not_actions", s.where)
			}
			if _, ok := body.Attributes["not_resources"]; ok {
				t.Errorf("%s uses not_resources", s.where)
			}
			sts = append(sts, s)
		}
	}
	if docs < 6 {
		t.Fatalf("found %d policy documents; the module changed shape", docs)
	}
	granted := checkStatements(t, sts, bucketARN, testKMSKey, secrets)
	if !slices.Equal(granted, need) {
		t.Errorf("the brokers' role is granted %v; objectstore's calls need %v", granted, need)
	}

	// Where the policies go: inline policies of the broker role built from
	// the documents above, Session Manager's managed policy, nothing else.
	for _, r := range m.Resources {
		switch r.Type {
		case "aws_iam_role_policy":
			src := m.Source(r.Block.Body.Attributes["policy"].Expr.Range())
			if !strings.HasPrefix(src, "data.aws_iam_policy_document.") {
				t.Errorf("%s's policy is %s, not one of the checked documents", r.Address(), src)
			}
		case "aws_iam_role_policy_attachment":
			v, err := tfmodule.Eval(r.Block.Body.Attributes["policy_arn"].Expr, ctx)
			if err != nil || !strings.HasSuffix(v.AsString(), ":iam::aws:policy/AmazonSSMManagedInstanceCore") {
				t.Errorf("%s attaches %s; only Session Manager's policy is expected", r.Address(), m.Source(r.Block.Body.Attributes["policy_arn"].Expr.Range()))
			}
		case "aws_iam_role", "aws_iam_instance_profile":
		default:
			if strings.HasPrefix(r.Type, "aws_iam_") && r.Mode == "resource" {
				t.Errorf("%s: an IAM resource this test does not check", r.Address())
			}
		}
	}
}

// TestMinIOPolicyNamesOnlyTheBucket evaluates the MinIO module's policy, the
// one attached to its user and given to its service account.
func TestMinIOPolicyNamesOnlyTheBucket(t *testing.T) {
	need := neededS3Actions(t)
	m := load(t, "modules/minio")
	vars, err := m.Inputs(map[string]cty.Value{"endpoint": cty.StringVal("minio.internal:9000")})
	if err != nil {
		t.Fatal(err)
	}
	ctx := m.EvalLocals(&hcl.EvalContext{
		Variables: map[string]cty.Value{
			"var": cty.ObjectVal(vars),
			"minio_s3_bucket": cty.ObjectVal(map[string]cty.Value{"this": cty.ObjectVal(map[string]cty.Value{
				"bucket": cty.StringVal("strata-test"),
			})}),
		},
		Functions: tfmodule.Functions(),
	}, nil)
	var doc struct {
		Version   string
		Statement []struct {
			Sid      string
			Effect   string
			Action   []string
			Resource []string
		}
	}
	if err := json.Unmarshal([]byte(localValue(t, ctx, "policy").AsString()), &doc); err != nil {
		t.Fatal(err)
	}
	var sts []statement
	for _, s := range doc.Statement {
		sts = append(sts, statement{where: "policy " + s.Sid, effect: s.Effect, actions: s.Action, resources: s.Resource})
	}
	granted := checkStatements(t, sts, "arn:aws:s3:::strata-test", "", nil)
	if !slices.Equal(granted, need) {
		t.Errorf("the service account is granted %v; objectstore's calls need %v", granted, need)
	}
	for _, addr := range []string{"minio_iam_policy.this", "minio_iam_service_account.this"} {
		r := m.Resource(addr)
		if r == nil {
			t.Fatalf("no %s", addr)
		}
		if src := m.Source(r.Block.Body.Attributes["policy"].Expr.Range()); src != "local.policy" {
			t.Errorf("%s's policy is %s, not the checked local.policy", addr, src)
		}
	}

	out, err := tfmodule.Eval(m.Output("object_store_url").Value, ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out.AsString(), "s3://strata-test?endpoint=minio.internal:9000"; got != want {
		t.Errorf("object_store_url = %q, want %q", got, want)
	}
}

// makeVar reads NAME := VALUE from the Makefile.
func makeVar(t *testing.T, name string) string {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^` + name + `\s*:=\s*(\S+)`).FindSubmatch(src)
	if m == nil {
		t.Fatalf("Makefile sets no %s", name)
	}
	return string(m[1])
}

// toolEnv keeps terraform and tflint to this machine: no version check,
// no CLI configuration or plugins from the user's home.
func toolEnv(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	rc := filepath.Join(dir, "terraformrc")
	if err := os.WriteFile(rc, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	plugins := filepath.Join(dir, "tflint-plugins")
	if err := os.Mkdir(plugins, 0o755); err != nil {
		t.Fatal(err)
	}
	return append(os.Environ(),
		"CHECKPOINT_DISABLE=1", "TF_IN_AUTOMATION=1", "TF_CLI_CONFIG_FILE="+rc,
		"TFLINT_PLUGIN_DIR="+plugins)
}

func run(t *testing.T, env []string, dir, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir, cmd.Env = dir, env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// TestFormatAndLint runs the pinned terraform fmt and tflint (its bundled
// terraform ruleset, preset "all"; no plugin is downloaded) over every
// module and example, after checking that tflint does flag a bad module
// with this configuration.
func TestFormatAndLint(t *testing.T) {
	terraform := testenv.Require(t, "terraform", "run `make tools`")
	tflint := testenv.Require(t, "tflint", "run `make tools`")
	env := toolEnv(t)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(wd, ".tflint.hcl")

	out, err := run(t, env, wd, terraform, "version")
	if want := "Terraform " + makeVar(t, "TERRAFORM_VER"); err != nil || !strings.HasPrefix(out, want+"\n") {
		t.Errorf("terraform version: %v: %q, want %s (make tools builds the pinned version)", err, out, want)
	}
	out, err = run(t, env, wd, tflint, "--version")
	if want := "TFLint version " + strings.TrimPrefix(makeVar(t, "TFLINT_VER"), "v"); err != nil || !strings.HasPrefix(out, want+"\n") {
		t.Errorf("tflint --version: %v: %q, want %s", err, out, want)
	}

	if out, err := run(t, env, wd, terraform, "fmt", "-check", "-recursive", "-diff", "-no-color", "."); err != nil {
		t.Errorf("terraform fmt -check -recursive: %v (run terraform fmt -recursive terraform/)\n%s", err, out)
	}
	if out, err := run(t, env, wd, tflint, "--recursive", "--config="+config, "--no-color", "--format=compact"); err != nil {
		t.Errorf("tflint --recursive: %v\n%s", err, out)
	}

	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "main.tf"), []byte("variable \"x\" {}\n\noutput \"y\" {\n  value = var.x\n}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err = run(t, env, bad, tflint, "--config="+config, "--no-color", "--format=compact")
	if err == nil || !strings.Contains(out, "terraform_typed_variables") || !strings.Contains(out, "terraform_documented_outputs") {
		t.Errorf("tflint passed a module with an untyped variable and an undocumented output (%v); is the terraform ruleset loaded?\n%s", err, out)
	}
}

package main

import (
	"bytes"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// cliCase is a command line and what running it gives: the exit code,
// substrings of stdout and stderr, and with line, stderr exactly that one
// line.
type cliCase struct {
	name   string
	args   []string
	code   int
	stdout string // substring
	stderr string // substring; with line, the whole of stderr but its newline
	line   bool
}

// check runs tc.args through run and checks what it gives.
func (tc cliCase) check(t *testing.T, run func(args []string, stdout, stderr io.Writer) int) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(tc.args, &stdout, &stderr)
	if code != tc.code {
		t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
	}
	if !strings.Contains(stdout.String(), tc.stdout) {
		t.Errorf("stdout lacks %q:\n%s", tc.stdout, stdout.String())
	}
	if tc.line {
		if stderr.String() != tc.stderr+"\n" {
			t.Errorf("stderr\n got %q\nwant %q", stderr.String(), tc.stderr+"\n")
		}
	} else if !strings.Contains(stderr.String(), tc.stderr) {
		t.Errorf("stderr lacks %q:\n%s", tc.stderr, stderr.String())
	}
}

func TestRun(t *testing.T) {
	tests := []cliCase{
		{name: "no command", args: nil, code: 2, stderr: "Usage:"},
		{name: "unknown command", args: []string{"bogus"}, code: 2, stderr: `strata: unknown command "bogus"`},
		{name: "version", args: []string{"version"}, code: 0, stdout: "strata dev (" + runtime.Version()},
		{name: "--version", args: []string{"--version"}, code: 0, stdout: "strata dev"},
		{name: "help", args: []string{"--help"}, code: 0, stdout: "strata serve [flags]"},
		{name: "help serve", args: []string{"help", "serve"}, code: 0, stdout: "Usage: strata serve [flags]"},
		{name: "serve --help", args: []string{"serve", "--help"}, code: 0, stdout: "STRATA_SEAL_BYTES"},
		{name: "serve -h", args: []string{"serve", "-h"}, code: 0, stdout: "--seal-bytes size"},
		{name: "bad flag value", args: []string{"serve", "--seal-bytes=abc"}, code: 2, line: true,
			stderr: `strata: invalid value "abc" for flag -seal-bytes: want a number of bytes or a size such as 512KiB, 8MiB, 1GiB`},
		{name: "invalid config", args: []string{"serve", "--seal-bytes=12", "--log-level=loud"}, code: 1, line: true,
			stderr: `strata: --seal-bytes must be at least 1KiB, got 12; --log-level must be debug, info, warn or error, got "loud"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, run) })
	}
}

// TestHelpDocumentsEveryFlag checks that both help texts name every flag,
// its default and its environment variable.
func TestHelpDocumentsEveryFlag(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"serve", "--help"}} {
		var stdout bytes.Buffer
		if code := run(args, &stdout, &bytes.Buffer{}); code != 0 {
			t.Fatalf("%v: exit %d", args, code)
		}
		help := stdout.String()
		c := DefaultConfig()
		fs := newServeFlags(&c)
		for _, name := range flagNames() {
			f := fs.Lookup(name)
			def := f.DefValue
			if def == "" {
				def = `""`
			}
			if want := "default " + def + ", env " + EnvName(name); !strings.Contains(help, "  --"+name) || !strings.Contains(help, want) {
				t.Errorf("%v: help does not document --%s with %q", args, name, want)
			}
		}
	}
}

// buildStrata compiles the command into a temporary directory.
func buildStrata(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("go tool not found: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "strata")
	cmd := exec.Command(goTool, "build", "-ldflags", "-X main.version=v9.8.7-test", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestBinary runs the built command for the paths that end before a broker
// starts: start-up failures must be one line on stderr with the right status.
func TestBinary(t *testing.T) {
	bin := buildStrata(t)
	badYAML := filepath.Join(t.TempDir(), "strata.yaml")
	if err := os.WriteFile(badYAML, []byte("data-dir: /x\nseal_bytes: 1MiB\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		env    []string
		code   int
		stdout string // substring
		stderr string // the whole of stderr when oneLine, else a substring
		one    bool
	}{
		{name: "version", args: []string{"version"}, stdout: "strata v9.8.7-test (" + runtime.Version()},
		{name: "serve help", args: []string{"serve", "--help"}, stdout: "env STRATA_DATA_DIR"},
		{name: "unknown command", args: []string{"start"}, code: 2, stderr: `strata: unknown command "start"`},
		{name: "bad size flag", args: []string{"serve", "--seal-bytes=abc"}, code: 2, one: true,
			stderr: `strata: invalid value "abc" for flag -seal-bytes: want a number of bytes or a size such as 512KiB, 8MiB, 1GiB`},
		{name: "invalid value", args: []string{"serve", "--advertised-addr=broker-1"}, code: 1, one: true,
			stderr: `strata: --advertised-addr must be host:port, got "broker-1" (missing port in address)`},
		{name: "bad env", args: []string{"serve"}, env: []string{"STRATA_SEAL_INTERVAL=soon"}, code: 1, one: true,
			stderr: `strata: invalid value "soon" for STRATA_SEAL_INTERVAL: want a duration such as 200ms, 10s or 1m`},
		{name: "unknown YAML key", args: []string{"serve", "--config", badYAML}, code: 1, one: true,
			stderr: "strata: " + badYAML + `:2: unknown key "seal_bytes" (did you mean "seal-bytes"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(bin, tt.args...)
			cmd.Env = append(cleanEnv(), tt.env...)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.code {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tt.code, stderr.String())
			}
			if !strings.Contains(stdout.String(), tt.stdout) {
				t.Errorf("stdout lacks %q:\n%s", tt.stdout, stdout.String())
			}
			if tt.one {
				if got := stderr.String(); got != tt.stderr+"\n" {
					t.Errorf("stderr\n got %q\nwant %q", got, tt.stderr+"\n")
				}
			} else if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, stderr.String())
			}
		})
	}
}

// cleanEnv is the test's environment without STRATA_* variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "STRATA_") {
			env = append(env, kv)
		}
	}
	return env
}

// TestServerBinaryLinksNoTesting: test helpers (testing, and Strata's own
// *test packages: brokertest, batchtest, testenv) stay out of the binary. The
// binary does link kgo and kfake on purpose: `strata loadgen` is a Kafka
// client, and `--bootstrap kfake` is its in-process reference cluster for
// comparisons (docs/loadgen.md).
func TestServerBinaryLinksNoTesting(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "testing" || strings.HasSuffix(dep, "/internal/testenv") || strings.HasSuffix(dep, "test") && strings.HasPrefix(dep, "github.com/strata-io/strata/") {
			t.Errorf("the strata binary links %s", dep)
		}
	}
}

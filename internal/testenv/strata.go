package testenv

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BuildStrata builds ./cmd/strata into a temporary directory of the test and
// returns the binary's path. The Go build cache makes every build after the
// first in a machine's life a link step of a few seconds; a package whose
// tests all need the binary builds it once in TestMain with BuildStrataIn.
func BuildStrata(t testing.TB) string {
	t.Helper()
	bin, err := BuildStrataIn(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// BuildStrataIn builds ./cmd/strata of the repository holding the working
// directory into dir and returns the binary's path.
func BuildStrataIn(dir string) (string, error) {
	root, err := findRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "strata")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/strata")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build strata: %v\n%s", err, out)
	}
	return bin, nil
}

// RunWithStrata is a TestMain for a package whose tests run the strata
// binary: it builds the binary into a temporary directory, sets *bin to its
// path, runs the tests, removes the directory and exits with their code.
func RunWithStrata(m *testing.M, bin *string) {
	dir, err := os.MkdirTemp("", "strata-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	*bin, err = BuildStrataIn(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// ServeFlag is a flag of `strata serve` as its --help lists it.
type ServeFlag struct {
	Name string // without dashes
	Env  string // STRATA_*
}

var (
	helpFlagLine = regexp.MustCompile(`^  --([a-z0-9-]+)`)
	helpEnvLine  = regexp.MustCompile(`\benv (STRATA_[A-Z0-9_]+)\s*$`)
)

// ServeFlags runs `strata serve --help` and returns the flags it lists, by
// name, each with its environment variable.
func ServeFlags(t testing.TB, bin string) map[string]ServeFlag {
	t.Helper()
	out, err := runStrata(bin, "serve", "--help")
	if err != nil {
		t.Fatalf("strata serve --help: %v\n%s", err, out)
	}
	flags := map[string]ServeFlag{}
	var current string
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if m := helpFlagLine.FindStringSubmatch(line); m != nil {
			current = m[1]
			flags[current] = ServeFlag{Name: current}
			continue
		}
		if m := helpEnvLine.FindStringSubmatch(line); m != nil && current != "" {
			f := flags[current]
			f.Env = m[1]
			flags[current] = f
		}
	}
	if len(flags) < 10 {
		t.Fatalf("strata serve --help listed only %d flags; its format changed?\n%s", len(flags), out)
	}
	return flags
}

// CheckServeArgs runs `strata serve ARGS... --help`, which parses every flag
// in args with strata's own flag set (an unknown flag or a value of the
// wrong kind is a usage error, exit status 2) and then prints the help
// instead of starting a broker. It returns the error and output when the
// arguments do not parse. Only the syntax is checked: Config.Validate,
// which needs the values together, runs only when a broker starts.
func CheckServeArgs(bin string, args []string) error {
	full := append(append([]string{"serve"}, args...), "--help")
	out, err := runStrata(bin, full...)
	if err != nil {
		return fmt.Errorf("strata %s: %v: %s", strings.Join(full, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

func runStrata(bin string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{} // no STRATA_* from the caller's environment
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}

// ExecStart returns the words of a systemd unit's ExecStart line, with
// backslash continuations joined. It fails the test for quoting,
// specifiers or variables, which it does not interpret.
func ExecStart(t testing.TB, unit string) []string {
	t.Helper()
	lines := strings.Split(unit, "\n")
	for i, l := range lines {
		if !strings.HasPrefix(l, "ExecStart=") {
			continue
		}
		cmd := strings.TrimPrefix(l, "ExecStart=")
		for strings.HasSuffix(cmd, `\`) && i+1 < len(lines) {
			i++
			cmd = strings.TrimSuffix(cmd, `\`) + " " + lines[i]
		}
		if strings.ContainsAny(cmd, `"';%$`) {
			t.Fatalf("ExecStart uses quoting, specifiers or variables that this test does not interpret: %s", cmd)
		}
		return strings.Fields(cmd)
	}
	t.Fatalf("no ExecStart in unit:\n%s", unit)
	return nil
}

// FlagValues maps --name=value arguments. Any other form, and a flag given
// twice, is an error of the test; where names the arguments in its message.
func FlagValues(t testing.TB, where string, args []string) map[string]string {
	t.Helper()
	vals := map[string]string{}
	for _, a := range args {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || !ok {
			t.Errorf("%s: argument %q is not --name=value", where, a)
			continue
		}
		if _, dup := vals[name]; dup {
			t.Errorf("%s: flag --%s given twice", where, name)
		}
		vals[name] = value
	}
	return vals
}

// Port returns the port of a host:port address.
func Port(t testing.TB, hostport string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(hostport)
	if err != nil {
		t.Fatalf("%q: %v", hostport, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("%q: %v", hostport, err)
	}
	return n
}

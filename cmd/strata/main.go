// Command strata is the Strata broker: a Kafka-compatible broker that keeps
// recent data in a local WAL and the rest in object storage, with its
// metadata in etcd.
//
//	strata serve [flags]          run a broker (flags, STRATA_* variables, YAML file)
//	strata loadgen run|compare …  load, measure and verify any Kafka-compatible cluster
//	strata quarantine list|export …  list or export the WAL records the uploader set aside
//	strata leaders elect|move|list …  move partition leadership between brokers
//	strata version                print the version
//
// Every option is described in docs/configuration.md and by `strata serve --help`;
// the load generator's in docs/loadgen.md and by `strata loadgen --help`.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

// version is set at build time: go build -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches to a subcommand and returns the exit code.
func run(args []string, stdout, stderr io.Writer) int {
	version := func([]string) int {
		fmt.Fprintln(stdout, versionString())
		return 0
	}
	help := func(rest []string) int {
		usages := map[string]func(io.Writer){
			"serve":      printServeUsage,
			"loadgen":    printLoadgenUsage,
			"quarantine": printQuarantineUsage,
			"leaders":    printLeadersUsage,
			"mirror":     printMirrorUsage,
		}
		if len(rest) > 0 && usages[rest[0]] != nil {
			usages[rest[0]](stdout)
		} else {
			printUsage(stdout)
		}
		return 0
	}
	return subcommand("", args, map[string]func([]string) int{
		"serve":      func(rest []string) int { return runServe(rest, stdout, stderr) },
		"loadgen":    func(rest []string) int { return runLoadgen(rest, stdout, stderr) },
		"quarantine": func(rest []string) int { return runQuarantine(rest, os.Environ(), stdout, stderr) },
		"leaders":    func(rest []string) int { return runLeaders(rest, stdout, stderr) },
		"mirror":     func(rest []string) int { return runMirror(rest, stdout, stderr) },
		"version":    version, "-version": version, "--version": version,
		"help": help, "-h": help, "-help": help, "--help": help,
	}, printUsage, stdout, stderr)
}

// subcommand runs the command args[0] names with the arguments after it:
// cmds' entry for it, or usage on stdout (exit code 0) for help, -h, -help
// and --help where cmds has no entry for them. With no arguments, or an
// unknown command, it prints usage on stderr and returns 2; kind names the
// commands in the message, as in "strata: unknown loadgen command" (kind
// "loadgen "; "" for strata's own commands).
func subcommand(kind string, args []string, cmds map[string]func(rest []string) int, usage func(io.Writer), stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	cmd, rest := args[0], args[1:]
	if run, ok := cmds[cmd]; ok {
		return run(rest)
	}
	switch cmd {
	case "help", "-h", "-help", "--help":
		usage(stdout)
		return 0
	default:
		fmt.Fprintf(stderr, "strata: unknown %scommand %q\n\n", kind, cmd)
		usage(stderr)
		return 2
	}
}

func versionString() string {
	return fmt.Sprintf("strata %s (%s %s/%s)", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func printUsage(w io.Writer) {
	fmt.Fprint(w, `Strata is a Kafka-compatible broker that tiers its log to object storage.

Usage:
  strata serve [flags]            run a broker
  strata loadgen run|compare …    load, measure and verify any Kafka-compatible cluster
                                  (strata loadgen --help)
  strata quarantine list|export … list or export the WAL records the uploader set aside
                                  (strata quarantine --help)
  strata leaders elect|move|list …
                                  move partition leadership between brokers
                                  (strata leaders --help)
  strata mirror [status] …        copy topics, configs and group offsets from another
                                  Kafka-compatible cluster (strata mirror --help)
  strata version                  print the version
  strata help [serve|loadgen|quarantine|leaders|mirror]
                                  print this help, or the help of a command

`)
	printServeFlags(w)
}

func printServeUsage(w io.Writer) {
	fmt.Fprint(w, `Usage: strata serve [flags]

Run a broker until SIGINT or SIGTERM, then shut down gracefully (seal, upload,
commit); a second signal exits at once with status 1.

`)
	printServeFlags(w)
}

// printServeFlags documents every flag with its argument, default and
// environment variable.
func printServeFlags(w io.Writer) {
	fmt.Fprint(w, `Flags of serve. Each can also be set with the environment variable shown, or
as a key of the same name in the YAML file given by --config. Precedence:
flags, then environment variables, then the YAML file, then defaults.

`)
	def := DefaultConfig()
	newServeFlags(&def).VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		if arg != "" {
			arg = " " + arg
		}
		dv := f.DefValue
		if dv == "" {
			dv = `""`
		}
		fmt.Fprintf(w, "  --%s%s\n", f.Name, arg)
		fmt.Fprintf(w, "        %s\n", strings.ReplaceAll(usage, "\n", "\n        "))
		fmt.Fprintf(w, "        default %s, env %s\n", dv, EnvName(f.Name))
	})
}

package main

// `strata leaders elect|move|list`: move partition leadership between
// brokers, through Kafka's own APIs (ElectLeaders,
// AlterPartitionReassignments, ListPartitionReassignments) sent by kadm to
// any broker of the cluster. A move sets the partition's replica list to the
// target broker, which makes it the preferred leader: the controller
// assigns the partition there and the current leader hands it over
// gracefully (docs/operations.md).

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// runLeaders is `strata leaders …`. It returns the exit code: 1 when the
// cluster refused or a partition failed, 2 for a bad command line.
func runLeaders(args []string, stdout, stderr io.Writer) int {
	leaders := func(cmd string) func([]string) int {
		return func(rest []string) int { return runLeadersCommand(cmd, rest, stdout, stderr) }
	}
	return subcommand("leaders ", args, map[string]func([]string) int{
		"elect": leaders("elect"),
		"move":  leaders("move"),
		"list":  leaders("list"),
	}, printLeadersUsage, stdout, stderr)
}

// runLeadersCommand is `strata leaders <cmd>` (elect, move or list) with
// the flags in args.
func runLeadersCommand(cmd string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("strata leaders "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	bootstrap := fs.String("bootstrap-server", "localhost:9092", "a broker's `host:port` (comma-separated for several)")
	topic := fs.String("topic", "", "the topic (elect: all topics if empty)")
	part := fs.Int("partition", -1, "the partition (elect: all of the topic's if -1)")
	brokerID := fs.Int("broker", -1, "move: the broker `id` to lead the partition")
	timeout := fs.Duration("timeout", time.Minute, "how long to wait for the cluster")
	props := clientProps{}
	registerClientProps(fs, props)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "strata leaders %s: unexpected argument %q\n", cmd, fs.Arg(0))
		return 2
	}
	if cmd == "move" && (*topic == "" || *part < 0 || *brokerID < 0) {
		fmt.Fprintln(stderr, "strata leaders move: --topic, --partition and --broker are required")
		return 2
	}
	if cmd == "elect" && *topic == "" && *part >= 0 {
		fmt.Fprintln(stderr, "strata leaders elect: --partition needs --topic")
		return 2
	}
	secOpts, err := props.opts()
	if err != nil {
		fmt.Fprintf(stderr, "strata leaders %s: %v\n", cmd, err)
		return 2
	}
	cl, err := kgo.NewClient(append(secOpts, kgo.SeedBrokers(strings.Split(*bootstrap, ",")...))...)
	if err != nil {
		fmt.Fprintf(stderr, "strata leaders: %v\n", err)
		return 1
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(timeout.Milliseconds()))
	ctx, cancel := context.WithTimeout(context.Background(), *timeout+5*time.Second)
	defer cancel()

	switch cmd {
	case "list":
		return leadersList(ctx, cl, *timeout, stdout, stderr)
	case "move":
		var req kadm.AlterPartitionAssignmentsReq
		req.Assign(*topic, int32(*part), []int32{int32(*brokerID)})
		res, err := adm.AlterPartitionAssignments(ctx, req)
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			fmt.Fprintf(stderr, "strata leaders move %s/%d to broker %d: %v\n", *topic, *part, *brokerID, errText(err, res))
			return 1
		}
	}
	var set kadm.TopicsSet // nil: every partition
	switch {
	case *topic != "" && *part >= 0:
		set = kadm.TopicsSet{*topic: {int32(*part): {}}}
	case *topic != "":
		md, err := adm.Metadata(ctx, *topic)
		if err != nil {
			fmt.Fprintf(stderr, "strata leaders: metadata: %v\n", err)
			return 1
		}
		set = kadm.TopicsSet{*topic: {}}
		for _, p := range md.Topics[*topic].Partitions {
			set[*topic][p.Partition] = struct{}{}
		}
	}
	res, err := adm.ElectLeaders(ctx, kadm.ElectPreferredReplica, set)
	if err != nil {
		fmt.Fprintf(stderr, "strata leaders %s: %v\n", cmd, err)
		return 1
	}
	code := 0
	var lines []string
	for _, ps := range res {
		for _, r := range ps {
			switch {
			case r.Err == nil:
				lines = append(lines, fmt.Sprintf("%s/%d\tmoved to its preferred leader", r.Topic, r.Partition))
			case errors.Is(r.Err, kerr.ElectionNotNeeded):
				lines = append(lines, fmt.Sprintf("%s/%d\talready led by its preferred leader", r.Topic, r.Partition))
			default:
				code = 1
				msg := r.Err.Error()
				if r.ErrMessage != "" {
					msg += ": " + r.ErrMessage
				}
				lines = append(lines, fmt.Sprintf("%s/%d\tfailed: %s", r.Topic, r.Partition, msg))
			}
		}
	}
	sort.Strings(lines)
	if len(lines) == 0 {
		lines = append(lines, "every partition is led by its preferred leader")
	}
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	return code
}

// errText is err with the messages the cluster gave with it.
func errText(err error, res kadm.AlterPartitionAssignmentsResponses) string {
	for _, ps := range res {
		for _, r := range ps {
			if r.Err != nil && r.ErrMessage != "" {
				return err.Error() + ": " + r.ErrMessage
			}
		}
	}
	return err.Error()
}

// leadersList prints the reassignments under way.
func leadersList(ctx context.Context, cl *kgo.Client, timeout time.Duration, stdout, stderr io.Writer) int {
	// kadm's ListPartitionReassignments asks for nothing when given no
	// topics; null topics ask the cluster for every reassignment.
	req := kmsg.NewPtrListPartitionReassignmentsRequest()
	req.TimeoutMillis = int32(timeout.Milliseconds())
	resp, err := req.RequestWith(ctx, cl)
	if err == nil {
		if err = kerr.ErrorForCode(resp.ErrorCode); err != nil && resp.ErrorMessage != nil {
			err = fmt.Errorf("%w: %s", err, *resp.ErrorMessage)
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "strata leaders list: %v\n", err)
		return 1
	}
	var lines []string
	for _, t := range resp.Topics {
		for _, p := range t.Partitions {
			lines = append(lines, fmt.Sprintf("%s/%d\tmoving to %v", t.Topic, p.Partition, p.Replicas))
		}
	}
	sort.Strings(lines)
	if len(lines) == 0 {
		lines = append(lines, "no reassignment under way")
	}
	for _, l := range lines {
		fmt.Fprintln(stdout, l)
	}
	return 0
}

func printLeadersUsage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  strata leaders elect [--bootstrap-server HOST:PORT] [--topic NAME [--partition N]]
                                  move partitions (all, a topic's, one) to their
                                  preferred leaders and wait for the hand-offs
  strata leaders move --topic NAME --partition N --broker ID [--bootstrap-server HOST:PORT]
                                  make broker ID the partition's preferred leader
                                  (a reassignment) and wait until it leads
  strata leaders list [--bootstrap-server HOST:PORT]
                                  the reassignments under way

They speak Kafka's protocol (ElectLeaders, AlterPartitionReassignments,
ListPartitionReassignments) to a broker, over TLS and SASL with -X or -F as
kcat takes them; the principal needs ALTER (elect, move) or DESCRIBE (list)
on the cluster when ACLs are on.
A partition moves by graceful hand-off: its leader stops taking produces,
uploads and commits what it has, and the new leader takes over; producers
see NOT_LEADER_OR_FOLLOWER and retry. See docs/operations.md.

Flags:
  --bootstrap-server host:port   default localhost:9092
  --timeout duration             default 1m
  -X key=value                   a client security property, as kcat's -X:
                                 security.protocol, sasl.mechanism,
                                 sasl.username, sasl.password,
                                 ssl.ca.location, ssl.certificate.location,
                                 ssl.key.location,
                                 ssl.endpoint.identification.algorithm
  -F file                        a file of such key=value lines
`)
}

package main

// `strata quarantine list|export`: an operator's view of the WAL records the
// uploader set aside in <data-dir>/quarantine/ instead of committing them
// (their tenure ended and another broker has led the partition since). The
// files and their reading API are tiering's (tiering/quarantine.go); this
// command only lists them and writes them out in formats Kafka tools read.
// It reads local files only and needs no running broker, etcd or bucket.

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/internal/batch"
	"github.com/strata-io/strata/internal/durable"
	"github.com/strata-io/strata/metadata"
	"github.com/strata-io/strata/tiering"
)

// runQuarantine is `strata quarantine list|export`. It returns the exit code:
// 1 when a quarantined file cannot be read or written, 2 for a bad command
// line. environ (in os.Environ's form) supplies STRATA_DATA_DIR.
func runQuarantine(args, environ []string, stdout, stderr io.Writer) int {
	return subcommand("quarantine ", args, map[string]func([]string) int{
		"list":   func(rest []string) int { return runQuarantineList(rest, environ, stdout, stderr) },
		"export": func(rest []string) int { return runQuarantineExport(rest, environ, stdout, stderr) },
	}, printQuarantineUsage, stdout, stderr)
}

// quarantineFlags are the options of list and export.
type quarantineFlags struct {
	dataDir   string
	json      bool   // list
	out       string // export
	topic     string // export: a topic name or id; empty = all
	partition int    // export: -1 = all
	object    string // export: a .seg file's name; empty = all
	format    string // export: log or json
}

// newQuarantineFlags is the FlagSet of `quarantine <cmd>`, bound to f. The
// data directory defaults as for serve: STRATA_DATA_DIR, else ./strata-data.
func newQuarantineFlags(cmd string, f *quarantineFlags, environ []string) *flag.FlagSet {
	f.dataDir = DefaultConfig().DataDir
	if dir := envMap(environ)[EnvName("data-dir")]; dir != "" {
		f.dataDir = dir
	}
	f.partition, f.format = -1, "log"
	fs := flag.NewFlagSet("quarantine "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	fs.StringVar(&f.dataDir, "data-dir", f.dataDir, "the broker's data `dir`")
	switch cmd {
	case "list":
		fs.BoolVar(&f.json, "json", false, "print the notes as a JSON array")
	case "export":
		fs.StringVar(&f.out, "out", "", "`dir` to write the .log files under")
		fs.StringVar(&f.topic, "topic", "", "only this topic (`name` or id)")
		fs.IntVar(&f.partition, "partition", -1, "only this partition `n`")
		fs.StringVar(&f.object, "object", "", "only the ranges of this quarantined `file` (the FILE column of list)")
		fs.StringVar(&f.format, "format", "log", "log (Kafka segment files under --out) or json (a line per record on stdout)")
	}
	return fs
}

// parseQuarantineFlags parses args for cmd, returning flag.ErrHelp for
// -h/--help and a usageError for a bad command line.
func parseQuarantineFlags(cmd string, args, environ []string) (quarantineFlags, error) {
	var f quarantineFlags
	fs := newQuarantineFlags(cmd, &f, environ)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return f, err
		}
		return f, usageError{err}
	}
	var bad []string
	if fs.NArg() > 0 {
		bad = append(bad, fmt.Sprintf("unexpected argument %q (quarantine %s takes only flags)", fs.Arg(0), cmd))
	}
	if strings.TrimSpace(f.dataDir) == "" {
		bad = append(bad, "--data-dir must not be empty")
	}
	if cmd == "export" {
		switch {
		case f.format != "log" && f.format != "json":
			bad = append(bad, fmt.Sprintf("--format must be log or json, got %q", f.format))
		case f.format == "log" && f.out == "":
			bad = append(bad, "--out is required (the directory to write the .log files under)")
		case f.format == "json" && f.out != "":
			bad = append(bad, "--out is for --format log; --format json writes to stdout")
		}
		if f.partition < -1 {
			bad = append(bad, fmt.Sprintf("--partition must be 0 or more, got %d", f.partition))
		}
	}
	if len(bad) > 0 {
		return f, usageError{errors.New(strings.Join(bad, "; "))}
	}
	return f, nil
}

// quarantineDir is where the uploader sets WAL records aside.
func quarantineDir(dataDir string) string { return filepath.Join(dataDir, "quarantine") }

// openQuarantine parses a subcommand's flags and reads the quarantine's
// notes. done means the command has finished (help, or an error reported on
// stderr) with exit code code.
func openQuarantine(cmd string, args, environ []string, stdout, stderr io.Writer) (f quarantineFlags, dir string, notes []tiering.QuarantineNote, code int, done bool) {
	f, err := parseQuarantineFlags(cmd, args, environ)
	if code, done = parseEnd(err, printQuarantineUsage, stdout, stderr); done {
		return f, "", nil, code, true
	}
	dir = quarantineDir(f.dataDir)
	if notes, err = tiering.ReadQuarantine(dir); err != nil {
		return f, dir, nil, fail(stderr, fmt.Errorf("quarantine: %w", err)), true
	}
	return f, dir, notes, 0, false
}

func runQuarantineList(args, environ []string, stdout, stderr io.Writer) int {
	f, dir, notes, code, done := openQuarantine("list", args, environ, stdout, stderr)
	if done {
		return code
	}
	if f.json {
		if notes == nil {
			notes = []tiering.QuarantineNote{}
		}
		js, _ := json.MarshalIndent(notes, "", "  ")
		fmt.Fprintf(stdout, "%s\n", js)
		return 0
	}
	listErr := listRanges(stdout, dir, notes)
	// Before the uploader set records aside, a broker starting after its
	// lease expired hard-linked whole WAL segments into <time>/ directories;
	// this command cannot read those, but must not hide them.
	if old, _ := filepath.Glob(filepath.Join(dir, "*", "*.wal")); len(old) > 0 {
		fmt.Fprintf(stdout, "also %d whole WAL %s kept at start-up in %s, not listed here\n",
			len(old), plural(len(old), "segment", "segments"), filepath.Join(dir, "<time>"))
	}
	if listErr != nil {
		return fail(stderr, listErr)
	}
	return 0
}

// listRanges prints a line per range of notes and a total. The records are
// counted from the batch headers, so each object is read (and verified): a
// range whose object cannot be read is still listed, from its note, and the
// error names every such object.
func listRanges(w io.Writer, dir string, notes []tiering.QuarantineNote) error {
	n := countRanges(notes)
	if n == 0 {
		fmt.Fprintf(w, "nothing is quarantined in %s\n", dir)
		return nil
	}
	var unreadable []string
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tTOPIC\tPARTITION\tEPOCH\tOFFSETS\tBATCHES\tRECORDS\tBYTES\tFILE\tREASON")
	var batches, records, bytes int64
	recordsKnown := true
	for _, note := range notes {
		data, err := readRanges(dir, note)
		if err != nil {
			unreadable = append(unreadable, err.Error())
		}
		for i, r := range note.Partitions {
			count := "?"
			if data != nil {
				c := recordCount(data[i])
				count = strconv.FormatInt(c, 10)
				records += c
			} else {
				recordsKnown = false
			}
			batches += int64(r.Batches)
			bytes += r.Bytes
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d-%d\t%d\t%s\t%d\t%s\t%s\n",
				note.Time.UTC().Format("2006-01-02T15:04:05Z"), topicLabel(r), r.Partition, r.LeaderEpoch,
				r.BaseOffset, r.LastOffset, r.Batches, count, r.Bytes, note.Object, r.Reason)
		}
	}
	tw.Flush()
	total := strconv.FormatInt(records, 10)
	if !recordsKnown {
		total = "at least " + total
	}
	fmt.Fprintf(w, "total: %d %s in %d %s under %s: %d batches, %s records, %d bytes\n",
		n, plural(n, "range", "ranges"), len(notes), plural(len(notes), "file", "files"), dir, batches, total, bytes)
	if len(unreadable) > 0 {
		return fmt.Errorf("quarantine: %s", strings.Join(unreadable, "; "))
	}
	return nil
}

func runQuarantineExport(args, environ []string, stdout, stderr io.Writer) int {
	f, dir, notes, code, done := openQuarantine("export", args, environ, stdout, stderr)
	if done {
		return code
	}
	var selected []exportRange
	for _, note := range notes {
		for i, r := range note.Partitions {
			if (f.topic == "" || f.topic == r.Topic || f.topic == r.TopicID.String()) &&
				(f.partition < 0 || int32(f.partition) == r.Partition) &&
				(f.object == "" || f.object == note.Object) {
				selected = append(selected, exportRange{note: note, index: i})
			}
		}
	}
	if len(selected) == 0 {
		what := "nothing is quarantined in " + dir
		if countRanges(notes) > 0 {
			what = "no quarantined range in " + dir + " matches" + filterText(f)
		}
		if f.format == "json" {
			fmt.Fprintln(stderr, what)
		} else {
			fmt.Fprintln(stdout, what)
		}
		return 0
	}
	if err := readSelected(dir, selected); err != nil {
		return fail(stderr, err)
	}
	if f.format == "json" {
		if err := writeRecordsJSON(stdout, selected); err != nil {
			return fail(stderr, fmt.Errorf("quarantine: %w", err))
		}
		return 0
	}
	if err := exportLogs(stdout, f.out, selected); err != nil {
		return fail(stderr, fmt.Errorf("quarantine: %w", err))
	}
	return 0
}

// exportRange is one quarantined range chosen for export, with its batches
// once read.
type exportRange struct {
	note  tiering.QuarantineNote
	index int // in note.Partitions
	data  []byte
}

func (e *exportRange) r() tiering.QuarantinedRange { return e.note.Partitions[e.index] }

// readSelected reads the batches of every range in sel, each object once.
func readSelected(dir string, sel []exportRange) error {
	read := map[string][][]byte{}
	for i := range sel {
		obj := sel[i].note.Object
		data, ok := read[obj]
		if !ok {
			var err error
			if data, err = readRanges(dir, sel[i].note); err != nil {
				return fmt.Errorf("quarantine: %w", err)
			}
			read[obj] = data
		}
		sel[i].data = data[sel[i].index]
	}
	return nil
}

// exportLogs writes each range of sel as a Kafka log segment file,
// out/<topic>-<partition>/<first offset, 20 digits>.log. Every target is
// checked before anything is written, so an export that would overwrite a
// file writes nothing.
func exportLogs(stdout io.Writer, out string, sel []exportRange) error {
	paths := make([]string, len(sel))
	from := map[string]string{}
	for i := range sel {
		r := sel[i].r()
		paths[i] = filepath.Join(out, fmt.Sprintf("%s-%d", topicPathName(r), r.Partition), fmt.Sprintf("%020d.log", r.BaseOffset))
		if other, dup := from[paths[i]]; dup {
			// Two ended tenures of one partition can hold records at the
			// same offsets; each needs an export of its own.
			return fmt.Errorf("%s would hold the ranges of both %s and %s, which start at the same offset: export each to its own --out with --object",
				paths[i], other, sel[i].note.Object)
		}
		from[paths[i]] = sel[i].note.Object
		if _, err := os.Lstat(paths[i]); err == nil {
			return fmt.Errorf("%s already exists: export never overwrites a file; choose another --out or move it away", paths[i])
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	var batches, records, bytes int64
	for i := range sel {
		r := sel[i].r()
		if err := os.MkdirAll(filepath.Dir(paths[i]), 0o755); err != nil {
			return err
		}
		if err := writeNewFile(paths[i], sel[i].data); err != nil {
			return err
		}
		n := recordCount(sel[i].data)
		batches, records, bytes = batches+int64(r.Batches), records+n, bytes+int64(len(sel[i].data))
		fmt.Fprintf(stdout, "wrote %s: offsets %d-%d, %d %s, %d %s, %d bytes, from %s\n",
			paths[i], r.BaseOffset, r.LastOffset, r.Batches, plural(int(r.Batches), "batch", "batches"),
			n, plural(int(n), "record", "records"), len(sel[i].data), sel[i].note.Object)
	}
	fmt.Fprintf(stdout, "exported %d %s: %d batches, %d records, %d bytes\n",
		len(sel), plural(len(sel), "range", "ranges"), batches, records, bytes)
	return nil
}

// writeNewFile writes data to path, which must not exist, crash-safely: to
// a temporary file beside it, fsynced, then hard-linked to path (a link,
// unlike a rename, fails if path exists), then the directory fsynced.
func writeNewFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644) // CreateTemp's 0600 is for files that stay private
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists: export never overwrites a file; choose another --out or move it away", path)
		}
		return err
	}
	return durable.SyncDir(filepath.Dir(path))
}

// recordJSON is one record of `export --format json`. Keys and values are
// base64 (null for a null key or value).
type recordJSON struct {
	Topic     string           `json:"topic"`
	TopicID   metadata.TopicID `json:"topic_id"`
	Partition int32            `json:"partition"`
	Offset    int64            `json:"offset"`
	Timestamp int64            `json:"timestamp"` // Unix milliseconds
	Key       []byte           `json:"key"`
	Value     []byte           `json:"value"`
	Headers   []headerJSON     `json:"headers"`
	Control   bool             `json:"control,omitempty"` // a transaction marker, not data
}

type headerJSON struct {
	Key   string `json:"key"`
	Value []byte `json:"value"`
}

// writeRecordsJSON writes one JSON line per record of sel.
func writeRecordsJSON(w io.Writer, sel []exportRange) error {
	enc := json.NewEncoder(w)
	for i := range sel {
		r := sel[i].r()
		err := batch.Iter(sel[i].data, func(_ batch.Header, raw []byte) error {
			return eachRecord(raw, func(rec recordJSON) error {
				rec.Topic, rec.TopicID, rec.Partition = topicLabel(r), r.TopicID, r.Partition
				return enc.Encode(rec)
			})
		})
		if err != nil {
			return fmt.Errorf("%s %s/%d: %w", sel[i].note.Object, topicLabel(r), r.Partition, err)
		}
	}
	return nil
}

// decompressor handles every Kafka codec, as the clients do.
var decompressor = kgo.DefaultDecompressor()

// eachRecord decodes the records of one whole v2 batch with kmsg, after
// decompressing them, and calls fn with each (its topic fields unset).
func eachRecord(raw []byte, fn func(recordJSON) error) error {
	var b kmsg.RecordBatch
	if err := b.ReadFrom(raw); err != nil {
		return fmt.Errorf("batch at offset %d: %w", b.FirstOffset, err)
	}
	records, err := decompressor.Decompress(b.Records, kgo.CompressionCodecType(b.Attributes&0x7))
	if err != nil {
		return fmt.Errorf("batch at offset %d: decompress: %w", b.FirstOffset, err)
	}
	control := b.Attributes&0x20 != 0
	logAppendTime := b.Attributes&0x08 != 0
	for i := int32(0); i < b.NumRecords; i++ {
		// kmsg.Record.ReadFrom does not say how much it read: the
		// record's varint length prefix does.
		length, n := binary.Varint(records)
		if n <= 0 || length < 0 || length > int64(len(records)-n) {
			return fmt.Errorf("batch at offset %d: record %d: bad length", b.FirstOffset, i)
		}
		var rec kmsg.Record
		if err := rec.ReadFrom(records[:n+int(length)]); err != nil {
			return fmt.Errorf("batch at offset %d: record %d: %w", b.FirstOffset, i, err)
		}
		records = records[n+int(length):]
		out := recordJSON{
			Offset:    b.FirstOffset + int64(rec.OffsetDelta),
			Timestamp: b.FirstTimestamp + rec.TimestampDelta64,
			Key:       rec.Key,
			Value:     rec.Value,
			Headers:   make([]headerJSON, len(rec.Headers)),
			Control:   control,
		}
		if logAppendTime {
			out.Timestamp = b.MaxTimestamp
		}
		for j, h := range rec.Headers {
			out.Headers[j] = headerJSON{Key: h.Key, Value: h.Value}
		}
		if err := fn(out); err != nil {
			return err
		}
	}
	if len(records) > 0 {
		return fmt.Errorf("batch at offset %d: %d bytes after its %d records", b.FirstOffset, len(records), b.NumRecords)
	}
	return nil
}

// readRanges returns the batch bytes of each of n's ranges, in n's order,
// reading and verifying n's object once (tiering.ReadQuarantined would read
// and verify the whole object once per range).
func readRanges(dir string, n tiering.QuarantineNote) ([][]byte, error) {
	if n.Object != filepath.Base(n.Object) || !strings.HasSuffix(n.Object, ".seg") {
		return nil, fmt.Errorf("note of segment %d names object %q, not a .seg file in %s", n.Segment, n.Object, dir)
	}
	obj, err := os.ReadFile(filepath.Join(dir, n.Object))
	if err != nil {
		return nil, err
	}
	index, err := tiering.DecodeObject(obj)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", n.Object, err)
	}
	out := make([][]byte, len(n.Partitions))
	for i, r := range n.Partitions {
		for _, e := range index {
			if e.Key == r.Key() && e.Position == r.Position {
				out[i] = obj[e.Position : e.Position+e.Size]
			}
		}
		if out[i] == nil {
			return nil, fmt.Errorf("%s has no range for %s/%d at %d", n.Object, topicLabel(r), r.Partition, r.Position)
		}
	}
	return out, nil
}

// recordCount is the number of records in data, whole batches, from their
// headers.
func recordCount(data []byte) int64 {
	var n int64
	_ = batch.Iter(data, func(h batch.Header, _ []byte) error {
		n += int64(h.NumRecords)
		return nil
	})
	return n
}

func countRanges(notes []tiering.QuarantineNote) int {
	n := 0
	for _, note := range notes {
		n += len(note.Partitions)
	}
	return n
}

// topicLabel is the topic's name, or its id when the name is not known.
func topicLabel(r tiering.QuarantinedRange) string {
	if r.Topic != "" {
		return r.Topic
	}
	return r.TopicID.String()
}

// topicPathName is the topic's name as a directory name, or its id when the
// name is unknown or could not be a Kafka topic name (which only legal
// names can be, but the note is a file anyone could have edited).
func topicPathName(r tiering.QuarantinedRange) string {
	name := r.Topic
	ok := name != "" && name != "." && name != ".." && len(name) <= 249
	for _, c := range name {
		ok = ok && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-')
	}
	if !ok {
		return r.TopicID.String()
	}
	return name
}

func filterText(f quarantineFlags) string {
	var s string
	if f.topic != "" {
		s += " --topic " + f.topic
	}
	if f.partition >= 0 {
		s += " --partition " + strconv.Itoa(f.partition)
	}
	if f.object != "" {
		s += " --object " + f.object
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func printQuarantineUsage(w io.Writer) {
	fmt.Fprint(w, `Usage:
  strata quarantine list [--data-dir DIR] [--json]
                                  what the uploader set aside, one line per partition range
  strata quarantine export [--data-dir DIR] --out OUTDIR [FILTERS]
                                  write each range as a Kafka log segment,
                                  OUTDIR/<topic>-<partition>/<first offset>.log
  strata quarantine export [--data-dir DIR] --format json [FILTERS]
                                  print one JSON line per record
  FILTERS: [--topic NAME] [--partition N] [--object FILE]

A broker's WAL can hold records it may not commit: its lease ended and another
broker has led the partition since, perhaps writing other records at those
offsets. The uploader sets them aside in <data-dir>/quarantine/ instead of
deleting them. These commands read those files; they need no running broker.

Exported .log files are exactly Kafka's: concatenated v2 record batches, with
their original offsets. Inspect one with
  kafka-dump-log.sh --print-data-log --files OUTDIR/orders-3/00000000000000001200.log
or read its batches back with any Kafka library to produce them again.
export never overwrites a file: it fails, writing nothing, if one exists.
JSON lines carry topic, topic_id, partition, offset, timestamp (ms), key and
value (base64, null when null), headers and, for transaction markers, control.

Flags:
  --data-dir dir
        the broker's data dir (default ./strata-data, env STRATA_DATA_DIR)
  --json
        list: print the notes as a JSON array
  --out dir
        export: dir to write the .log files under (created if missing)
  --topic name
        export: only this topic (its name or id)
  --partition n
        export: only this partition
  --object file
        export: only the ranges of this quarantined file (list's FILE column)
  --format log|json
        export: Kafka log segment files under --out (default), or JSON lines on stdout

docs/operations.md describes the output.
`)
}

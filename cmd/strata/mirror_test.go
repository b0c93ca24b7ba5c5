package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestParseMirrorYAMLAndFlags(t *testing.T) {
	dir := t.TempDir()
	props := filepath.Join(dir, "target.properties")
	if err := os.WriteFile(props, []byte("# target\nsecurity.protocol=sasl_plaintext\nsasl.username=u\nsasl.password=p\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "mirror.yaml")
	yml := `source-bootstrap: a:9092,b:9092
target-bootstrap: c:9092
topics: "orders|payments"
groups: "app-.*"
name: dr
exactly-once: true
sync-interval: 3s
batch-records: 500
target-prefix: east.
source-X: ["security.protocol=plaintext"]
target-F: ` + props + "\n"
	if err := os.WriteFile(file, []byte(yml), 0o600); err != nil {
		t.Fatal(err)
	}
	o, err := parseMirror("mirror", []string{"--config", file, "--sync-interval", "7s", "--instance-id", "i1"})
	if err != nil {
		t.Fatal(err)
	}
	c := o.cfg
	if c.SourceBootstrap != "a:9092,b:9092" || c.TargetBootstrap != "c:9092" || c.Topics != "orders|payments" ||
		c.Groups != "app-.*" || c.Name != "dr" || !c.ExactlyOnce || c.BatchRecords != 500 || c.TargetPrefix != "east." || c.InstanceID != "i1" {
		t.Fatalf("config = %+v", c)
	}
	if c.SyncInterval != 7*time.Second {
		t.Errorf("the flag did not override the file: sync-interval %s", c.SyncInterval)
	}
	if o.sourceProps["security.protocol"] != "plaintext" || o.targetPrp["sasl.username"] != "u" || o.targetPrp["security.protocol"] != "sasl_plaintext" {
		t.Errorf("properties: source %v target %v", o.sourceProps, o.targetPrp)
	}
	if _, err := o.options(); err != nil {
		t.Errorf("options: %v", err)
	}
}

func TestParseMirrorErrors(t *testing.T) {
	dir := t.TempDir()
	unknown := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(unknown, []byte("source-bootstrap: a:1\nsourc-bootstrap: b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--target-bootstrap", "b:1", "--topics", "x"}, "source-bootstrap is required"},
		{[]string{"--source-bootstrap", "a:1", "--target-bootstrap", "b:1", "--topics", "("}, "topics:"},
		{[]string{"--source-bootstrap", "a:1", "--target-bootstrap", "b:1", "--topics", "x", "--source-X", "nope=1"}, "unknown property"},
		{[]string{"--config", unknown}, "sourc-bootstrap"},
		{[]string{"stray"}, "unexpected argument"},
	} {
		if _, err := parseMirror("mirror", tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseMirror(%q) = %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"mirror", "--topics", "x"}, &stdout, &stderr); code != 2 {
		t.Errorf("strata mirror without bootstraps exited %d, want 2; stderr %s", code, stderr.String())
	}
	stdout.Reset()
	if code := run([]string{"mirror", "--help"}, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), "--target-prefix") {
		t.Errorf("strata mirror --help exited %d:\n%s", code, stdout.String())
	}
}

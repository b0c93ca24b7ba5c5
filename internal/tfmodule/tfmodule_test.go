package tfmodule_test

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/zclconf/go-cty/cty"

	"github.com/strata-io/strata/internal/tfmodule"
)

// write lays out a module of files in a temporary directory.
func write(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const moduleSrc = `
terraform {
  required_version = ">= 1.5.0"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.0, < 6.0"
    }
  }
}

variable "name" {
  description = "Name | of things."
  type        = string
  default     = "x"

  validation {
    condition     = can(regex("^[a-z]+$", var.name))
    error_message = "Lower-case letters only."
  }
}

variable "ids" {
  description = "IDs."
  type        = list(string)
}

locals {
  prefix = "${var.name}-"
}

resource "aws_s3_bucket" "this" {
  bucket_prefix = local.prefix
}

resource "aws_instance" "node" {
  count     = 2
  subnet_id = var.ids[count.index]
  user_data = templatefile("${path.module}/t.tftpl", { name = var.name })

  dynamic "ebs_block_device" {
    for_each = var.ids
    content {
      device_name = ebs_block_device.value
    }
  }
}

output "bucket" {
  description = "The bucket."
  value       = aws_s3_bucket.this.id
}
`

func TestLoadAndMarkdown(t *testing.T) {
	dir := write(t, map[string]string{"main.tf": moduleSrc, "t.tftpl": "hello ${name}\n"})
	m, err := tfmodule.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.RequiredVersion != ">= 1.5.0" || len(m.Providers) != 1 || m.Providers[0].Source != "hashicorp/aws" {
		t.Errorf("terraform block read as %q %+v", m.RequiredVersion, m.Providers)
	}
	v := m.Variable("name")
	if v == nil || v.Type != "string" || v.Default != `"x"` || v.Validations != 1 || v.Required() {
		t.Fatalf("variable name read as %+v", v)
	}
	if !m.Variable("ids").Required() {
		t.Error("ids has no default but is not required")
	}
	if p := m.UndeclaredReferences(); len(p) != 0 {
		t.Errorf("a correct module has problems: %v", p)
	}

	md := m.Markdown()
	for _, want := range []string{
		tfmodule.BeginMarker,
		"| aws | >= 5.0, < 6.0 |",
		"| [aws_s3_bucket.this](https://registry.terraform.io/providers/hashicorp/aws/latest/docs/resources/s3_bucket) | resource |",
		"| ids | IDs. | `list(string)` | n/a | yes |\n| name | Name \\| of things. | `string` | `\"x\"` | no |",
		"| bucket | The bucket. |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md)
		}
	}

	readme := "# Title\n\nintro\n\n" + tfmodule.BeginMarker + "\nold\n" + tfmodule.EndMarker + "\n\nafter\n"
	got, err := tfmodule.Splice(readme, md)
	if err != nil || got != "# Title\n\nintro\n\n"+md+"\nafter\n" {
		t.Errorf("Splice: %v\n%s", err, got)
	}
	if _, err := tfmodule.Splice("no markers", md); !errors.Is(err, tfmodule.ErrNoMarkers) {
		t.Errorf("Splice without markers: %v", err)
	}

	calls, problems := m.TemplateCalls()
	if len(problems) != 0 || len(calls) != 1 || calls[0].Path != "t.tftpl" {
		t.Fatalf("TemplateCalls = %+v, %v", calls, problems)
	}
	tmpl, err := m.LoadTemplate(calls[0].Path)
	if err != nil || !slices.Equal(tmpl.Variables(), []string{"name"}) {
		t.Errorf("template variables %v, %v", tmpl.Variables(), err)
	}
}

func TestUndeclaredReferences(t *testing.T) {
	src := moduleSrc + `
output "bad" {
  description = "Wrong names."
  value = [var.nmae, local.prefx, aws_s3_bucket.that.id, data.aws_region.current.name, module.vpc.id, count.index, each.key, ebs_block_device.value]
}
`
	m, err := tfmodule.Load(write(t, map[string]string{"main.tf": src}))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range m.UndeclaredReferences() {
		got = append(got, p.Msg)
	}
	want := []string{
		"var.nmae: no such variable",
		"local.prefx: no such local value",
		"aws_s3_bucket.that: no such resource (or an unknown name)",
		"data.aws_region.current: no such data source",
		"module.vpc: no such module call",
		"count.index outside a block with count",
		"each outside a block with for_each",
		"ebs_block_device.value: no such resource (or an unknown name)",
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("problems\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestValidate(t *testing.T) {
	m, err := tfmodule.Load(write(t, map[string]string{"main.tf": moduleSrc}))
	if err != nil {
		t.Fatal(err)
	}
	v := m.Variable("name")
	for value, ok := range map[string]bool{"abc": true, "Abc": false, "a-b": false} {
		failed, err := v.Validate(cty.StringVal(value))
		if err != nil || (len(failed) == 0) != ok {
			t.Errorf("Validate(%q) = %v, %v; want ok=%v", value, failed, err, ok)
		}
	}
	if _, err := m.Inputs(map[string]cty.Value{}); err == nil {
		t.Error("Inputs without the required ids succeeded")
	}
	in, err := m.Inputs(map[string]cty.Value{"ids": cty.TupleVal([]cty.Value{cty.StringVal("a")})})
	if err != nil || in["name"].AsString() != "x" || !in["ids"].Type().Equals(cty.List(cty.String)) {
		t.Errorf("Inputs = %v, %v", in, err)
	}
}

func TestFunctions(t *testing.T) {
	f := tfmodule.Functions()
	cases := []struct {
		fn   string
		args []cty.Value
		want cty.Value
	}{
		{"cidrhost", []cty.Value{cty.StringVal("10.0.1.0/24"), cty.NumberIntVal(10)}, cty.StringVal("10.0.1.10")},
		{"cidrhost", []cty.Value{cty.StringVal("10.0.0.0/16"), cty.NumberIntVal(300)}, cty.StringVal("10.0.1.44")},
		{"cidrhost", []cty.Value{cty.StringVal("10.0.1.7/24"), cty.NumberIntVal(-2)}, cty.StringVal("10.0.1.254")},
		{"alltrue", []cty.Value{cty.ListVal([]cty.Value{cty.True, cty.False})}, cty.False},
		{"alltrue", []cty.Value{cty.ListValEmpty(cty.Bool)}, cty.True},
		{"startswith", []cty.Value{cty.StringVal("https://x"), cty.StringVal("https://")}, cty.True},
		{"length", []cty.Value{cty.StringVal("héllo")}, cty.NumberIntVal(5)},
		{"one", []cty.Value{cty.ListValEmpty(cty.String)}, cty.NullVal(cty.String)},
	}
	for _, c := range cases {
		got, err := f[c.fn].Call(c.args)
		if err != nil || !got.RawEquals(c.want) {
			t.Errorf("%s(%v) = %v, %v; want %v", c.fn, c.args, got.GoString(), err, c.want.GoString())
		}
	}
	if _, err := f["cidrhost"].Call([]cty.Value{cty.StringVal("10.0.1.0/24"), cty.NumberIntVal(256)}); err == nil {
		t.Error("cidrhost past the prefix succeeded")
	}
}

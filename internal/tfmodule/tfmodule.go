// Package tfmodule reads a Terraform module's configuration with HashiCorp's
// HCL parser, without Terraform and without any provider: its variables,
// outputs, required providers, resources, locals and module calls, and the
// references between them. It renders the terraform-docs-style tables of a
// module's README (Markdown), and the provisioning tests use it to check what
// can be checked offline (References, TemplateCalls).
//
// It understands the subset of the language that Strata's modules use: .tf
// files in native syntax (no .tf.json), one directory per module.
package tfmodule

import (
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// ErrNoFiles is returned by Load for a directory without .tf files.
var ErrNoFiles = errors.New("tfmodule: no .tf files")

// Module is the configuration in one directory.
type Module struct {
	Dir   string
	Files map[string]*hclsyntax.Body // base name → body

	RequiredVersion string     // terraform { required_version }, "" if absent
	VersionsFile    string     // base name of the file holding the terraform block
	Providers       []Provider // terraform { required_providers }, by name
	ProviderBlocks  []string   // names of provider "..." blocks (configurations)
	Backend         string     // type of terraform { backend "..." }, "" if none

	Variables   []*Variable // by name
	Outputs     []*Output   // by name
	Locals      map[string]*hclsyntax.Attribute
	Resources   []*Resource // managed and data, by address
	ModuleCalls []*ModuleCall

	src map[string][]byte // file name as in ranges → source
}

// Provider is an entry of required_providers.
type Provider struct {
	Name, Source, Version string
}

// Variable is a variable block.
type Variable struct {
	Name        string
	Type        string // the type expression's source, "" when untyped
	Description string
	Default     string // the default's source, "" when there is none
	HasDefault  bool
	Sensitive   bool
	Validations int
	File        string
	Block       *hclsyntax.Block
}

// Required reports whether a caller must give the variable.
func (v *Variable) Required() bool { return !v.HasDefault }

// Output is an output block.
type Output struct {
	Name        string
	Description string
	Sensitive   bool
	Value       hclsyntax.Expression
	File        string
}

// Resource is a resource or data block.
type Resource struct {
	Mode  string // "resource" or "data"
	Type  string
	Name  string
	File  string
	Block *hclsyntax.Block
}

// Address is type.name for a managed resource, data.type.name for data.
func (r *Resource) Address() string {
	if r.Mode == "data" {
		return "data." + r.Type + "." + r.Name
	}
	return r.Type + "." + r.Name
}

// ModuleCall is a module block.
type ModuleCall struct {
	Name   string
	Source string
	Args   map[string]*hclsyntax.Attribute // every attribute but source, version and meta-arguments
	File   string
	Block  *hclsyntax.Block
}

// Load parses every .tf file in dir.
func Load(dir string) (*Module, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.tf"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%w in %s", ErrNoFiles, dir)
	}
	sort.Strings(names)
	m := &Module{
		Dir:    dir,
		Files:  map[string]*hclsyntax.Body{},
		Locals: map[string]*hclsyntax.Attribute{},
		src:    map[string][]byte{},
	}
	p := hclparse.NewParser()
	for _, name := range names {
		f, diags := p.ParseHCLFile(name)
		if diags.HasErrors() {
			return nil, fmt.Errorf("tfmodule: %s", diags.Error())
		}
		body := f.Body.(*hclsyntax.Body)
		base := filepath.Base(name)
		m.Files[base] = body
		m.src[name] = f.Bytes
		if err := m.read(base, body); err != nil {
			return nil, err
		}
	}
	sort.Slice(m.Variables, func(i, j int) bool { return m.Variables[i].Name < m.Variables[j].Name })
	sort.Slice(m.Outputs, func(i, j int) bool { return m.Outputs[i].Name < m.Outputs[j].Name })
	sort.Slice(m.Providers, func(i, j int) bool { return m.Providers[i].Name < m.Providers[j].Name })
	sort.Slice(m.Resources, func(i, j int) bool { return m.Resources[i].Address() < m.Resources[j].Address() })
	sort.Slice(m.ModuleCalls, func(i, j int) bool { return m.ModuleCalls[i].Name < m.ModuleCalls[j].Name })
	return m, nil
}

func (m *Module) read(file string, body *hclsyntax.Body) error {
	for _, b := range body.Blocks {
		switch b.Type {
		case "terraform":
			if err := m.readTerraform(file, b); err != nil {
				return err
			}
		case "provider":
			m.ProviderBlocks = append(m.ProviderBlocks, b.Labels[0])
		case "variable":
			v, err := m.readVariable(file, b)
			if err != nil {
				return err
			}
			m.Variables = append(m.Variables, v)
		case "output":
			o := &Output{Name: b.Labels[0], File: file}
			var err error
			if o.Description, err = m.stringAttr(b.Body, "description"); err != nil {
				return err
			}
			if o.Sensitive, err = boolAttr(b.Body, "sensitive"); err != nil {
				return err
			}
			if a, ok := b.Body.Attributes["value"]; ok {
				o.Value = a.Expr
			}
			m.Outputs = append(m.Outputs, o)
		case "locals":
			for name, a := range b.Body.Attributes {
				m.Locals[name] = a
			}
		case "resource", "data":
			m.Resources = append(m.Resources, &Resource{Mode: b.Type, Type: b.Labels[0], Name: b.Labels[1], File: file, Block: b})
		case "module":
			c := &ModuleCall{Name: b.Labels[0], Args: map[string]*hclsyntax.Attribute{}, File: file, Block: b}
			var err error
			if c.Source, err = m.stringAttr(b.Body, "source"); err != nil {
				return err
			}
			for name, a := range b.Body.Attributes {
				switch name {
				case "source", "version", "count", "for_each", "providers", "depends_on":
				default:
					c.Args[name] = a
				}
			}
			m.ModuleCalls = append(m.ModuleCalls, c)
		}
	}
	return nil
}

func (m *Module) readTerraform(file string, b *hclsyntax.Block) error {
	m.VersionsFile = file
	var err error
	if m.RequiredVersion, err = m.stringAttr(b.Body, "required_version"); err != nil {
		return err
	}
	for _, inner := range b.Body.Blocks {
		switch inner.Type {
		case "backend":
			m.Backend = inner.Labels[0]
		case "required_providers":
			for name, a := range inner.Body.Attributes {
				v, diags := a.Expr.Value(nil)
				if diags.HasErrors() || !v.Type().IsObjectType() {
					return fmt.Errorf("tfmodule: %s: required provider %q must be { source, version }", a.SrcRange, name)
				}
				p := Provider{Name: name}
				if v.Type().HasAttribute("source") {
					p.Source = v.GetAttr("source").AsString()
				}
				if v.Type().HasAttribute("version") {
					p.Version = v.GetAttr("version").AsString()
				}
				m.Providers = append(m.Providers, p)
			}
		}
	}
	return nil
}

func (m *Module) readVariable(file string, b *hclsyntax.Block) (*Variable, error) {
	v := &Variable{Name: b.Labels[0], File: file, Block: b}
	var err error
	if v.Description, err = m.stringAttr(b.Body, "description"); err != nil {
		return nil, err
	}
	if v.Sensitive, err = boolAttr(b.Body, "sensitive"); err != nil {
		return nil, err
	}
	if a, ok := b.Body.Attributes["type"]; ok {
		v.Type = m.Source(a.Expr.Range())
	}
	if a, ok := b.Body.Attributes["default"]; ok {
		v.HasDefault = true
		v.Default = m.Source(a.Expr.Range())
	}
	for _, inner := range b.Body.Blocks {
		if inner.Type == "validation" {
			v.Validations++
		}
	}
	return v, nil
}

// stringAttr is the value of a literal string attribute, "" when absent.
func (m *Module) stringAttr(body *hclsyntax.Body, name string) (string, error) {
	a, ok := body.Attributes[name]
	if !ok {
		return "", nil
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || !v.Type().Equals(cty.String) || v.IsNull() {
		return "", fmt.Errorf("tfmodule: %s: %s must be a literal string", a.SrcRange, name)
	}
	return v.AsString(), nil
}

func boolAttr(body *hclsyntax.Body, name string) (bool, error) {
	a, ok := body.Attributes[name]
	if !ok {
		return false, nil
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() || !v.Type().Equals(cty.Bool) || v.IsNull() {
		return false, fmt.Errorf("tfmodule: %s: %s must be true or false", a.SrcRange, name)
	}
	return v.True(), nil
}

// Source is the text of the configuration in r.
func (m *Module) Source(r hcl.Range) string {
	src, ok := m.src[r.Filename]
	if !ok || r.End.Byte > len(src) {
		return ""
	}
	return string(src[r.Start.Byte:r.End.Byte])
}

// Variable returns the variable called name, or nil.
func (m *Module) Variable(name string) *Variable {
	return find(m.Variables, func(v *Variable) bool { return v.Name == name })
}

// Output returns the output called name, or nil.
func (m *Module) Output(name string) *Output {
	return find(m.Outputs, func(o *Output) bool { return o.Name == name })
}

// Resource returns the resource or data source at address (type.name or
// data.type.name), or nil.
func (m *Module) Resource(address string) *Resource {
	return find(m.Resources, func(r *Resource) bool { return r.Address() == address })
}

// ModuleCall returns the module block called name, or nil.
func (m *Module) ModuleCall(name string) *ModuleCall {
	return find(m.ModuleCalls, func(c *ModuleCall) bool { return c.Name == name })
}

// find returns the first of xs that match reports true for, or nil.
func find[T any](xs []*T, match func(*T) bool) *T {
	for _, x := range xs {
		if match(x) {
			return x
		}
	}
	return nil
}

// LocalSource is the directory of a module call with a relative source
// ("./" or "../"), or "" for a registry or remote source.
func (m *Module) LocalSource(c *ModuleCall) string {
	if !strings.HasPrefix(c.Source, "./") && !strings.HasPrefix(c.Source, "../") {
		return ""
	}
	return filepath.Join(m.Dir, filepath.FromSlash(c.Source))
}

// Blocks returns every block of the module, nested ones included, in file
// order, with the file it is in.
func (m *Module) Blocks() []FileBlock {
	var out []FileBlock
	var walk func(file string, body *hclsyntax.Body)
	walk = func(file string, body *hclsyntax.Body) {
		for _, b := range body.Blocks {
			out = append(out, FileBlock{File: file, Block: b})
			walk(file, b.Body)
		}
	}
	for _, file := range m.fileNames() {
		walk(file, m.Files[file])
	}
	return out
}

// FileBlock is a block and the base name of its file.
type FileBlock struct {
	File  string
	Block *hclsyntax.Block
}

func (m *Module) fileNames() []string {
	names := make([]string, 0, len(m.Files))
	for n := range m.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

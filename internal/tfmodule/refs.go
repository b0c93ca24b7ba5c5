package tfmodule

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
)

// Problem is a mistake in a configuration, at a place.
type Problem struct {
	Range hcl.Range
	Msg   string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: %s", p.Range.Filename, p.Range.Start.Line, p.Msg)
}

// scope is what a reference may name where it appears.
type scope struct {
	count, each, self bool
	typeAttr          bool            // the block's type attribute is a type constraint
	iterators         map[string]bool // dynamic blocks' iterators
}

func (s scope) with(iterator string) scope {
	it := map[string]bool{iterator: true}
	for k := range s.iterators {
		it[k] = true
	}
	s.iterators = it
	return s
}

// Roots that are always valid in a reference.
var globalRoots = map[string]bool{"path": true, "terraform": true}

// UndeclaredReferences returns every reference that names nothing the
// module declares: var.X without a variable X, local.X without a local,
// T.N and data.T.N without such a resource or data source, module.N without
// a module call, module.N.O where N is a local module without output O, and
// count, each or a dynamic block's iterator outside the block that binds it.
// This is what terraform validate would find first, short of the providers'
// schemas.
func (m *Module) UndeclaredReferences() []Problem {
	var problems []Problem
	callees := map[string]*Module{}
	for _, file := range m.fileNames() {
		body := m.Files[file]
		for _, b := range body.Blocks {
			sc := scope{}
			switch b.Type {
			case "resource", "data", "module":
				_, sc.count = b.Body.Attributes["count"]
				_, sc.each = b.Body.Attributes["for_each"]
				sc.self = b.Type == "resource"
			case "variable":
				sc.typeAttr = true
			}
			m.walkRefs(b.Body, sc, func(t hcl.Traversal, sc scope) {
				if msg := m.checkRef(t, sc, callees); msg != "" {
					problems = append(problems, Problem{Range: t.SourceRange(), Msg: msg})
				}
			})
		}
	}
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].String() < problems[j].String() })
	return problems
}

func (m *Module) walkRefs(body *hclsyntax.Body, sc scope, f func(hcl.Traversal, scope)) {
	for name, a := range body.Attributes {
		if name == "type" && sc.typeAttr || name == "ignore_changes" {
			continue // a type constraint, or attribute names: neither are references
		}
		for _, t := range hclsyntax.Variables(a.Expr) {
			f(t, sc)
		}
	}
	for _, b := range body.Blocks {
		if b.Type != "dynamic" {
			m.walkRefs(b.Body, sc, f)
			continue
		}
		iterator := b.Labels[0]
		if a, ok := b.Body.Attributes["iterator"]; ok {
			if kw := hcl.ExprAsKeyword(a.Expr); kw != "" {
				iterator = kw
			}
		}
		for name, a := range b.Body.Attributes {
			if name == "iterator" {
				continue
			}
			for _, t := range hclsyntax.Variables(a.Expr) {
				f(t, sc)
			}
		}
		for _, inner := range b.Body.Blocks {
			m.walkRefs(inner.Body, sc.with(iterator), f)
		}
	}
}

// checkRef returns what is wrong with reference t, or "".
func (m *Module) checkRef(t hcl.Traversal, sc scope, callees map[string]*Module) string {
	root := t.RootName()
	attr := func(i int) string {
		if i >= len(t) {
			return ""
		}
		if a, ok := t[i].(hcl.TraverseAttr); ok {
			return a.Name
		}
		return ""
	}
	switch {
	case globalRoots[root]:
		return ""
	case sc.iterators[root]:
		return ""
	case root == "count":
		if !sc.count {
			return "count.index outside a block with count"
		}
		return ""
	case root == "each":
		if !sc.each {
			return "each outside a block with for_each"
		}
		return ""
	case root == "self":
		if !sc.self {
			return "self outside a resource"
		}
		return ""
	case root == "var":
		if m.Variable(attr(1)) == nil {
			return fmt.Sprintf("var.%s: no such variable", attr(1))
		}
		return ""
	case root == "local":
		if _, ok := m.Locals[attr(1)]; !ok {
			return fmt.Sprintf("local.%s: no such local value", attr(1))
		}
		return ""
	case root == "data":
		if m.Resource("data."+attr(1)+"."+attr(2)) == nil {
			return fmt.Sprintf("data.%s.%s: no such data source", attr(1), attr(2))
		}
		return ""
	case root == "module":
		c := m.ModuleCall(attr(1))
		if c == nil {
			return fmt.Sprintf("module.%s: no such module call", attr(1))
		}
		dir := m.LocalSource(c)
		out := attr(2)
		if dir == "" || out == "" {
			return ""
		}
		callee, ok := callees[dir]
		if !ok {
			var err error
			if callee, err = Load(dir); err != nil {
				return fmt.Sprintf("module.%s: %v", c.Name, err)
			}
			callees[dir] = callee
		}
		if callee.Output(out) == nil {
			return fmt.Sprintf("module.%s.%s: %s has no such output", c.Name, out, c.Source)
		}
		return ""
	}
	if m.Resource(root+"."+attr(1)) == nil {
		return fmt.Sprintf("%s.%s: no such resource (or an unknown name)", root, attr(1))
	}
	return ""
}

// TemplateCall is a call templatefile("${path.module}/PATH", { k = v, ... }).
type TemplateCall struct {
	Path  string                          // relative to the module's directory
	Vars  map[string]hclsyntax.Expression // the variables given to the template
	Range hcl.Range
}

// TemplateCalls returns the module's templatefile calls; a call whose path
// is not "${path.module}/..." or whose variables are not an object
// constructor is a problem, since it cannot be checked.
func (m *Module) TemplateCalls() ([]TemplateCall, []Problem) {
	var calls []TemplateCall
	var problems []Problem
	for _, file := range m.fileNames() {
		hclsyntax.VisitAll(m.Files[file], func(n hclsyntax.Node) hcl.Diagnostics {
			call, ok := n.(*hclsyntax.FunctionCallExpr)
			if !ok || call.Name != "templatefile" {
				return nil
			}
			bad := func(msg string) hcl.Diagnostics {
				problems = append(problems, Problem{Range: call.Range(), Msg: msg})
				return nil
			}
			if len(call.Args) != 2 {
				return bad("templatefile takes two arguments")
			}
			tc := TemplateCall{Vars: map[string]hclsyntax.Expression{}, Range: call.Range()}
			path, ok := modulePath(call.Args[0])
			if !ok {
				return bad(`the template's path must be "${path.module}/..."`)
			}
			tc.Path = path
			obj, ok := call.Args[1].(*hclsyntax.ObjectConsExpr)
			if !ok {
				return bad("the template's variables must be written out as { name = value, ... }")
			}
			for _, item := range obj.Items {
				key := hcl.ExprAsKeyword(item.KeyExpr)
				if key == "" {
					return bad("every template variable must be a plain name")
				}
				tc.Vars[key] = item.ValueExpr
			}
			calls = append(calls, tc)
			return nil
		})
	}
	return calls, problems
}

// modulePath returns PATH of "${path.module}/PATH".
func modulePath(e hclsyntax.Expression) (string, bool) {
	tmpl, ok := e.(*hclsyntax.TemplateExpr)
	if !ok || len(tmpl.Parts) != 2 {
		return "", false
	}
	ref, ok := tmpl.Parts[0].(*hclsyntax.ScopeTraversalExpr)
	if !ok || len(ref.Traversal) != 2 || ref.Traversal.RootName() != "path" {
		return "", false
	}
	if a, ok := ref.Traversal[1].(hcl.TraverseAttr); !ok || a.Name != "module" {
		return "", false
	}
	lit, ok := tmpl.Parts[1].(*hclsyntax.LiteralValueExpr)
	if !ok || !lit.Val.Type().Equals(cty.String) {
		return "", false
	}
	rest := lit.Val.AsString()
	if !strings.HasPrefix(rest, "/") {
		return "", false
	}
	return strings.TrimPrefix(rest, "/"), true
}

// Template is a parsed template file.
type Template struct {
	Path string
	Expr hclsyntax.Expression
}

// LoadTemplate parses the template at path, relative to the module's
// directory, as templatefile does.
func (m *Module) LoadTemplate(path string) (*Template, error) {
	name := filepath.Join(m.Dir, filepath.FromSlash(path))
	src, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	expr, diags := hclsyntax.ParseTemplate(src, name, hcl.InitialPos)
	if diags.HasErrors() {
		return nil, fmt.Errorf("tfmodule: %s", diags.Error())
	}
	return &Template{Path: path, Expr: expr}, nil
}

// Variables returns the names the template refers to, sorted.
func (t *Template) Variables() []string {
	seen := map[string]bool{}
	for _, tr := range hclsyntax.Variables(t.Expr) {
		seen[tr.RootName()] = true
	}
	names := make([]string, 0, len(seen))
	for n := range seen {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

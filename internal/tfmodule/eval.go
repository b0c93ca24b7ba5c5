package tfmodule

import (
	"encoding/base64"
	"fmt"
	"math/big"
	"net/netip"
	"sort"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/ext/tryfunc"
	"github.com/hashicorp/hcl/v2/ext/typeexpr"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"github.com/zclconf/go-cty/cty/convert"
	"github.com/zclconf/go-cty/cty/function"
	"github.com/zclconf/go-cty/cty/function/stdlib"
)

// Functions are the Terraform functions that Strata's configurations use,
// with Terraform's behaviour, for evaluating their expressions here. An
// expression that calls any other function fails to evaluate, so a check
// built on Eval can only err on the side of failing.
func Functions() map[string]function.Function {
	return map[string]function.Function{
		"alltrue": allTrueFunc,
		"base64encode": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "str", Type: cty.String}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				return cty.StringVal(base64.StdEncoding.EncodeToString([]byte(args[0].AsString()))), nil
			},
		}),
		"can":        tryfunc.CanFunc,
		"cidrhost":   cidrHostFunc,
		"coalesce":   stdlib.CoalesceFunc,
		"contains":   stdlib.ContainsFunc,
		"endswith":   affixFunc(strings.HasSuffix),
		"floor":      stdlib.FloorFunc,
		"join":       stdlib.JoinFunc,
		"jsonencode": stdlib.JSONEncodeFunc,
		"length":     lengthFunc,
		"lookup":     stdlib.LookupFunc,
		"lower":      stdlib.LowerFunc,
		"merge":      stdlib.MergeFunc,
		"one":        oneFunc,
		"range":      stdlib.RangeFunc,
		"regex":      stdlib.RegexFunc,
		"startswith": affixFunc(strings.HasPrefix),
		"tostring": function.New(&function.Spec{
			Params: []function.Parameter{{Name: "v", Type: cty.DynamicPseudoType, AllowNull: true}},
			Type:   function.StaticReturnType(cty.String),
			Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
				return convert.Convert(args[0], cty.String)
			},
		}),
	}
}

var allTrueFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.List(cty.Bool)}},
	Type:   function.StaticReturnType(cty.Bool),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		for it := args[0].ElementIterator(); it.Next(); {
			_, v := it.Element()
			if v.IsNull() || v.False() {
				return cty.False, nil
			}
		}
		return cty.True, nil
	},
})

func affixFunc(has func(s, affix string) bool) function.Function {
	return function.New(&function.Spec{
		Params: []function.Parameter{{Name: "str", Type: cty.String}, {Name: "affix", Type: cty.String}},
		Type:   function.StaticReturnType(cty.Bool),
		Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
			return cty.BoolVal(has(args[0].AsString(), args[1].AsString())), nil
		},
	})
}

// lengthFunc is Terraform's length: of a string (in characters) or a collection.
var lengthFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "value", Type: cty.DynamicPseudoType}},
	Type:   function.StaticReturnType(cty.Number),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		v := args[0]
		if v.Type() == cty.String {
			return stdlib.Strlen(v)
		}
		if !v.CanIterateElements() {
			return cty.NilVal, fmt.Errorf("length of a %s", v.Type().FriendlyName())
		}
		return cty.NumberIntVal(int64(v.LengthInt())), nil
	},
})

var oneFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "list", Type: cty.DynamicPseudoType}},
	Type: func(args []cty.Value) (cty.Type, error) {
		t := args[0].Type()
		switch {
		case t.IsListType() || t.IsSetType():
			return t.ElementType(), nil
		case t.IsTupleType() && len(t.TupleElementTypes()) == 0:
			return cty.DynamicPseudoType, nil
		case t.IsTupleType() && len(t.TupleElementTypes()) == 1:
			return t.TupleElementTypes()[0], nil
		}
		return cty.NilType, fmt.Errorf("one takes a list of at most one element, not %s", t.FriendlyName())
	},
	Impl: func(args []cty.Value, ret cty.Type) (cty.Value, error) {
		switch n := args[0].LengthInt(); n {
		case 0:
			return cty.NullVal(ret), nil
		case 1:
			return args[0].Index(cty.NumberIntVal(0)), nil
		default:
			return cty.NilVal, fmt.Errorf("one: %d elements", n)
		}
	},
})

// cidrHostFunc is Terraform's cidrhost for IPv4 prefixes.
var cidrHostFunc = function.New(&function.Spec{
	Params: []function.Parameter{{Name: "prefix", Type: cty.String}, {Name: "hostnum", Type: cty.Number}},
	Type:   function.StaticReturnType(cty.String),
	Impl: func(args []cty.Value, _ cty.Type) (cty.Value, error) {
		p, err := netip.ParsePrefix(args[0].AsString())
		if err != nil || !p.Addr().Is4() {
			return cty.NilVal, fmt.Errorf("invalid IPv4 CIDR block %q", args[0].AsString())
		}
		bf := args[1].AsBigFloat()
		n, acc := bf.Int64()
		if acc != big.Exact {
			return cty.NilVal, fmt.Errorf("host number must be whole")
		}
		size := int64(1) << (32 - p.Bits())
		if n < 0 {
			n += size
		}
		if n < 0 || n >= size {
			return cty.NilVal, fmt.Errorf("prefix %s has no host number %d", p, n)
		}
		b := p.Masked().Addr().As4()
		v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
		v += uint32(n)
		addr := netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
		return cty.StringVal(addr.String()), nil
	},
})

// TypeConstraint is the variable's declared type constraint (cty.DynamicPseudoType
// when untyped), with Terraform's optional() attributes allowed.
func (v *Variable) TypeConstraint() (cty.Type, error) {
	a, ok := v.Block.Body.Attributes["type"]
	if !ok {
		return cty.DynamicPseudoType, nil
	}
	t, _, diags := typeexpr.TypeConstraintWithDefaults(a.Expr)
	if diags.HasErrors() {
		return cty.NilType, fmt.Errorf("variable %s: %s", v.Name, diags.Error())
	}
	return t, nil
}

// DefaultValue is the variable's default converted to its type; it is an
// error for a required variable.
func (v *Variable) DefaultValue() (cty.Value, error) {
	a, ok := v.Block.Body.Attributes["default"]
	if !ok {
		return cty.NilVal, fmt.Errorf("variable %s has no default", v.Name)
	}
	val, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("variable %s: default: %s", v.Name, diags.Error())
	}
	return v.Convert(val)
}

// Convert converts val to the variable's type, as Terraform does with an
// input value.
func (v *Variable) Convert(val cty.Value) (cty.Value, error) {
	t, err := v.TypeConstraint()
	if err != nil {
		return cty.NilVal, err
	}
	out, err := convert.Convert(val, t)
	if err != nil {
		return cty.NilVal, fmt.Errorf("variable %s: %v", v.Name, err)
	}
	return out, nil
}

// Validate evaluates the variable's validation blocks for val (already of
// the variable's type) and returns the error messages of the conditions
// that are false. A condition that cannot be evaluated is an error.
func (v *Variable) Validate(val cty.Value) ([]string, error) {
	ctx := &hcl.EvalContext{
		Variables: map[string]cty.Value{"var": cty.ObjectVal(map[string]cty.Value{v.Name: val})},
		Functions: Functions(),
	}
	var failed []string
	for _, b := range v.Block.Body.Blocks {
		if b.Type != "validation" {
			continue
		}
		cond, ok := b.Body.Attributes["condition"]
		if !ok {
			return nil, fmt.Errorf("variable %s: validation without a condition", v.Name)
		}
		res, diags := cond.Expr.Value(ctx)
		if diags.HasErrors() {
			return nil, fmt.Errorf("variable %s: condition: %s", v.Name, diags.Error())
		}
		if res.IsNull() || !res.Type().Equals(cty.Bool) {
			return nil, fmt.Errorf("variable %s: condition is not a bool", v.Name)
		}
		if res.False() {
			msg := "(no error_message)"
			if a, ok := b.Body.Attributes["error_message"]; ok {
				if m, d := a.Expr.Value(nil); !d.HasErrors() && m.Type() == cty.String {
					msg = m.AsString()
				}
			}
			failed = append(failed, msg)
		}
	}
	return failed, nil
}

// Inputs returns the value of every variable: given[name] converted to the
// variable's type, else its default. A required variable missing from given
// is an error, and so is a name in given that is no variable.
func (m *Module) Inputs(given map[string]cty.Value) (map[string]cty.Value, error) {
	out := map[string]cty.Value{}
	for name := range given {
		if m.Variable(name) == nil {
			return nil, fmt.Errorf("no variable %q", name)
		}
	}
	for _, v := range m.Variables {
		var val cty.Value
		var err error
		if g, ok := given[v.Name]; ok {
			val, err = v.Convert(g)
		} else {
			val, err = v.DefaultValue()
		}
		if err != nil {
			return nil, err
		}
		out[v.Name] = val
	}
	return out, nil
}

// EvalLocals evaluates the module's locals in ctx (which holds var and
// whatever resources and data sources the locals read), in dependency order
// as far as they can be evaluated; fixed gives values for locals that are
// not to be evaluated (ones that need functions or data Functions lacks).
// It returns ctx with local set. Locals that cannot be evaluated are left
// out, so that an expression using one fails when it is evaluated.
func (m *Module) EvalLocals(ctx *hcl.EvalContext, fixed map[string]cty.Value) *hcl.EvalContext {
	locals := map[string]cty.Value{}
	for k, v := range fixed {
		locals[k] = v
	}
	names := make([]string, 0, len(m.Locals))
	for n := range m.Locals {
		names = append(names, n)
	}
	sort.Strings(names)
	for progress := true; progress; {
		progress = false
		for _, n := range names {
			if _, done := locals[n]; done {
				continue
			}
			c := ctx.NewChild()
			c.Variables = map[string]cty.Value{"local": cty.ObjectVal(locals)}
			v, diags := m.Locals[n].Expr.Value(c)
			if diags.HasErrors() || !v.IsWhollyKnown() {
				continue
			}
			locals[n] = v
			progress = true
		}
	}
	out := ctx.NewChild()
	out.Variables = map[string]cty.Value{"local": cty.ObjectVal(locals)}
	return out
}

// Eval evaluates expr in ctx.
func Eval(expr hclsyntax.Expression, ctx *hcl.EvalContext) (cty.Value, error) {
	v, diags := expr.Value(ctx)
	if diags.HasErrors() {
		return cty.NilVal, fmt.Errorf("%s", diags.Error())
	}
	return v, nil
}

package tfmodule

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// The markers around the generated part of a README, as terraform-docs
// writes them, so that either tool can maintain it.
const (
	BeginMarker = "<!-- BEGIN_TF_DOCS -->"
	EndMarker   = "<!-- END_TF_DOCS -->"
)

// ErrNoMarkers is returned by Splice for a README without both markers.
var ErrNoMarkers = errors.New("tfmodule: README has no " + BeginMarker + " ... " + EndMarker + " section")

// Markdown renders the module's requirements, module calls, resources,
// inputs and outputs as terraform-docs' markdown table format does, inputs
// with the required ones first; it starts with BeginMarker and ends with
// EndMarker and a newline.
func (m *Module) Markdown() string {
	var b strings.Builder
	b.WriteString(BeginMarker + "\n")

	b.WriteString("## Requirements\n\n| Name | Version |\n|------|---------|\n")
	if m.RequiredVersion != "" {
		fmt.Fprintf(&b, "| terraform | %s |\n", cell(m.RequiredVersion))
	}
	for _, p := range m.Providers {
		fmt.Fprintf(&b, "| %s | %s |\n", p.Name, cell(p.Version))
	}

	if len(m.ModuleCalls) > 0 {
		b.WriteString("\n## Modules\n\n| Name | Source |\n|------|--------|\n")
		for _, c := range m.ModuleCalls {
			fmt.Fprintf(&b, "| %s | %s |\n", c.Name, cell(c.Source))
		}
	}

	if len(m.Resources) > 0 {
		b.WriteString("\n## Resources\n\n| Name | Type |\n|------|------|\n")
		for _, r := range m.Resources {
			kind, docs := "resource", "resources"
			if r.Mode == "data" {
				kind, docs = "data source", "data-sources"
			}
			name := r.Type + "." + r.Name
			if url := m.docsURL(r.Type, docs); url != "" {
				name = "[" + name + "](" + url + ")"
			}
			fmt.Fprintf(&b, "| %s | %s |\n", name, kind)
		}
	}

	b.WriteString("\n## Inputs\n\n")
	if len(m.Variables) == 0 {
		b.WriteString("No inputs.\n")
	} else {
		b.WriteString("| Name | Description | Type | Default | Required |\n|------|-------------|------|---------|:--------:|\n")
		vars := append([]*Variable(nil), m.Variables...)
		sort.SliceStable(vars, func(i, j int) bool { return vars[i].Required() && !vars[j].Required() })
		for _, v := range vars {
			def, req := "n/a", "yes"
			if v.HasDefault {
				def, req = code(v.Default), "no"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", v.Name, cell(v.Description), code(v.Type), def, req)
		}
	}

	b.WriteString("\n## Outputs\n\n")
	if len(m.Outputs) == 0 {
		b.WriteString("No outputs.\n")
	} else {
		b.WriteString("| Name | Description |\n|------|-------------|\n")
		for _, o := range m.Outputs {
			desc := cell(o.Description)
			if o.Sensitive {
				desc += " (sensitive)"
			}
			fmt.Fprintf(&b, "| %s | %s |\n", o.Name, desc)
		}
	}
	b.WriteString(EndMarker + "\n")
	return b.String()
}

// docsURL links a resource type to its provider's registry documentation.
func (m *Module) docsURL(typ, kind string) string {
	local, rest, ok := strings.Cut(typ, "_")
	if !ok {
		return ""
	}
	for _, p := range m.Providers {
		if p.Name == local && p.Source != "" {
			return "https://registry.terraform.io/providers/" + p.Source + "/latest/docs/" + kind + "/" + rest
		}
	}
	return ""
}

// cell escapes text for a table cell.
func cell(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "|", `\|`), "\n", " ")
}

// code formats source text for a table cell: `inline`, or a <pre> block
// when it spans lines, as terraform-docs does.
func code(src string) string {
	if src == "" {
		return "n/a"
	}
	if !strings.Contains(src, "\n") {
		return "`" + strings.ReplaceAll(src, "|", `\|`) + "`"
	}
	r := strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "|", "&#124;", "\n", "<br>")
	return "<pre>" + r.Replace(src) + "</pre>"
}

// Splice returns readme with the part from BeginMarker to EndMarker
// replaced by section (Markdown's result).
func Splice(readme, section string) (string, error) {
	i := strings.Index(readme, BeginMarker)
	j := strings.Index(readme, EndMarker)
	if i < 0 || j < i {
		return "", ErrNoMarkers
	}
	end := j + len(EndMarker)
	if end < len(readme) && readme[end] == '\n' {
		end++
	}
	return readme[:i] + section + readme[end:], nil
}

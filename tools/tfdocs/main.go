// Command tfdocs writes the generated part of each Terraform module's
// README.md (between <!-- BEGIN_TF_DOCS --> and <!-- END_TF_DOCS -->): the
// tables of requirements, resources, inputs and outputs, in terraform-docs'
// format, from the module's own files. terraform/terraform_test.go fails
// when a README is out of date; `make tfdocs` runs this to bring it back.
//
// Usage: tfdocs DIR...
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/strata-io/strata/internal/tfmodule"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: tfdocs DIR...")
		os.Exit(2)
	}
	for _, dir := range os.Args[1:] {
		if err := update(dir); err != nil {
			fmt.Fprintf(os.Stderr, "tfdocs: %s: %v\n", dir, err)
			os.Exit(1)
		}
	}
}

func update(dir string) error {
	m, err := tfmodule.Load(dir)
	if err != nil {
		return err
	}
	name := filepath.Join(dir, "README.md")
	old, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	readme, err := tfmodule.Splice(string(old), m.Markdown())
	if err != nil {
		return err
	}
	if readme == string(old) {
		return nil
	}
	fmt.Println("updated", name)
	return os.WriteFile(name, []byte(readme), 0o644)
}

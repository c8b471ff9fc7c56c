// Command valuesschema writes a chart's values.schema.json from its
// values.yaml (internal/valuesschema), run by make generate:
//
//	go run ./hack/valuesschema charts/hpa-autoscaler
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/valuesschema"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: valuesschema CHART_DIR")
		os.Exit(2)
	}
	dir := os.Args[1]
	values, err := os.ReadFile(filepath.Join(dir, "values.yaml"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "valuesschema:", err)
		os.Exit(1)
	}
	schema, err := valuesschema.Generate(values)
	if err != nil {
		fmt.Fprintln(os.Stderr, "valuesschema:", filepath.Join(dir, "values.yaml")+":", err)
		os.Exit(1)
	}
	if err := os.WriteFile(filepath.Join(dir, "values.schema.json"), schema, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "valuesschema:", err)
		os.Exit(1)
	}
}

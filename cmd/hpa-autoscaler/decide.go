package main

import (
	"errors"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/hpa-autoscaler/hpa-autoscaler/scaling/decide"
)

func newDecideCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "decide",
		Short: "Decide one replica count from a JSON request, exactly as Kubernetes v1.36 would",
		Long: `decide reads one JSON decision request (stdin, or --file) and writes one JSON
decision (stdout): the HPA algorithm of Kubernetes v1.36 (metric proposals,
tolerance, legacy or behavior normalization), KEDA's activation step for a
request with a "keda" object, and our additions when asked for. An invalid
request exits with code 2 and a message naming the field.
See docs/decision-engine.md for the request and answer shapes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var in io.Reader = cmd.InOrStdin()
			if file != "" && file != "-" {
				f, err := os.Open(file)
				if err != nil {
					return usagef("--file %q: %v", file, err)
				}
				defer f.Close()
				in = f
			}
			d, err := decide.Decode(in)
			if err != nil {
				if errors.Is(err, decide.ErrInvalid) {
					return &usageError{err: err}
				}
				return err
			}
			return decide.Write(cmd.OutOrStdout(), decide.Evaluate(d))
		},
	}
	cmd.Flags().StringVarP(&file, "file", "f", "", "read the request from this file (- or empty: stdin)")
	return cmd
}

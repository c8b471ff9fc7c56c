package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

func newMigrateCmd() *cobra.Command {
	o := &dbOpts{}
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the database migrations this binary has, without serving, and print the schema version",
		Long: `Apply the database migrations this binary has, in one transaction,
and print the schema version. serve does the same at start; migrate lets
an upgrade migrate first (a database of a newer binary is refused).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v, err := store.Migrate(cmd.Context(), o.db)
			if err != nil {
				return dbError(err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "schema version %d\n", v)
			return err
		},
	}
	o.addFlags(cmd.Flags())
	return cmd
}

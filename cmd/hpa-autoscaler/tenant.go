package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// openStore opens the database of a command run from a shell: it may be
// the one a running serve has open (SQLite in WAL mode takes a second
// process; its writes wait for the other's lock).
func openStore(ctx context.Context, o *dbOpts) (store.Store, error) {
	s, err := store.Open(ctx, o.db, store.Options{})
	if err != nil {
		return nil, dbError(err)
	}
	return s, nil
}

func newTenantCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "tenant", Short: "Manage tenants"}
	o := &dbOpts{}
	create := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a tenant and print a first admin token for it (shown once)",
		Long: `Create a tenant and print a first admin token for it on stdout, once:
the database keeps only its hash. NAME is 1 to 63 lower-case letters,
digits and '-' (not first).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id := store.TenantID(args[0])
			if err := id.Validate(); err != nil {
				return &usageError{err: err}
			}
			s, err := openStore(cmd.Context(), o)
			if err != nil {
				return err
			}
			defer s.Close()
			g, err := auth.Generate(id)
			if err != nil {
				return err
			}
			err = s.Update(cmd.Context(), id, cliActor, func(tx store.Tx) error {
				if _, err := tx.CreateTenant(args[0]); err != nil {
					return err
				}
				_, err := tx.CreateToken(store.Token{ID: g.ID, Name: "first-admin", Role: store.RoleAdmin, SecretHash: g.SecretHash})
				return err
			})
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("tenant %s: already exists", id)
			}
			if err != nil {
				return fmt.Errorf("tenant %s: %w", id, err)
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), g.Token)
			return err
		},
	}
	o.addFlags(create.Flags())
	cmd.AddCommand(create)
	return cmd
}

type tokenCreateOpts struct {
	dbOpts
	tenant  string
	role    string
	name    string
	expires time.Duration
	cluster string
}

func newTokenCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "token", Short: "Manage API tokens"}
	o := &tokenCreateOpts{}
	create := &cobra.Command{
		Use:   "create --tenant NAME --role viewer|operator|admin [--cluster ID]",
		Short: "Create an API token of a tenant and print it (shown once)",
		Long: `Create an API token of a tenant and print it on stdout, once: the
database keeps only its hash. It works while serve runs on the same
database.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd)
		},
	}
	f := create.Flags()
	o.addFlags(f)
	f.StringVar(&o.tenant, "tenant", "", "tenant of the token (required)")
	f.StringVar(&o.role, "role", "", "viewer, operator or admin (required)")
	f.StringVar(&o.name, "name", "cli", "name of the token (what lists show)")
	f.DurationVar(&o.expires, "expires", 0, "lifetime of the token, e.g. 720h (0: it does not expire)")
	f.StringVar(&o.cluster, "cluster", "", "make an agent token bound to this cluster id (scope "+auth.AgentScopePrefix+"ID): it may only connect that cluster's agent to the AgentService (docs/agentservice.md)")
	cmd.AddCommand(create)
	return cmd
}

func (o *tokenCreateOpts) validate() error {
	var errs []error
	if o.tenant == "" {
		errs = append(errs, errors.New("--tenant: required"))
	} else if err := store.TenantID(o.tenant).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--tenant: %w", err))
	}
	switch store.Role(o.role) {
	case store.RoleViewer, store.RoleOperator, store.RoleAdmin:
	case "":
		errs = append(errs, errors.New("--role: required: viewer, operator or admin"))
	default:
		errs = append(errs, fmt.Errorf("--role %q: expected viewer, operator or admin", o.role))
	}
	if o.expires < 0 {
		errs = append(errs, fmt.Errorf("--expires %v: must be >= 0", o.expires))
	}
	if o.name == "" {
		errs = append(errs, errors.New("--name: empty"))
	}
	if o.cluster != "" {
		if len(o.cluster) > 128 || strings.ContainsFunc(o.cluster, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
			errs = append(errs, fmt.Errorf("--cluster %q: expected 1 to 128 printable characters", o.cluster))
		}
		if store.Role(o.role) == store.RoleViewer {
			errs = append(errs, errors.New("--cluster: an agent token needs --role operator or admin (it writes scalers, decisions and events)"))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return &usageError{err: err}
	}
	return nil
}

func (o *tokenCreateOpts) run(cmd *cobra.Command) error {
	if err := o.validate(); err != nil {
		return err
	}
	id := store.TenantID(o.tenant)
	s, err := openStore(cmd.Context(), &o.dbOpts)
	if err != nil {
		return err
	}
	defer s.Close()
	if _, err := s.Tenant(cmd.Context(), id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("--tenant %s: no such tenant (hpa-autoscaler tenant create %s)", id, id)
		}
		return err
	}
	g, err := auth.Generate(id)
	if err != nil {
		return err
	}
	t := store.Token{ID: g.ID, Name: o.name, Role: store.Role(o.role), SecretHash: g.SecretHash}
	if o.cluster != "" {
		t.Scopes = []string{auth.AgentScope(o.cluster)}
	}
	if o.expires > 0 {
		t.ExpiresAt = time.Now().Add(o.expires)
	}
	err = s.Update(cmd.Context(), id, cliActor, func(tx store.Tx) error {
		_, err := tx.CreateToken(t)
		return err
	})
	if err != nil {
		return fmt.Errorf("token of %s: %w", id, err)
	}
	_, err = fmt.Fprintln(cmd.OutOrStdout(), g.Token)
	return err
}

package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/audit"
)

// errBroken is what `audit verify` returns for a log that does not
// verify: the line on stdout said where (exit 1).
var errBroken = errors.New("the audit log does not verify")

type auditVerifyOpts struct {
	dbOpts
	checkpoint        string
	key               string
	allowNoCheckpoint bool
}

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "The audit log"}
	o := &auditVerifyOpts{}
	verify := &cobra.Command{
		Use:   "verify",
		Short: "Verify the audit log: every record's hashes, the chain, the tree and the signed checkpoints",
		Long: `Verify the audit log stored in the database from its bytes alone
(backend/audit.Verify; see docs/audit.md): every record's leaf and chain
hash, seq 1, 2, 3, ..., the stored tree hashes, and the latest signed
checkpoint (and --checkpoint, one kept from earlier). Prints
"ok: N records, head <hex>" (exit 0) or "broken at seq N: <what>" (exit 1).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd)
		},
	}
	f := verify.Flags()
	o.addFlags(f)
	f.StringVar(&o.checkpoint, "checkpoint", "", "a signed checkpoint kept from earlier: the log must still hold the tree it signed")
	f.StringVar(&o.key, "key", "", "verifier key file (the public <origin>+<hash>+<base64>, or the signing key); default "+auditKeyFileName+".pub next to the database")
	f.BoolVar(&o.allowNoCheckpoint, "allow-no-checkpoint", false, "accept a log with records but no checkpoint at all (serve never signed it)")
	cmd.AddCommand(verify)
	return cmd
}

func (o *auditVerifyOpts) run(cmd *cobra.Command) error {
	keyFile := o.key
	if keyFile == "" {
		keyFile = filepath.Join(o.dataDir(), auditKeyFileName+".pub")
	}
	v, err := audit.LoadVerifier(keyFile)
	if err != nil {
		return fmt.Errorf("--key: %w", err)
	}
	var older []byte
	if o.checkpoint != "" {
		if older, err = os.ReadFile(o.checkpoint); err != nil {
			return fmt.Errorf("--checkpoint: %w", err)
		}
	}
	ctx := cmd.Context()
	s, err := openStore(ctx, &o.dbOpts)
	if err != nil {
		return err
	}
	defer s.Close()
	res, err := audit.Verify(ctx, s.Admin().Source(ctx), audit.VerifyOptions{Verifier: v, Older: older, AllowNoCheckpoint: o.allowNoCheckpoint})
	if err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if _, err := fmt.Fprintln(cmd.OutOrStdout(), res.String()); err != nil {
		return err
	}
	if !res.OK() {
		return errBroken
	}
	return nil
}

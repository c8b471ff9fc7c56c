// Command hpa-autoscaler is the one binary of the project. It only wires
// flags and configuration to the packages that do the work.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go func() {
		// The first SIGTERM or SIGINT starts the shutdown (serve drains
		// within --shutdown-timeout); a second one ends the process at
		// once, with the shell's code for death by that signal.
		<-sigs
		cancel()
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "error: second signal (%v) during shutdown: exiting at once\n", sig)
		os.Exit(signalExitCode(sig))
	}()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	os.Exit(code)
}

// signalExitCode is 128 plus the signal's number: 130 for SIGINT, 143 for
// SIGTERM.
func signalExitCode(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

// usageError marks bad flags or arguments: exit code 2.
type usageError struct{ err error }

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error {
	return &usageError{err: fmt.Errorf(format, args...)}
}

// run executes the command line and returns the process exit code: 0 on
// success (serve: after a signal, drained or cut at --shutdown-timeout), 2
// for invalid flags or input, 1 for any other failure. A second signal
// during a shutdown exits from main at once with 130 (SIGINT) or 143
// (SIGTERM).
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	fmt.Fprintln(stderr, "error:", err)
	var ue *usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

// globalOpts are the flags every subcommand shares.
type globalOpts struct {
	logFormat string
	logLevel  string
}

func newRootCmd() *cobra.Command {
	g := &globalOpts{}
	root := &cobra.Command{
		Use:           "hpa-autoscaler",
		Short:         "KEDA-compatible external scalers, the Kubernetes HPA algorithm, prediction and cost awareness",
		SilenceUsage:  true,
		SilenceErrors: true,
		// Runnable, so that an unknown subcommand goes through Args (a usage
		// error) instead of cobra's own plain error.
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			if err := applyEnv(cmd); err != nil {
				return err
			}
			if _, err := g.logger(cmd.ErrOrStderr()); err != nil {
				return err
			}
			return nil
		},
	}
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: json or text")
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err: err} })
	defer usageArgs(root)
	root.AddCommand(
		newVersionCmd(),
		newServeCmd(g),
		newAgentCmd(g),
		newDecideCmd(),
		newSimulateCmd(),
		newPredictCmd(),
		newMigrateCmd(),
		newHistoryCmd(),
		newAuditCmd(),
		newTenantCmd(),
		newTokenCmd(),
	)
	return root
}

// usageArgs makes argument errors of cmd and its subcommands (an unknown
// subcommand, extra arguments) usage errors, so they exit with code 2 like
// bad flags.
func usageArgs(cmd *cobra.Command) {
	args := cmd.Args
	if args == nil {
		if cmd.HasSubCommands() {
			args = cobra.NoArgs
		} else {
			args = cobra.ArbitraryArgs
		}
	}
	cmd.Args = func(c *cobra.Command, a []string) error {
		if err := args(c, a); err != nil {
			return &usageError{err: err}
		}
		return nil
	}
	for _, sub := range cmd.Commands() {
		usageArgs(sub)
	}
}

// logger builds the process logger from the shared flags.
func (g *globalOpts) logger(w io.Writer) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, usagef("--log-level %q: expected debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch g.logFormat {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	default:
		return nil, usagef("--log-format %q: expected json or text", g.logFormat)
	}
}

// applyEnv sets every flag the user did not pass from HPA_<FLAG_NAME> (dashes
// become underscores), so --grpc-addr can come from HPA_GRPC_ADDR.
func applyEnv(cmd *cobra.Command) error {
	var errs []error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		if f.Changed {
			return
		}
		name := "HPA_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		v, ok := os.LookupEnv(name)
		if !ok {
			return
		}
		if err := cmd.Flags().Set(f.Name, v); err != nil {
			errs = append(errs, usagef("%s %q: %v", name, v, err))
		}
	})
	return errors.Join(errs...)
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), "hpa-autoscaler", version)
			return err
		},
	}
}

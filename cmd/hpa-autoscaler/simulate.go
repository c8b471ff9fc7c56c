package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/hpa-autoscaler/hpa-autoscaler/demand"
	"github.com/hpa-autoscaler/hpa-autoscaler/simulate"
)

type simulateOpts struct {
	trace    string
	column   string
	capacity float64
	util     float64
	startup  time.Duration
	interval time.Duration
	specs    []string
	price    float64
	policies []string
	json     bool
	plot     string
}

func newSimulateCmd() *cobra.Command {
	o := &simulateOpts{}
	cmd := &cobra.Command{
		Use:   "simulate --trace FILE --capacity-per-replica N",
		Short: "Replay a demand trace through the decision engine and report misses, replica-hours and cost",
		Long: `simulate replays a demand trace (CSV timestamp,value) through the decision
engine: every --interval the HPA decides from the demand (an External metric
with an AverageValue target of capacity-per-replica × target-utilization per
replica); new pods are ready after --startup-delay; demand above ready capacity
is unserved. Each --policy is run on each --spec (a Scaler YAML file; without
one, an HPA between 1 and 1000 replicas without behavior).
See docs/simulate.md.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runSimulate(cmd, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.trace, "trace", "", "demand trace CSV (timestamp,value), e.g. examples/traces/nab/nyc_taxi.csv")
	f.StringVar(&o.column, "column", "", "value column of the trace by header name (default: the second column)")
	f.Float64Var(&o.capacity, "capacity-per-replica", 0, "demand one ready replica serves, in the trace's units (required)")
	f.Float64Var(&o.util, "target-utilization", 0.7, "fraction of a replica's capacity the HPA targets, in (0, 1]")
	f.DurationVar(&o.startup, "startup-delay", time.Minute, "time from creating a pod to it being ready")
	f.DurationVar(&o.interval, "interval", simulate.DefaultInterval, "decision interval (the HPA sync period)")
	f.StringArrayVar(&o.specs, "spec", nil, "Scaler YAML file with min/max replicas and behavior (repeat to compare specs)")
	f.Float64Var(&o.price, "price-per-replica-hour", 0, "cost of one replica-hour (also turns costThresholds.maxCostPerHour into a cap)")
	f.StringSliceVar(&o.policies, "policy", []string{"reactive"}, "policies to compare (comma-separated or repeated)")
	f.BoolVar(&o.json, "json", false, "print the report as JSON")
	f.StringVar(&o.plot, "plot", "", "write a plot of demand, ready capacity and replicas to this .svg or .png file")
	return cmd
}

func runSimulate(cmd *cobra.Command, o *simulateOpts) error {
	if o.trace == "" {
		return usagef("--trace: required (a CSV file of timestamp,value)")
	}
	cfg := simulate.Config{
		CapacityPerReplica:  o.capacity,
		TargetUtilization:   o.util,
		StartupDelay:        o.startup,
		Interval:            o.interval,
		PricePerReplicaHour: o.price,
	}
	if err := cfg.Validate(); err != nil {
		// Config names its fields as the flags are named.
		lines := strings.Split(err.Error(), "\n")
		for i := range lines {
			lines[i] = "--" + lines[i]
		}
		return usagef("%s", strings.Join(lines, "\n"))
	}
	var format string
	if o.plot != "" {
		f, err := simulate.PlotFormat(o.plot)
		if err != nil {
			return usagef("--plot: %v", err)
		}
		format = f
		cfg.TimelinePoints = 2000
	}
	series, err := demand.ReadFile(o.trace, demand.Options{Column: o.column})
	if err != nil {
		return usagef("--trace: %v", err)
	}
	specs := []simulate.NamedSpec{simulate.DefaultSpec()}
	if len(o.specs) > 0 {
		specs = specs[:0]
		var errs []error
		for _, path := range o.specs {
			s, err := simulate.LoadSpecFile(path, simulate.SpecOptions{PricePerReplicaHour: o.price})
			if err != nil {
				errs = append(errs, err)
				continue
			}
			specs = append(specs, s)
		}
		if err := errors.Join(errs...); err != nil {
			return usagef("--spec: %v", err)
		}
	}
	policies, err := simulate.NewRegistry().Resolve(o.policies, cfg.Model(series))
	if err != nil {
		return usagef("--policy: %v", err)
	}
	var runs []simulate.Run
	for _, p := range policies {
		for _, s := range specs {
			name := p.Name()
			if len(specs) > 1 {
				name += "/" + s.Name
			}
			runs = append(runs, simulate.Run{Name: name, Spec: s.Spec, Policy: p})
		}
	}

	stderr := cmd.ErrOrStderr()
	if f, ok := stderr.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		bar := progressbar.NewOptions(1,
			progressbar.OptionSetWriter(stderr),
			progressbar.OptionSetDescription("simulating"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		cfg.Progress = func(done, total int) {
			bar.ChangeMax(total)
			_ = bar.Set(done)
		}
		defer bar.Close()
	}

	results, err := simulate.Simulate(cmd.Context(), series, cfg, runs)
	if err != nil {
		return err
	}
	if o.plot != "" {
		if err := writePlot(o.plot, format, filepath.Base(o.trace), results); err != nil {
			return err
		}
	}
	out := cmd.OutOrStdout()
	if o.json {
		return simulate.WriteJSON(out, results)
	}
	return simulate.WriteTable(out, results)
}

func writePlot(path, format, title string, results []simulate.Result) (err error) {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--plot: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("--plot: %w", cerr)
		}
	}()
	var w io.Writer = f
	return simulate.WritePlot(w, format, title, results)
}

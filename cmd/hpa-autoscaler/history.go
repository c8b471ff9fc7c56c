package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/history"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
	"github.com/hpa-autoscaler/hpa-autoscaler/demand"
)

type historyImportOpts struct {
	dbOpts
	tenant  string
	scaler  string
	trigger string
	cluster string
	trace   string
	column  string
	step    time.Duration
	until   string
	endAt   string
}

// seriesOf names the series of --scaler NS/NAME as the backend records
// it: the scaler's name in the store. A scaler created through the REST
// API is stored under its own name (NAME, in namespace NS); an agent's
// Scaler and a KEDA ScaledObject's predictive trigger under NS.NAME. So a
// stored scaler NAME of namespace NS is that one, and anything else is
// NS.NAME, whether or not it has reported yet. A stored scaler also gives
// the series its cluster when --cluster is not set.
func seriesOf(ctx context.Context, s store.Store, tenant store.TenantID, key store.SeriesKey, clusterSet bool) (store.SeriesKey, error) {
	name := key.Scaler
	for _, n := range []string{name, key.Namespace + "." + name} {
		sc, err := s.Scaler(ctx, tenant, n)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return key, fmt.Errorf("--scaler %s/%s: %w", key.Namespace, name, err)
		}
		if sc.Namespace != key.Namespace {
			continue
		}
		key.Scaler = n
		if !clusterSet {
			key.Cluster = sc.Cluster
		}
		return key, nil
	}
	key.Scaler = key.Namespace + "." + name
	return key, key.Validate()
}

func newHistoryCmd() *cobra.Command {
	cmd := &cobra.Command{Use: "history", Short: "Manage the metric history the backend forecasts from"}
	o := &historyImportOpts{}
	imp := &cobra.Command{
		Use:   "import --tenant T --scaler NS/NAME --trigger NAME --trace FILE.csv [--cluster ID]",
		Short: "Load a past series of one trigger into the history (the CSV format predict reads)",
		Long: `import reads a demand trace (CSV: timestamp,value, as predict and simulate
read it) and writes it into the metric history of one trigger of a scaler:
the series (tenant, cluster, namespace, scaler, trigger) the backend records
that trigger's values into, so that a new workload forecasts from its past.

The values are put on the history's step (--step, serve's --history-step):
several values in one step are averaged, and a trace coarser than the step
is interpolated linearly between its points (at most one trace interval: a
longer gap stays a gap). Steps written before are replaced. --until cuts
the trace; --end-at moves it in time so that its last step ends then (an old
trace would otherwise fall outside retention and the trackers' window).

It may run while serve has the same database open: the writes wait for the
database's lock. A running serve loads the series at its next start, or
when the series first reports after being idle.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runHistoryImport(cmd, o)
		},
	}
	f := imp.Flags()
	o.addFlags(f)
	f.StringVar(&o.tenant, "tenant", "", "tenant of the series (required)")
	f.StringVar(&o.scaler, "scaler", "", "scaler as NAMESPACE/NAME (required)")
	f.StringVar(&o.trigger, "trigger", "", "trigger name (required)")
	f.StringVar(&o.cluster, "cluster", "", "cluster id (empty: the series of a scaler without one, the KEDA path's)")
	f.StringVar(&o.trace, "trace", "", "demand trace: CSV with a header, timestamp first (required)")
	f.StringVar(&o.column, "column", "", "value column by header name (default: the second column)")
	f.DurationVar(&o.step, "step", history.DefaultStep, "the history's step: must be serve's --history-step")
	f.StringVar(&o.until, "until", "", "import the trace's points before this time only (RFC 3339)")
	f.StringVar(&o.endAt, "end-at", "", `move the trace so that its last imported step ends at this time: RFC 3339 or "now"`)
	cmd.AddCommand(imp)
	return cmd
}

// importBatch is the most steps of one AppendHistory; maxImportSteps the
// most of one import (ten years of minutes is 5.3 million).
const (
	importBatch    = 5000
	maxImportSteps = 10_000_000
)

func runHistoryImport(cmd *cobra.Command, o *historyImportOpts) error {
	key, until, endAt, err := o.parse(time.Now())
	if err != nil {
		return &usageError{err: err}
	}
	tr, err := demand.ReadFile(o.trace, demand.Options{Column: o.column})
	if err != nil {
		return fmt.Errorf("--trace: %w", err)
	}
	steps, err := traceSteps(tr, o.step, until, endAt)
	if err != nil {
		return fmt.Errorf("--trace %s: %w", o.trace, err)
	}
	ctx := cmd.Context()
	s, err := openStore(ctx, &o.dbOpts)
	if err != nil {
		return err
	}
	defer s.Close()
	tenant := store.TenantID(o.tenant)
	if _, err := s.Tenant(ctx, tenant); err != nil {
		return fmt.Errorf("--tenant %s: %w", tenant, err)
	}
	if key, err = seriesOf(ctx, s, tenant, key, o.cluster != ""); err != nil {
		return err
	}
	if err := importSteps(ctx, s, tenant, key, o.step, steps); err != nil {
		return err
	}
	_, err = fmt.Fprintf(cmd.OutOrStdout(), "imported %d steps of %v into %s/%s (%s to %s)\n", len(steps), o.step, tenant, key,
		steps[0].at.Format(time.RFC3339), steps[len(steps)-1].at.Add(o.step).Format(time.RFC3339))
	return err
}

// parse checks the flags; now is the time "now" means.
func (o *historyImportOpts) parse(now time.Time) (key store.SeriesKey, until, endAt time.Time, err error) {
	var errs []error
	if err := store.TenantID(o.tenant).Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--tenant: %w", err))
	}
	ns, name, ok := strings.Cut(o.scaler, "/")
	if !ok || ns == "" || name == "" || strings.Contains(name, "/") {
		errs = append(errs, fmt.Errorf("--scaler %q: want NAMESPACE/NAME", o.scaler))
	}
	key = store.SeriesKey{Cluster: o.cluster, Namespace: ns, Scaler: name, Trigger: o.trigger}
	if ok {
		if err := key.Validate(); err != nil {
			errs = append(errs, fmt.Errorf("--scaler, --trigger, --cluster: %w", err))
		}
	}
	if o.trace == "" {
		errs = append(errs, errors.New("--trace: required"))
	}
	if o.step <= 0 || o.step%time.Second != 0 {
		errs = append(errs, fmt.Errorf("--step %v: want a positive whole number of seconds", o.step))
	}
	if o.until != "" {
		if until, err = time.Parse(time.RFC3339, o.until); err != nil {
			errs = append(errs, fmt.Errorf("--until %q: want an RFC 3339 time", o.until))
		}
	}
	switch o.endAt {
	case "":
	case "now":
		endAt = now
	default:
		if endAt, err = time.Parse(time.RFC3339, o.endAt); err != nil {
			errs = append(errs, fmt.Errorf("--end-at %q: want an RFC 3339 time or \"now\"", o.endAt))
		}
	}
	return key, until, endAt, errors.Join(errs...)
}

// step is one step of an imported series.
type step struct {
	at      time.Time
	value   float64
	samples int64
}

// traceSteps puts the trace on the grid of step: the points of one step
// averaged, the steps between two points at most one trace interval apart
// interpolated (samples 1: a filled step stands for one sample), the
// points at or after until (when set) left out, and everything moved so
// that the last step ends at endAt (when set; the move is a whole number
// of steps).
func traceSteps(tr *demand.Series, st time.Duration, until, endAt time.Time) ([]step, error) {
	var out []step
	for _, p := range tr.Points {
		if !until.IsZero() && !p.Time.Before(until) {
			break
		}
		at := alignStep(p.Time, st)
		if n := len(out); n > 0 && out[n-1].at.Equal(at) {
			last := &out[n-1]
			last.value += p.Value
			last.samples++
			continue
		}
		out = append(out, step{at: at, value: p.Value, samples: 1})
	}
	if len(out) == 0 {
		return nil, errors.New("no points to import (before --until)")
	}
	for i := range out {
		out[i].value /= float64(out[i].samples)
	}
	// Fill the steps between points of a trace coarser than the step.
	maxFill := tr.Step()
	filled := make([]step, 0, len(out))
	for i, s := range out {
		if i > 0 {
			prev := out[i-1]
			gap := s.at.Sub(prev.at)
			if n := int64(gap / st); n > 1 && gap <= maxFill {
				if int64(len(filled))+n > maxImportSteps {
					return nil, fmt.Errorf("filled to steps of %v the trace has more than %d steps: import it with a longer --step", st, maxImportSteps)
				}
				for j := int64(1); j < n; j++ {
					filled = append(filled, step{at: prev.at.Add(time.Duration(j) * st), value: prev.value + (s.value-prev.value)*float64(j)/float64(n), samples: 1})
				}
			}
		}
		filled = append(filled, s)
	}
	if !endAt.IsZero() {
		shift := alignStep(endAt, st).Sub(filled[len(filled)-1].at.Add(st))
		for i := range filled {
			filled[i].at = filled[i].at.Add(shift)
		}
	}
	for _, s := range filled {
		if math.IsNaN(s.value) || math.IsInf(s.value, 0) {
			return nil, fmt.Errorf("step at %s: value %v: want a finite number", s.at.Format(time.RFC3339), s.value)
		}
	}
	return filled, nil
}

// alignStep is the start of t's step as the history has it: the unix
// time rounded down to a whole number of steps.
func alignStep(t time.Time, st time.Duration) time.Time {
	n := t.UnixNano()
	q := n / int64(st)
	if n%int64(st) < 0 {
		q--
	}
	return time.Unix(0, q*int64(st)).UTC()
}

func importSteps(ctx context.Context, s store.Store, tenant store.TenantID, key store.SeriesKey, st time.Duration, steps []step) error {
	for off := 0; off < len(steps); off += importBatch {
		part := steps[off:min(off+importBatch, len(steps))]
		b := make([]store.HistorySample, len(part))
		for i, p := range part {
			b[i] = store.HistorySample{Tenant: tenant, Series: key, Time: p.at.UTC(), Step: st, Value: p.value, Samples: p.samples}
		}
		if err := s.AppendHistory(ctx, b); err != nil {
			return fmt.Errorf("import %s: steps %d to %d of %d: %w", key, off+1, off+len(part), len(steps), err)
		}
	}
	return nil
}

package custom

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Options are the dependencies of a custom scaler.
type Options struct {
	// Registry builds the sources. Required.
	Registry SourceRegistry
	// Namespace and Name identify the scaled object; they are passed on to
	// the sources.
	Namespace, Name string
	// Logger; nil discards.
	Logger *slog.Logger
	// Compiler compiles the expression; nil means one with the default
	// limits.
	Compiler *Compiler
	// Timeouts and Limits are the custom trigger's (scalers.Config): each
	// source is built with them, so it keeps to the same bounds as a
	// trigger of its own type.
	Timeouts scalers.Timeouts
	Limits   scalers.Limits
}

// NewFactory returns the factory of the "custom" scaler type. The sources
// are built through reg when a scaler is built, so every type registered by
// then can be a source, whatever the order of registration.
func NewFactory(reg SourceRegistry) scalers.Factory {
	// The compiler is built once, at the first scaler, and shared.
	compiler := sync.OnceValues(func() (*Compiler, error) { return NewCompiler(Limits{}) })
	return func(ctx context.Context, sc scalers.Config) (scalers.Scaler, error) {
		c, err := compiler()
		if err != nil {
			return nil, err
		}
		cfg, err := ParseMetadata(sc.Metadata)
		return build(ctx, cfg, err, Options{
			Registry:  reg,
			Namespace: sc.Namespace,
			Name:      sc.Name,
			Logger:    sc.Logger,
			Compiler:  c,
			Timeouts:  sc.Timeouts,
			Limits:    sc.Limits,
		})
	}
}

// Scaler is a custom scaler: one metric, the value of the expression over
// the values of its sources.
type Scaler struct {
	cfg     Config
	prog    *Program
	sources []source // in the order of prog.Names()
	metric  string
	logger  *slog.Logger
	closed  atomic.Bool
	// bound is the largest bound of the sources: no fetch waits longer
	// for a source than bound plus sourceGrace.
	bound time.Duration
}

type source struct {
	name   string
	typ    string
	scaler scalers.Scaler
	// metric is the name of the source's metric whose value is bound.
	metric string
}

var _ scalers.Scaler = (*Scaler)(nil)

// New builds a custom scaler from cfg (from ParseMetadata or
// code): it compiles the expression and builds every source. All
// configuration problems, the expression's and those of each source's own
// metadata (keys prefixed with source.<name>.), come back together as a
// *scalers.MetadataError.
func New(ctx context.Context, cfg Config, opts Options) (*Scaler, error) {
	return build(ctx, cfg, cfg.Validate(), opts)
}

// build finishes what New and the factory share; invalid carries the
// errors found so far, so every problem is reported in one go.
func build(ctx context.Context, cfg Config, invalid error, opts Options) (*Scaler, error) {
	if opts.Registry == nil {
		return nil, errors.New("custom scaler: no registry of scaler types")
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	compiler := opts.Compiler
	if compiler == nil {
		c, err := NewCompiler(Limits{})
		if err != nil {
			return nil, err
		}
		compiler = c
	}
	errs := []error{invalid}
	if n := len(cfg.Sources); n <= MaxSources {
		// MaxSources has its own message; a server may set a lower limit.
		if fe := opts.Limits.CheckList(sourcesKey, n); fe != nil {
			errs = append(errs, fe)
		}
	}

	names := make([]string, len(cfg.Sources))
	namesOK := len(cfg.Sources) > 0
	seen := map[string]bool{}
	for i, src := range cfg.Sources {
		names[i] = src.Name
		if checkName(src.Name) != nil || seen[src.Name] {
			namesOK = false
		}
		seen[src.Name] = true
	}
	var prog *Program
	// With a bad source name, compiling would only add errors about
	// undeclared references that fixing the name makes go away.
	if namesOK && strings.TrimSpace(cfg.Expression) != "" {
		p, err := compiler.Compile(cfg.Expression, names)
		if err != nil {
			errs = append(errs, err)
		}
		prog = p
	}

	s := &Scaler{cfg: cfg, prog: prog, logger: logger, metric: metricName(cfg)}
	s.sources = make([]source, len(cfg.Sources))
	buildErrs := make([]error, len(cfg.Sources))
	var wg sync.WaitGroup
	// Sources connect while they are built: build them concurrently, so
	// that a few unreachable ones do not add up their timeouts.
	for i, src := range cfg.Sources {
		if src.Type == "" || src.Type == Type {
			// Validate has reported it already (invalid above).
			continue
		}
		typ, md, err := resolveSource(opts.Registry, src)
		if err != nil {
			buildErrs[i] = err
			continue
		}
		wg.Go(func() {
			sc, err := opts.Registry.New(ctx, scalers.Config{
				Type:      typ,
				Metadata:  md,
				Namespace: opts.Namespace,
				Name:      opts.Name,
				Logger:    logger.With("source", src.Name),
				Timeouts:  opts.Timeouts,
				Limits:    opts.Limits,
			})
			if err != nil {
				buildErrs[i] = sourceErr(src.Name, err)
				return
			}
			s.sources[i] = source{name: src.Name, typ: typ, scaler: sc}
			buildErrs[i] = s.sources[i].pickMetric()
		})
	}
	wg.Wait()

	var unavailable []error
	for _, err := range buildErrs {
		if err == nil {
			continue
		}
		if errors.Is(err, scalers.ErrInvalidConfig) {
			errs = append(errs, err)
		} else {
			unavailable = append(unavailable, err)
		}
	}
	if err := scalers.Invalid(errs...); err != nil {
		_ = s.closeSources()
		return nil, err
	}
	if len(unavailable) > 0 {
		_ = s.closeSources()
		return nil, errors.Join(unavailable...)
	}
	if s.prog == nil {
		// Unreachable: a valid configuration always compiles or reports why.
		_ = s.closeSources()
		return nil, errors.New("custom scaler: the expression was not compiled")
	}
	for _, src := range s.sources {
		s.bound = max(s.bound, sourceBound(src.scaler, opts.Timeouts))
	}
	return s, nil
}

// sourceGrace is how much longer than a source's bound the custom scaler
// waits for it: a source keeping to its bound reports its own error (which
// names what failed) before the custom scaler gives up on it.
const sourceGrace = 500 * time.Millisecond

// bounded is a source that reports the bound of its calls
// (scalers.Single does).
type bounded interface{ Bound() time.Duration }

// sourceBound is the longest a call of sc may take: its own bound, or,
// for a source that does not report one, the largest any source may have
// (the server's maximum).
func sourceBound(sc scalers.Scaler, t scalers.Timeouts) time.Duration {
	if b, ok := sc.(bounded); ok && b.Bound() > 0 {
		return b.Bound()
	}
	return t.WithDefaults().Max
}

// Bound is the longest a call of Metrics waits for its sources: the
// largest of their bounds, plus the time they have to report their own
// error.
func (s *Scaler) Bound() time.Duration { return s.bound + sourceGrace }

// pickMetric finds the metric whose value the source contributes.
func (src *source) pickMetric() error {
	specs := src.scaler.MetricSpecs()
	if len(specs) != 1 {
		names := make([]string, len(specs))
		for i, sp := range specs {
			names[i] = sp.Name
		}
		return scalers.Invalid(scalers.NewFieldError(sourcePrefix+src.name+"."+keyType, src.typ,
			fmt.Sprintf("this source offers %d metrics (%s); a source must give exactly one value",
				len(specs), strings.Join(names, ", "))))
	}
	src.metric = specs[0].Name
	return nil
}

// sourceErr names the source in err: the keys of its metadata errors get the
// source.<name>. prefix; other errors (the source is unreachable) are
// wrapped with the source's name.
func sourceErr(name string, err error) error {
	prefixed := func(fe *scalers.FieldError) *scalers.FieldError {
		c := *fe
		c.Key = sourcePrefix + name + "." + fe.Key
		return &c
	}
	var me *scalers.MetadataError
	var fe *scalers.FieldError
	switch {
	case errors.As(err, &me):
		out := &scalers.MetadataError{}
		for _, fe := range me.Errs {
			out.Errs = append(out.Errs, prefixed(fe))
		}
		for _, o := range me.Other {
			out.Other = append(out.Other, fmt.Errorf("%s%s: %w", sourcePrefix, name, o))
		}
		return out
	case errors.As(err, &fe):
		return &scalers.MetadataError{Errs: []*scalers.FieldError{prefixed(fe)}}
	case errors.Is(err, scalers.ErrInvalidConfig):
		return fmt.Errorf("source %s: %w", name, err)
	}
	return scalers.Unavailable("source "+name, err)
}

// metricName is stable for a configuration and tells the scalers apart: it
// carries a hash of the expression and the sources (never of their
// metadata, which may hold secrets), then the source names for humans.
func metricName(cfg Config) string {
	h := fnv.New32a()
	h.Write([]byte(cfg.Expression))
	names := make([]string, 0, len(cfg.Sources))
	for _, src := range cfg.Sources {
		h.Write([]byte{0})
		h.Write([]byte(src.Name))
		h.Write([]byte{0})
		h.Write([]byte(src.Type))
		names = append(names, src.Name)
	}
	sum := strconv.FormatUint(uint64(h.Sum32()), 16)
	return scalers.MetricName(append([]string{Type, sum}, names...)...)
}

// MetricSpecs implements scalers.Scaler: one metric, whose target is the
// threshold.
func (s *Scaler) MetricSpecs() []scalers.MetricSpec {
	return []scalers.MetricSpec{{Name: s.metric, Target: s.cfg.Threshold}}
}

// Metrics implements scalers.Scaler: it fetches every source concurrently
// with ctx, then evaluates the expression. A source that fails is left out
// of `sources` and unbound: the expression may test for it, otherwise the
// call fails with an error naming it that wraps scalers.ErrUnavailable.
func (s *Scaler) Metrics(ctx context.Context) (scalers.Metrics, error) {
	if s.closed.Load() {
		return scalers.Metrics{}, scalers.Closed(Type)
	}
	in := s.fetchAll(ctx)
	v, err := s.prog.Eval(ctx, in)
	if err != nil {
		return scalers.Metrics{}, err
	}
	for i, r := range in {
		if r.Err != nil {
			// The expression did without this source: say so, once per call.
			s.logger.DebugContext(ctx, "source failed, the expression did without it",
				"source", s.sources[i].name, "error", r.Err)
		}
	}
	return scalers.Metrics{
		Values: []scalers.MetricValue{{Name: s.metric, Value: v}},
		Active: v > s.cfg.ActivationThreshold,
	}, nil
}

// fetchAll fetches every source concurrently and waits for them at most
// Bound (or until the caller's context ends): a source that has not
// answered by then counts as failed (a frozen source that ignores its
// context delays no call), and its fetch is canceled.
func (s *Scaler) fetchAll(parent context.Context) []Input {
	ctx, cancel := context.WithTimeout(parent, s.Bound())
	defer cancel()
	type result struct {
		i  int
		in Input
	}
	// Buffered: a source that answers after the wait is over does not
	// block.
	results := make(chan result, len(s.sources))
	for i := range s.sources {
		go func() { results <- result{i, s.sources[i].fetch(ctx)} }()
	}
	in := make([]Input, len(s.sources))
	answered := make([]bool, len(s.sources))
	for range s.sources {
		select {
		case r := <-results:
			in[r.i], answered[r.i] = r.in, true
		case <-ctx.Done():
			for i, ok := range answered {
				if !ok {
					in[i] = Input{Err: s.timeoutErr(parent, s.sources[i])}
				}
			}
			return in
		}
	}
	return in
}

// timeoutErr is the error of a source that did not answer in time: the
// caller's own deadline or cancellation as it is, the custom scaler's
// bound as the source being unavailable.
func (s *Scaler) timeoutErr(parent context.Context, src source) error {
	if err := parent.Err(); err != nil {
		return err
	}
	return scalers.Unavailable(src.typ, fmt.Errorf("no answer within %s (timeout)", s.Bound()))
}

// fetch gets the source's value.
func (src *source) fetch(ctx context.Context) Input {
	m, err := src.scaler.Metrics(ctx)
	if err != nil {
		return Input{Err: err}
	}
	v, ok := m.Value(src.metric)
	if !ok {
		return Input{Err: fmt.Errorf("metric %s missing from the answer: %w", src.metric, scalers.ErrNoData)}
	}
	return Input{Value: v}
}

// Close implements scalers.Scaler: it closes every source.
func (s *Scaler) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	return s.closeSources()
}

func (s *Scaler) closeSources() error {
	var errs []error
	for _, src := range s.sources {
		if src.scaler == nil {
			continue
		}
		if err := src.scaler.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close source %s: %w", src.name, err))
		}
	}
	return errors.Join(errs...)
}

// Config returns the scaler's configuration.
func (s *Scaler) Config() Config { return s.cfg }

package custom

import (
	"context"
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/checker"
	"github.com/google/cel-go/common"
	"github.com/google/cel-go/common/ast"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"github.com/google/cel-go/ext"
	"github.com/google/cel-go/interpreter"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Evaluation limits. A scaling expression is a handful of arithmetic
// operations over a few numbers (a cost of tens); the limits leave room for
// comprehensions over the sources map while keeping one hostile expression
// from holding a CPU of the server.
const (
	// DefaultCostLimit is the CEL cost an evaluation may spend, and the
	// highest static cost estimate Compile accepts.
	DefaultCostLimit = 100_000
	// MaxCostLimit caps Limits.CostLimit. The cost limit is what bounds
	// memory: string and list concatenation outside comprehensions is never
	// interrupted by the timeout, and their cost grows with their size
	// (about one unit per ten bytes).
	MaxCostLimit = 1_000_000
	// DefaultEvalTimeout bounds one evaluation in wall time.
	DefaultEvalTimeout = 100 * time.Millisecond
	// MaxExpressionLength is the longest expression accepted, in code
	// points.
	MaxExpressionLength = 10_000
	// interruptCheckFrequency is the number of comprehension iterations
	// between two checks of the evaluation's context.
	interruptCheckFrequency = 64
)

// Limits bound the evaluation of an expression. Zero values mean the
// defaults.
type Limits struct {
	// CostLimit is the CEL cost (cel.CostLimit) one evaluation may spend;
	// expressions whose static estimate exceeds it are rejected by Compile.
	// Values above MaxCostLimit are lowered to it.
	CostLimit uint64
	// Timeout bounds one evaluation.
	Timeout time.Duration

	// skipStaticCheck lets tests reach the run-time limits with
	// expressions the static check would reject.
	skipStaticCheck bool
}

func (l Limits) withDefaults() Limits {
	if l.CostLimit == 0 {
		l.CostLimit = DefaultCostLimit
	}
	l.CostLimit = min(l.CostLimit, MaxCostLimit)
	if l.Timeout <= 0 {
		l.Timeout = DefaultEvalTimeout
	}
	return l
}

// CompileError reports why an expression does not compile. Its message
// gives the position (line:column) and a snippet of the expression with a
// caret under the culprit.
type CompileError struct {
	// Issues are the individual problems; Line and Column are 1-based and
	// zero when the problem has no position (e.g. the result type).
	Issues []Issue
	msg    string
}

// Issue is one problem of a CompileError.
type Issue struct {
	Line, Column int
	Message      string
}

func (e *CompileError) Error() string { return e.msg }

// Is makes a CompileError an ErrInvalidConfig.
func (e *CompileError) Is(target error) bool { return target == scalers.ErrInvalidConfig }

func compileErr(msg string) *CompileError {
	return &CompileError{Issues: []Issue{{Message: msg}}, msg: keyExpression + ": " + msg}
}

// Input is the outcome of fetching one source: its value, or the error that
// kept it from having one.
type Input struct {
	Value float64
	Err   error
}

// resultKind is what the checked expression gives.
type resultKind int

const (
	resultNumber resultKind = iota // double, int or uint
	resultBool
	resultDyn // only known at run time
)

// Program is a compiled, type-checked expression over a fixed list of
// source names. It is safe for concurrent use.
type Program struct {
	// loops reports whether the expression has comprehensions (macros such
	// as all, map, filter, cel.bind): only those can be interrupted, so only
	// those pay for a context with a deadline.
	loops     bool
	names     []string
	index     map[string]int
	prg       cel.Program
	result    resultKind
	timeout   time.Duration
	costLimit uint64
	cost      checker.CostEstimate
	pool      sync.Pool // of *activation
}

// Compiler compiles expressions. It holds the CEL environment they share
// (building one is most of the cost of compiling). It is safe for
// concurrent use.
type Compiler struct {
	base *cel.Env
	lim  Limits
}

// NewCompiler returns a Compiler whose programs have the limits lim (zero
// values are the defaults).
func NewCompiler(lim Limits) (*Compiler, error) {
	base, err := cel.NewEnv(
		cel.OptionalTypes(),
		ext.Math(),
		ext.Bindings(),
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(MaxExpressionLength),
		cel.Variable(SourcesVar, cel.MapType(cel.StringType, cel.DoubleType)),
	)
	if err != nil {
		return nil, fmt.Errorf("build the CEL environment: %w", err)
	}
	return &Compiler{base: base, lim: lim.withDefaults()}, nil
}

// Compile is NewCompiler(lim) then Compile, for a single expression.
func Compile(expression string, names []string, lim Limits) (*Program, error) {
	c, err := NewCompiler(lim)
	if err != nil {
		return nil, err
	}
	return c.Compile(expression, names)
}

// Compile parses and type-checks expression with each name declared as a
// double variable and all of them in the map(string, double) variable
// `sources`, and plans it for evaluation. Besides CEL's standard library it
// offers optional values (sources.?x.orValue(0.0)), the math extension
// (math.greatest, math.ceil, ...), cel.bind, and comparisons across numeric
// types (x > 300 where x is a double). The expression must give a number or
// a bool. It never panics; errors are *CompileError values.
func (c *Compiler) Compile(expression string, names []string) (*Program, error) {
	lim := c.lim
	if strings.TrimSpace(expression) == "" {
		return nil, compileErr("the expression is empty")
	}
	if n := utf8.RuneCountInString(expression); n > MaxExpressionLength {
		return nil, compileErr(fmt.Sprintf("the expression has %d characters, at most %d are allowed", n, MaxExpressionLength))
	}
	index := make(map[string]int, len(names))
	vars := make([]cel.EnvOption, 0, len(names))
	for i, n := range names {
		if err := checkName(n); err != nil {
			return nil, compileErr(fmt.Sprintf("source name %s: %v", scalers.Quote(n), err))
		}
		if _, dup := index[n]; dup {
			return nil, compileErr(fmt.Sprintf("source name %s: duplicate", scalers.Quote(n)))
		}
		index[n] = i
		vars = append(vars, cel.Variable(n, cel.DoubleType))
	}
	env, err := c.base.Extend(vars...)
	if err != nil {
		return nil, compileErr("build the CEL environment: " + err.Error())
	}
	src := common.NewStringSource(expression, keyExpression)
	parsed, iss := env.ParseSource(src)
	if iss.Err() != nil {
		return nil, issuesErr(src, iss)
	}
	checked, iss := env.Check(parsed)
	if iss.Err() != nil {
		return nil, issuesErr(src, iss)
	}

	var kind resultKind
	switch t := checked.OutputType(); {
	case t.IsExactType(cel.DoubleType), t.IsExactType(cel.IntType), t.IsExactType(cel.UintType):
		kind = resultNumber
	case t.IsExactType(cel.BoolType):
		kind = resultBool
	case t.IsExactType(cel.DynType):
		kind = resultDyn
	default:
		return nil, compileErr(fmt.Sprintf("the result is a %s, expected a number (double, int, uint) or a bool", truncate(t.String(), 80)))
	}

	// Reject what can be seen to be too costly before it ever runs; the
	// run-time cost limit and the timeout stay as the backstop.
	est, err := env.EstimateCost(checked, sizeEstimator{sources: uint64(len(names))})
	if err != nil {
		return nil, compileErr("estimate the cost: " + err.Error())
	}
	if est.Max > lim.CostLimit && !lim.skipStaticCheck {
		return nil, compileErr(fmt.Sprintf("the expression may cost up to %s to evaluate, above the limit of %d: simplify it (fewer or smaller comprehensions, shorter strings and lists)",
			fmtCost(est.Max), lim.CostLimit))
	}

	prg, err := env.Program(checked,
		cel.CostLimit(lim.CostLimit),
		cel.InterruptCheckFrequency(interruptCheckFrequency),
		cel.EvalOptions(cel.OptOptimize),
	)
	if err != nil {
		// Planning fails on things the checker lets through, such as a
		// constant regular expression that does not compile.
		return nil, compileErr(err.Error())
	}
	p := &Program{
		loops:     hasComprehension(checked),
		names:     slicesClone(names),
		index:     index,
		prg:       prg,
		result:    kind,
		timeout:   lim.Timeout,
		costLimit: lim.CostLimit,
		cost:      est,
	}
	p.pool.New = func() any { return p.newActivation() }
	return p, nil
}

// CostEstimate returns the static cost estimate of the expression.
func (p *Program) CostEstimate() (lowest, highest uint64) { return p.cost.Min, p.cost.Max }

// Names returns the source names, in the order Eval expects its inputs.
func (p *Program) Names() []string { return slicesClone(p.names) }

// Bounds of a CompileError's message: an expression of 10,000 characters
// on one line with many errors must not make a message of megabytes.
const (
	// maxShownIssues is how many issues the message shows (Issues holds
	// them all).
	maxShownIssues = 10
	// snippetWindow is how many characters of the line the snippet shows
	// on each side of the column.
	snippetWindow = 60
)

func issuesErr(src common.Source, iss *cel.Issues) *CompileError {
	ce := &CompileError{}
	var msgs []string
	errs := iss.Errors()
	for i, e := range errs {
		// The checker names the (empty) container in every unresolved
		// reference; it means nothing to a user.
		e.Message = strings.ReplaceAll(e.Message, " (in container '')", "")
		is := Issue{Message: e.Message}
		shown := i < maxShownIssues
		if e.Location == nil || e.Location.Line() <= 0 {
			// Limits (recursion, size) are reported without a position.
			if shown {
				msgs = append(msgs, keyExpression+": "+scalers.Excerpt(e.Message))
			}
			ce.Issues = append(ce.Issues, is)
			continue
		}
		is.Line, is.Column = e.Location.Line(), e.Location.Column()+1
		ce.Issues = append(ce.Issues, is)
		if shown {
			msgs = append(msgs, issueLine(src, is))
		}
	}
	if n := len(errs) - maxShownIssues; n > 0 {
		msgs = append(msgs, "and "+strconv.Itoa(n)+" more")
	}
	ce.msg = strings.Join(msgs, "\n")
	if hint := overloadHint(ce.msg); hint != "" {
		ce.msg += "\n" + hint
	}
	return ce
}

// issueLine renders an issue as cel-go does ("expression:L:C: message",
// then the line and a caret under column C), with the line cut to
// snippetWindow characters on each side of the column.
func issueLine(src common.Source, is Issue) string {
	out := fmt.Sprintf("%s:%d:%d: %s", keyExpression, is.Line, is.Column, scalers.Excerpt(is.Message))
	line, ok := src.Snippet(is.Line)
	if !ok {
		return out
	}
	runes := []rune(strings.ReplaceAll(line, "\t", " "))
	col := min(is.Column-1, len(runes))
	from, to := max(0, col-snippetWindow), min(len(runes), col+snippetWindow)
	var text, caret strings.Builder
	if from > 0 {
		text.WriteString("…")
		caret.WriteString(".")
	}
	text.WriteString(string(runes[from:to]))
	if to < len(runes) {
		text.WriteString("…")
	}
	// cel-go's marks: a wide dot and caret under a multi-byte character.
	for _, r := range runes[from:col] {
		if utf8.RuneLen(r) > 1 {
			caret.WriteString("\uff0e")
		} else {
			caret.WriteString(".")
		}
	}
	if col < len(runes) && utf8.RuneLen(runes[col]) > 1 {
		caret.WriteString("\uff3e")
	} else {
		caret.WriteString("^")
	}
	return out + "\n | " + text.String() + "\n | " + caret.String()
}

// overloadHint explains CEL's most common surprise for this use: numbers of
// different types do not mix in arithmetic.
func overloadHint(msg string) string {
	if strings.Contains(msg, "no matching overload") &&
		(strings.Contains(msg, "(double, int)") || strings.Contains(msg, "(int, double)") ||
			strings.Contains(msg, "(double, uint)") || strings.Contains(msg, "(uint, double)")) {
		return "hint: sources are doubles and CEL does not mix number types in arithmetic and ==: write 2.0 instead of 2, or double(n)"
	}
	return ""
}

func fmtCost(c uint64) string {
	if c == math.MaxUint64 {
		return "an unbounded amount"
	}
	return strconv.FormatUint(c, 10)
}

// sizeEstimator tells the cost estimator how big the sources map can be.
type sizeEstimator struct{ sources uint64 }

func (s sizeEstimator) EstimateSize(n checker.AstNode) *checker.SizeEstimate {
	if p := n.Path(); len(p) == 1 && p[0] == SourcesVar {
		return &checker.SizeEstimate{Min: 0, Max: s.sources}
	}
	return nil
}

func (sizeEstimator) EstimateCallCost(string, string, *checker.AstNode, []checker.AstNode) *checker.CallEstimate {
	return nil
}

// Eval evaluates the expression over in (one Input per name, in the order
// of Names). A source that failed is absent from `sources` and unbound as a
// variable: an expression that tests for it (has(sources.x)) still gives a
// value; one that needs it fails with an error naming the source and
// wrapping scalers.ErrUnavailable (and the source's own error). Other
// evaluation failures (division by zero, a result that is NaN, the cost
// limit, the timeout) wrap scalers.ErrNoData.
func (p *Program) Eval(ctx context.Context, in []Input) (float64, error) {
	if len(in) != len(p.names) {
		return 0, fmt.Errorf("evaluate expression: got %d inputs for %d sources", len(in), len(p.names))
	}
	a := p.pool.Get().(*activation)
	defer p.pool.Put(a)
	a.reset(in)

	var out ref.Val
	var err error
	if p.loops {
		evalCtx, cancel := context.WithTimeout(ctx, p.timeout)
		out, _, err = p.prg.ContextEval(evalCtx, a)
		cancel()
	} else {
		// Without comprehensions the work is bounded by the size of the
		// expression (and by the cost limit); there is nothing to
		// interrupt.
		out, _, err = p.prg.Eval(a)
	}
	if err != nil {
		return 0, p.evalError(ctx, a, in, err)
	}
	v, err := p.value(out)
	if err != nil {
		return 0, noData(err)
	}
	return v, nil
}

func (p *Program) value(out ref.Val) (float64, error) {
	var f float64
	switch v := out.(type) {
	case types.Double:
		f = float64(v)
	case types.Int:
		f = float64(v)
	case types.Uint:
		f = float64(v)
	case types.Bool:
		if v {
			return 1, nil
		}
		return 0, nil
	default:
		return 0, fmt.Errorf("the expression gave a %s, expected a number or a bool", out.Type().TypeName())
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("the expression gave %v, not a finite number", f)
	}
	return f, nil
}

// evalError turns a failed evaluation into an error that says why: the
// failed sources the expression needed, the caller's context, or the
// expression itself.
func (p *Program) evalError(ctx context.Context, a *activation, in []Input, err error) error {
	var failed []error
	for i, missed := range a.missed {
		if missed && in[i].Err != nil {
			failed = append(failed, fmt.Errorf("source %s: %w", p.names[i], in[i].Err))
		}
	}
	if len(failed) > 0 {
		return scalers.Unavailable("evaluate expression", errors.Join(failed...))
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("evaluate expression: %w", ctxErr)
	}
	var cancelled interpreter.EvalCancelledError
	isCancelled := errors.As(err, &cancelled)
	switch {
	case isCancelled && cancelled.Cause == interpreter.CostLimitExceeded:
		return noData(fmt.Errorf("the evaluation exceeded the cost limit of %d: simplify the expression", p.costLimit))
	case isCancelled, errors.Is(err, context.DeadlineExceeded), errors.Is(err, interpreter.InterruptError{}):
		return noData(fmt.Errorf("the evaluation took longer than %s: simplify the expression", p.timeout))
	}
	return noData(err)
}

// noData marks an evaluation that gave no usable value.
func noData(err error) error {
	return fmt.Errorf("evaluate expression: %w", &noDataError{err: err})
}

type noDataError struct{ err error }

func (e *noDataError) Error() string   { return e.err.Error() }
func (e *noDataError) Unwrap() []error { return []error{e.err, scalers.ErrNoData} }

// activation binds the inputs of one evaluation. Activations are pooled:
// the evaluation of an expression over a handful of sources would otherwise
// spend more on allocating its bindings than on computing.
type activation struct {
	p      *Program
	vals   []ref.Val // types.Double, or nil for a failed source
	missed []bool    // failed sources the evaluation asked for
	count  int       // sources with a value
	smap   sourceMap
}

func (p *Program) newActivation() *activation {
	a := &activation{
		p:      p,
		vals:   make([]ref.Val, len(p.names)),
		missed: make([]bool, len(p.names)),
	}
	a.smap.a = a
	return a
}

func (a *activation) reset(in []Input) {
	a.count = 0
	for i := range in {
		a.missed[i] = false
		if in[i].Err != nil {
			a.vals[i] = nil
			continue
		}
		a.count++
		// Metric values often repeat from one call to the next: keep the
		// boxed value then instead of allocating a new one.
		if old, ok := a.vals[i].(types.Double); ok && float64(old) == in[i].Value {
			continue
		}
		a.vals[i] = types.Double(in[i].Value)
	}
}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	if name == SourcesVar {
		return &a.smap, true
	}
	i, ok := a.p.index[name]
	if !ok {
		return nil, false
	}
	if a.vals[i] == nil {
		a.missed[i] = true
		return nil, false
	}
	return a.vals[i], true
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }

// sourceMap is the `sources` variable: a CEL map(string, double) holding the
// sources that have a value. It reads the activation's bindings instead of
// building a map per evaluation, and notes the failed sources looked up.
type sourceMap struct{ a *activation }

var (
	_ traits.Mapper          = (*sourceMap)(nil)
	_ interpreter.Activation = (*activation)(nil)
)

func (m *sourceMap) lookup(key ref.Val) (ref.Val, bool) {
	k, ok := key.(types.String)
	if !ok {
		return nil, false
	}
	i, ok := m.a.p.index[string(k)]
	if !ok {
		return nil, false
	}
	if m.a.vals[i] == nil {
		// A presence test (has(sources.x)) looks the key up too; noting it
		// only matters if the evaluation then fails.
		m.a.missed[i] = true
		return nil, false
	}
	return m.a.vals[i], true
}

// Find implements traits.Mapper.
func (m *sourceMap) Find(key ref.Val) (ref.Val, bool) {
	if types.IsUnknownOrError(key) {
		return key, false
	}
	return m.lookup(key)
}

// Contains implements traits.Container.
func (m *sourceMap) Contains(key ref.Val) ref.Val {
	_, ok := m.Find(key)
	return types.Bool(ok)
}

// Get implements traits.Indexer.
func (m *sourceMap) Get(key ref.Val) ref.Val {
	v, ok := m.Find(key)
	if !ok {
		return types.ValOrErr(v, "no such key: %v", key)
	}
	return v
}

// Size implements traits.Sizer.
func (m *sourceMap) Size() ref.Val { return types.Int(m.a.count) }

// Iterator implements traits.Iterable: the names of the sources that have a
// value, in the order of Names.
func (m *sourceMap) Iterator() traits.Iterator { return &sourceIter{m: m} }

// ConvertToNative implements ref.Val.
func (m *sourceMap) ConvertToNative(t reflect.Type) (any, error) {
	native := m.native()
	if reflect.TypeOf(native).AssignableTo(t) {
		return native, nil
	}
	return nil, fmt.Errorf("type conversion error from sources map to %v", t)
}

func (m *sourceMap) native() map[string]float64 {
	out := make(map[string]float64, m.a.count)
	for i, v := range m.a.vals {
		if v != nil {
			out[m.a.p.names[i]] = float64(v.(types.Double))
		}
	}
	return out
}

// ConvertToType implements ref.Val.
func (m *sourceMap) ConvertToType(t ref.Type) ref.Val {
	switch t {
	case types.MapType:
		return m
	case types.TypeType:
		return types.MapType
	}
	return types.NewErr("type conversion error from map to %s", t.TypeName())
}

// Equal implements ref.Val: maps are equal when they hold equal values
// under the same keys.
func (m *sourceMap) Equal(other ref.Val) ref.Val {
	o, ok := other.(traits.Mapper)
	if !ok || o.Size() != m.Size() {
		return types.False
	}
	for i, v := range m.a.vals {
		if v == nil {
			continue
		}
		ov, found := o.Find(types.String(m.a.p.names[i]))
		if !found || types.Equal(v, ov) != types.True {
			return types.False
		}
	}
	return types.True
}

// Type implements ref.Val.
func (m *sourceMap) Type() ref.Type { return types.MapType }

// Value implements ref.Val.
func (m *sourceMap) Value() any { return m.native() }

type sourceIter struct {
	m *sourceMap
	i int
}

func (it *sourceIter) skip() {
	for it.i < len(it.m.a.vals) && it.m.a.vals[it.i] == nil {
		it.i++
	}
}

func (it *sourceIter) HasNext() ref.Val {
	it.skip()
	return types.Bool(it.i < len(it.m.a.vals))
}

func (it *sourceIter) Next() ref.Val {
	it.skip()
	if it.i >= len(it.m.a.vals) {
		return nil
	}
	k := types.String(it.m.a.p.names[it.i])
	it.i++
	return k
}

func (it *sourceIter) ConvertToNative(t reflect.Type) (any, error) {
	return nil, fmt.Errorf("type conversion on iterators not supported")
}
func (it *sourceIter) ConvertToType(ref.Type) ref.Val { return types.NewErr("no such overload") }
func (it *sourceIter) Equal(ref.Val) ref.Val          { return types.NewErr("no such overload") }
func (it *sourceIter) Type() ref.Type                 { return types.IteratorType }
func (it *sourceIter) Value() any                     { return nil }

// hasComprehension reports whether the checked expression has a
// comprehension (the expansion of all, exists, map, filter, cel.bind ...).
func hasComprehension(checked *cel.Ast) bool {
	found := false
	ast.PreOrderVisit(checked.NativeRep().Expr(), ast.NewExprVisitor(func(e ast.Expr) {
		if e.Kind() == ast.ComprehensionKind {
			found = true
		}
	}))
	return found
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

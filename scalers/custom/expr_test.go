package custom

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

var errDown = errors.New("dial tcp 127.0.0.1:1: connection refused")

// errText is err's message, or "" for no error: a cmp.Diff of messages
// then also tells a missing error from a different one.
func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestCompileErrorsPointAtThePosition(t *testing.T) {
	names := []string{"queue_length", "processing_time", "active_users"}
	// The hint for mixed number types.
	const hint = "\nhint: sources are doubles and CEL does not mix number types in arithmetic and ==: write 2.0 instead of 2, or double(n)"
	tests := []struct {
		name      string
		expr      string
		line, col int    // of the first issue; 0 when it has no position
		want      string // the whole message
	}{
		{
			name: "undeclared reference on the second line",
			expr: "(queue_length * processing_time > 300) ||\n(active_users > 1000 && cpu_usage > 0.6)",
			line: 2, col: 25,
			want: "expression:2:25: undeclared reference to 'cpu_usage'\n" +
				" | (active_users > 1000 && cpu_usage > 0.6)\n" +
				" | ........................^",
		},
		{
			name: "syntax error",
			expr: "queue_length +",
			line: 1, col: 15,
			want: "expression:1:15: Syntax error: mismatched input '<EOF>' expecting {'[', '{', '(', '.', '-', '!', 'true', 'false', 'null', NUM_FLOAT, NUM_INT, NUM_UINT, STRING, BYTES, IDENTIFIER}\n" +
				" | queue_length +\n" +
				" | ..............^",
		},
		{
			name: "mixed number types get a hint",
			expr: "queue_length * 2",
			line: 1, col: 14,
			want: "expression:1:14: found no matching overload for '_*_' applied to '(double, int)'\n" +
				" | queue_length * 2\n" +
				" | .............^" + hint,
		},
		{
			name: "int literal compared for equality gets the hint too",
			expr: "queue_length == 2",
			line: 1, col: 14,
			want: "expression:1:14: found no matching overload for '_==_' applied to '(double, int)'\n" +
				" | queue_length == 2\n" +
				" | .............^" + hint,
		},
		{
			name: "string result",
			expr: "'many'",
			want: "expression: the result is a string, expected a number (double, int, uint) or a bool",
		},
		{
			name: "list result",
			expr: "[queue_length]",
			want: "expression: the result is a list(double), expected a number (double, int, uint) or a bool",
		},
		{
			name: "empty",
			expr: " \n ",
			want: "expression: the expression is empty",
		},
		{
			name: "too long",
			expr: strings.Repeat("1 + ", MaxExpressionLength) + "1",
			want: "expression: the expression has 40001 characters, at most 10000 are allowed",
		},
		{
			name: "too deep",
			expr: strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300),
			want: "expression: expression recursion limit exceeded: 250",
		},
		{
			name: "bad constant regular expression",
			expr: "'a'.matches('[')",
			want: "expression: error parsing regexp: missing closing ]: `[`",
		},
		{
			name: "field of a double",
			expr: "queue_length.value",
			line: 1, col: 13,
			want: "expression:1:13: type 'double' does not support field selection\n" +
				" | queue_length.value\n" +
				" | ............^",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.expr, names, Limits{})
			var ce *CompileError
			if !errors.As(err, &ce) {
				t.Fatalf("got %v, want a *CompileError", err)
			}
			if !errors.Is(err, scalers.ErrInvalidConfig) {
				t.Errorf("errors.Is(err, ErrInvalidConfig) = false")
			}
			type position struct{ Line, Column int }
			if diff := cmp.Diff(position{tt.line, tt.col}, position{ce.Issues[0].Line, ce.Issues[0].Column}); diff != "" {
				t.Errorf("position of the first issue (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.want, err.Error()); diff != "" {
				t.Errorf("message (-want +got):\n%s", diff)
			}
			if strings.Contains(err.Error(), "in container") || strings.Contains(err.Error(), "ERROR:") {
				t.Errorf("message keeps cel-go noise:\n%v", err)
			}
		})
	}
}

func TestCompileRejectsBadNames(t *testing.T) {
	for _, tt := range []struct {
		names []string
		want  string
	}{
		{[]string{"a", "a"}, `expression: source name "a": duplicate`},
		{[]string{"1a"}, `expression: source name "1a": not a valid CEL identifier: a letter or '_' followed by letters, digits or '_'`},
		{[]string{SourcesVar}, `expression: source name "sources": reserved word in CEL expressions, choose another name`},
		{[]string{"int"}, `expression: source name "int": reserved word in CEL expressions, choose another name`},
	} {
		_, err := Compile("1.0", tt.names, Limits{})
		if diff := cmp.Diff(tt.want, errText(err)); diff != "" {
			t.Errorf("Compile with names %q: error (-want +got):\n%s", tt.names, diff)
		}
	}
}

func TestEval(t *testing.T) {
	names := []string{"a", "b", "c", "d", "e"}
	ok := []Input{{Value: 2}, {Value: 3}, {Value: 0.5}, {Value: -4}, {Value: 1e6}}
	withDown := func(i int) []Input {
		in := append([]Input(nil), ok...)
		in[i] = Input{Err: errDown}
		return in
	}
	tests := []struct {
		name string
		expr string
		in   []Input
		want float64
	}{
		{"arithmetic", "a * b + c", ok, 6.5},
		{"int result", "size(sources)", ok, 5},
		{"uint result", "uint(a) + 3u", ok, 5},
		{"true is 1", "a < b", ok, 1},
		{"false is 0", "a > b", ok, 0},
		{"cross-type comparison", "e > 1000 && a == 2.0 && b < 4", ok, 1},
		{"design expression", "(a * b > 300) || (e > 1000 && c > 0.4)", ok, 1},
		{"dyn result", "dyn(a)", ok, 2},
		{"math extension", "math.greatest(a, b, c) + math.ceil(c)", ok, 4},
		{"bind", "cel.bind(load, a * b, load * load)", ok, 36},
		{"sources map", "sources.a + sources['b']", ok, 5},
		{"comprehension over sources", "sources.filter(k, sources[k] > 1.0).size()", ok, 3},
		{"has on a healthy source", "has(sources.a) ? a : 0.0", ok, 2},
		{"has on a failed source", "has(sources.a) ? a : 7.0", withDown(0), 7},
		{"optional on a failed source", "sources.?a.orValue(10.0) + b", withDown(0), 13},
		{"optional index on a failed source", "sources[?'a'].orValue(1.0)", withDown(0), 1},
		{"failed source left out of the map", "size(sources)", withDown(2), 4},
		{"failed source never read", "b > 1.0 || a > 1.0", withDown(0), 1},
		{"failed source not iterated", "sources.all(k, sources[k] != 0.5)", withDown(2), 1},
		{"in operator", "'c' in sources ? 1 : 2", withDown(2), 2},
		{"map equality", "sources == {'a': 2.0, 'b': 3.0, 'c': 0.5, 'd': -4.0, 'e': 1e6}", ok, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.expr, names, Limits{})
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			got, err := p.Eval(t.Context(), tt.in)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEvalNeedsAFailedSource(t *testing.T) {
	names := []string{"queue", "users"}
	tests := []struct {
		name string
		expr string
	}{
		{"variable", "queue + users"},
		{"map field", "sources.queue + users"},
		{"map index", "sources['queue'] * 2.0"},
		{"has does not help the other branch", "has(sources.users) ? queue : users"},
		{"inside a comprehension", "sources.exists(k, k == 'users') && queue > 1.0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.expr, names, Limits{})
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			_, err = p.Eval(t.Context(), []Input{{Err: errDown}, {Value: 4}})
			if err == nil {
				t.Fatalf("got no error, want one naming the failed source")
			}
			if !errors.Is(err, scalers.ErrUnavailable) {
				t.Errorf("errors.Is(err, ErrUnavailable) = false for %v", err)
			}
			if !errors.Is(err, errDown) {
				t.Errorf("the source's own error is not wrapped: %v", err)
			}
			if diff := cmp.Diff("evaluate expression: source queue: "+errDown.Error(), err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
			if strings.Contains(err.Error(), "users") {
				t.Errorf("error names the healthy source: %v", err)
			}
		})
	}
}

func TestEvalErrorsWithoutUsableValue(t *testing.T) {
	tests := []struct {
		name, expr string
		want       string
	}{
		{"int division by zero", "int(a) / 0", "evaluate expression: division by zero"},
		{"infinite", "a / 0.0", "evaluate expression: the expression gave +Inf, not a finite number"},
		{"not a number", "math.sqrt(-a)", "evaluate expression: the expression gave NaN, not a finite number"},
		{"dyn string", "dyn(a > 1.0 ? 'x' : 'y')", "evaluate expression: the expression gave a string, expected a number or a bool"},
		{"missing key of a healthy map", "sources.zzz", "evaluate expression: no such key: zzz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Compile(tt.expr, []string{"a"}, Limits{})
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			_, err = p.Eval(t.Context(), []Input{{Value: 2}})
			if diff := cmp.Diff(tt.want, errText(err)); diff != "" {
				t.Fatalf("error (-want +got):\n%s", diff)
			}
			if !errors.Is(err, scalers.ErrNoData) || errors.Is(err, scalers.ErrUnavailable) {
				t.Errorf("got %v, want it to wrap ErrNoData and not ErrUnavailable", err)
			}
		})
	}
}

// hostile expressions: each would run for minutes or take gigabytes if it
// were evaluated to the end.
func nestedComprehensions(depth int) string {
	list := "[" + strings.Repeat("1,", 99) + "1]"
	s := "true"
	for i := range depth {
		s = fmt.Sprintf("%s.all(x%d, %s)", list, i, s)
	}
	return s
}

// doublingString doubles a string n times with cel.bind: 8 * 2^n bytes.
func doublingString(n int) string {
	s := fmt.Sprintf("size(s%d) > 0", n)
	for i := n; i >= 1; i-- {
		s = fmt.Sprintf("cel.bind(s%d, s%d + s%d, %s)", i, i-1, i-1, s)
	}
	return "cel.bind(s0, 'aaaaaaaa', " + s + ")"
}

// doublingList does the same with a list, then iterates over it.
func doublingList(n int) string {
	s := fmt.Sprintf("l%d.all(x, x > 0.0)", n)
	for i := n; i >= 1; i-- {
		s = fmt.Sprintf("cel.bind(l%d, l%d + l%d, %s)", i, i-1, i-1, s)
	}
	return "cel.bind(l0, [a, a, a, a], " + s + ")"
}

func TestHostileExpressionsAreRejectedAtCompileTime(t *testing.T) {
	// cost is the message for an estimate of n.
	cost := func(n string) string {
		return "expression: the expression may cost up to " + n + " to evaluate, above the limit of 100000: simplify it (fewer or smaller comprehensions, shorter strings and lists)"
	}
	for _, tt := range []struct {
		name, expr, want string
	}{
		{"nested comprehensions", nestedComprehensions(6), cost("3141414141411")},
		{"doubling string", doublingString(40), cost("1759218604953")},
		{"doubling list", doublingList(40), cost("21990232556066")},
		{"comprehension product", "[" + strings.Repeat("a,", 999) + "a].map(x, [" + strings.Repeat("a,", 999) + "a].map(y, x * y)).size()", cost("16034022")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.expr, []string{"a"}, Limits{})
			if diff := cmp.Diff(tt.want, errText(err)); diff != "" {
				t.Fatalf("cost estimate error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestHostileExpressionsAreStoppedAtRunTime(t *testing.T) {
	// The static check is skipped here to prove the run-time limits hold
	// on their own.
	tests := []struct {
		name string
		expr string
		lim  Limits
		want string
	}{
		{"cost limit stops comprehensions", nestedComprehensions(6), Limits{Timeout: time.Hour}, "evaluate expression: the evaluation exceeded the cost limit of 100000: simplify the expression"},
		{"cost limit stops a doubling string", doublingString(40), Limits{Timeout: time.Hour}, "evaluate expression: the evaluation exceeded the cost limit of 100000: simplify the expression"},
		// Concatenated lists are trees: reading one deep is slow enough
		// that under the default limits either may stop it first (the cost
		// limit only after seconds under -race). A lower cost limit and a
		// long timeout make it the cost limit, in milliseconds.
		{"cost limit stops a doubling list", doublingList(40), Limits{CostLimit: 10_000, Timeout: 30 * time.Second}, "evaluate expression: the evaluation exceeded the cost limit of 10000: simplify the expression"},
		{"cost limit is capped", doublingString(40), Limits{CostLimit: math.MaxUint64, Timeout: time.Hour}, "evaluate expression: the evaluation exceeded the cost limit of 1000000: simplify the expression"},
		// A deadline that has passed when the evaluation starts keeps the
		// test independent of the machine's speed and load.
		{"timeout stops comprehensions", nestedComprehensions(6), Limits{CostLimit: MaxCostLimit, Timeout: time.Nanosecond}, "evaluate expression: the evaluation took longer than 1ns: simplify the expression"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.lim.skipStaticCheck = true
			p, err := Compile(tt.expr, []string{"a"}, tt.lim)
			if err != nil {
				t.Fatalf("Compile: %v", err)
			}
			_, err = p.Eval(t.Context(), []Input{{Value: 1}})
			if diff := cmp.Diff(tt.want, errText(err)); diff != "" {
				t.Fatalf("error (-want +got):\n%s", diff)
			}
			if !errors.Is(err, scalers.ErrNoData) {
				t.Errorf("errors.Is(err, ErrNoData) = false for %v", err)
			}
		})
	}
}

func TestEvalStopsWhenTheCallerGivesUp(t *testing.T) {
	p, err := Compile(nestedComprehensions(6), []string{"a"}, Limits{CostLimit: MaxCostLimit, Timeout: time.Hour, skipStaticCheck: true})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = p.Eval(ctx, []Input{{Value: 1}})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
}

func TestEvalIsSafeForConcurrentUse(t *testing.T) {
	p, err := Compile("has(sources.a) ? a + b : b", []string{"a", "b"}, Limits{})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				in := []Input{{Value: float64(g)}, {Value: float64(i)}}
				want := float64(g + i)
				if (g+i)%3 == 0 {
					in[0] = Input{Err: errDown}
					want = float64(i)
				}
				got, err := p.Eval(t.Context(), in)
				if err != nil || got != want {
					t.Errorf("goroutine %d call %d: got %v, %v, want %v", g, i, got, err, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestEvalChecksTheNumberOfInputs(t *testing.T) {
	p, err := Compile("a", []string{"a"}, Limits{})
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	_, err = p.Eval(t.Context(), nil)
	if diff := cmp.Diff("evaluate expression: got 0 inputs for 1 sources", errText(err)); diff != "" {
		t.Errorf("0 inputs: error (-want +got):\n%s", diff)
	}
}

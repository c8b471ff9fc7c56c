package custom

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// frozenSource is a source type whose calls hang until the test ends,
// whatever their context says: a source that breaks the rule of its bound
// (a client library that ignores its context). It reports a bound of
// bound.
type frozenSource struct {
	release <-chan struct{}
	bound   time.Duration
}

func (f *frozenSource) MetricSpecs() []scalers.MetricSpec {
	return []scalers.MetricSpec{{Name: "frozen", Target: 1}}
}

func (f *frozenSource) Metrics(context.Context) (scalers.Metrics, error) {
	<-f.release
	return scalers.Metrics{}, scalers.Unavailable("frozen", io.EOF)
}

func (f *frozenSource) Close() error         { return nil }
func (f *frozenSource) Bound() time.Duration { return f.bound }

// boundedRegistry is newRegistry with the frozen type.
func boundedRegistry(tb testing.TB, bound time.Duration) *scalers.Registry {
	tb.Helper()
	release := make(chan struct{})
	tb.Cleanup(func() { close(release) })
	reg := newRegistry(tb)
	frozen := &frozenSource{release: release, bound: bound}
	reg.MustRegister("frozen", func(context.Context, scalers.Config) (scalers.Scaler, error) { return frozen, nil })
	return reg
}

// newBoundedCustom is newCustom with a server default bound of 1s.
func newBoundedCustom(tb testing.TB, reg *scalers.Registry, md map[string]string) *Scaler {
	tb.Helper()
	s, err := reg.New(tb.Context(), scalers.Config{Type: Type, Metadata: md, Timeouts: scalers.Timeouts{Default: time.Second}})
	if err != nil {
		tb.Fatalf("build the custom scaler: %v", err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s.(*Scaler)
}

// TestFrozenSource: a source that never answers delays no call beyond the
// custom scaler's bound (the largest of its sources' bounds and 0.5 s);
// the expression does without it (has, optionals) or fails naming it.
func TestFrozenSource(t *testing.T) {
	api := startPromAPI(t, "4")
	reg := boundedRegistry(t, time.Second)
	md := func(expr string) map[string]string {
		return map[string]string{
			"expression": expr, "threshold": "1",
			"source.ok.type": "prometheus", "source.ok.serverAddress": api.srv.URL, "source.ok.query": "up",
			"source.stuck.type": "frozen",
		}
	}
	const bound = 1500 * time.Millisecond // the frozen source's 1s and the grace
	tests := []struct {
		expr    string
		want    float64
		wantErr string
	}{
		{expr: "ok + stuck", wantErr: "evaluate expression: source stuck: frozen: no answer within 1.5s (timeout)"},
		{expr: "ok + sources.?stuck.orValue(10.0)", want: 14},
		{expr: "has(sources.stuck) ? stuck : ok * 2.0", want: 8},
	}
	for _, tc := range tests {
		t.Run(tc.expr, func(t *testing.T) {
			s := newBoundedCustom(t, reg, md(tc.expr))
			if got := s.Bound(); got != bound {
				t.Errorf("Bound: got %v, want %v", got, bound)
			}
			var m scalers.Metrics
			err := scalertest.ReturnsWithin(t, bound, "a call with a frozen source", func() error {
				var err error
				m, err = s.Metrics(context.Background())
				return err
			})
			if tc.wantErr != "" {
				scalertest.CheckErr(t, err, scalers.ErrUnavailable)
				scalertest.CheckMessage(t, err, tc.wantErr)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if v, _ := m.Value(s.MetricSpecs()[0].Name); v != tc.want {
				t.Errorf("got %v, want %v", v, tc.want)
			}
		})
	}
	t.Run("the caller's earlier deadline wins", func(t *testing.T) {
		s := newBoundedCustom(t, reg, md("ok + stuck"))
		ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
		defer cancel()
		err := scalertest.ReturnsWithin(t, 100*time.Millisecond, "a call with a 100ms deadline", func() error {
			_, err := s.Metrics(ctx)
			return err
		})
		scalertest.CheckErr(t, err, context.DeadlineExceeded)
		if strings.Contains(err.Error(), "no answer within") {
			t.Errorf("error %q: want the caller's deadline, not the scaler's bound", err)
		}
	})
}

// TestSourcesGetTheTriggersBounds: each source is built with the custom
// trigger's Timeouts and Limits, so a source in a black hole gives its own
// error within its bound, and a source's list is held to the limit.
func TestSourcesGetTheTriggersBounds(t *testing.T) {
	reg := newRegistry(t)
	hole := scalertest.NewSwitchServer(t, http.NotFoundHandler(), nil, scalertest.BlackHoleMode)
	fast := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "3") }))
	t.Cleanup(fast.Close)
	holeURL := "http://" + hole.Addr() + "/stats"
	md := map[string]string{
		"expression": "fast + sources.?slow.orValue(100.0)", "threshold": "1",
		"source.fast.type": "external", "source.fast.url": fast.URL,
		"source.slow.type": "external", "source.slow.url": holeURL,
	}
	cfg := scalers.Config{Type: Type, Metadata: md, Timeouts: scalers.Timeouts{Default: time.Second}}
	sc, err := reg.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	s := sc.(*Scaler)
	// metrics-api reports its bound: the trigger's default of 1s.
	if got := s.Bound(); got != 1500*time.Millisecond {
		t.Errorf("Bound: got %v, want 1.5s", got)
	}
	var m scalers.Metrics
	err = scalertest.ReturnsWithin(t, time.Second, "a call with a source in a black hole", func() error {
		m, err = s.Metrics(context.Background())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	want := scalers.Metrics{Values: []scalers.MetricValue{{Name: s.MetricSpecs()[0].Name, Value: 103}}, Active: true}
	if diff := cmp.Diff(want, m); diff != "" {
		t.Errorf("Metrics (-want +got):\n%s", diff)
	}

	// Without the optional, the source's own error, from its own bound.
	md["expression"] = "fast + slow"
	sc2, err := reg.New(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer sc2.Close()
	err = scalertest.ReturnsWithin(t, time.Second, "a call needing the source in a black hole", func() error {
		_, err := sc2.Metrics(context.Background())
		return err
	})
	scalertest.CheckErr(t, err, scalers.ErrUnavailable)
	scalertest.CheckMessage(t, err, "evaluate expression: source slow: metrics-api: "+holeURL+": no answer within 1s (timeout after sending the request)")

	t.Run("limits", func(t *testing.T) {
		md := map[string]string{
			"expression": "a + b + c", "threshold": "1",
			"source.a.type": "prometheus", "source.a.serverAddress": "http://prom:9090", "source.a.query": "up",
			"source.a.customHeaders": "X-A=1,X-B=2,X-C=3",
			"source.b.type":          "external", "source.b.url": fast.URL,
			"source.c.type": "external", "source.c.url": fast.URL,
		}
		_, err := reg.New(t.Context(), scalers.Config{Type: Type, Metadata: md, Limits: scalers.Limits{MaxListItems: 2}})
		scalertest.CheckErr(t, err, scalers.ErrInvalidConfig)
		scalertest.CheckMessage(t, err, "invalid metadata: source.<name>.type: 3 items, more than the limit of 2; "+
			"source.a.customHeaders: 3 items, more than the limit of 2")
	})
}

// TestCompileErrorBounded: many errors on a long line give a message of
// bounded size that still points at each of the first ones.
func TestCompileErrorBounded(t *testing.T) {
	var terms []string
	for i := range 40 {
		terms = append(terms, fmt.Sprintf("%s%02d", strings.Repeat("u", 100), i))
	}
	_, err := Compile(strings.Join(terms, " + "), []string{"a"}, Limits{})
	ce, ok := err.(*CompileError)
	if !ok {
		t.Fatalf("got %T %v, want a *CompileError", err, err)
	}
	if len(ce.Issues) != 40 {
		t.Errorf("%d issues, want 40 (all of them, though the message shows 10)", len(ce.Issues))
	}
	lines := strings.Split(err.Error(), "\n")
	// Three lines per issue shown, then the count of the others.
	if len(lines) != 31 || lines[30] != "and 30 more" {
		t.Fatalf("%d lines ending %q, want 31 ending \"and 30 more\"", len(lines), lines[len(lines)-1])
	}
	u := strings.Repeat("u", 100)
	// The second term starts at column 106: the snippet shows 60
	// characters each side of it.
	want := []string{
		"expression:1:106: undeclared reference to '" + u + "01'",
		" | …" + strings.Repeat("u", 55) + "00 + " + strings.Repeat("u", 60) + "…",
		" | ." + strings.Repeat(".", 60) + "^",
	}
	if diff := cmp.Diff(want, lines[3:6]); diff != "" {
		t.Errorf("second issue (-want +got):\n%s", diff)
	}
}

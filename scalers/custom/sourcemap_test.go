package custom

import (
	"context"
	"reflect"
	"testing"

	"github.com/google/cel-go/common/types"
	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// TestSourcesMapInExpressions drives the `sources` map through CEL
// operations that use its less common methods.
func TestSourcesMapInExpressions(t *testing.T) {
	names := []string{"a", "b", "c"}
	in := []Input{{Value: 1}, {Err: errDown}, {Value: 3}}
	for _, tt := range []struct {
		expr string
		want float64
		// compileErr and evalErr are the whole messages of an expected
		// error.
		compileErr, evalErr string
	}{
		{expr: "sources == sources", want: 1},
		{expr: "sources == {'a': 1.0, 'c': 3.0}", want: 1},
		{expr: "sources == {'a': 1.0, 'c': 4.0}", want: 0},
		{expr: "sources == {'a': 1.0, 'b': 3.0}", want: 0},
		{expr: "{'a': 1.0, 'c': 3.0} == sources", want: 1},
		// join needs ext.Strings.
		{expr: "sources.map(k, k).join('') == 'ac'", compileErr: "expression:1:23: undeclared reference to 'join'\n" +
			" | sources.map(k, k).join('') == 'ac'\n" +
			" | ......................^"},
		{expr: "sources.map(k, k) == ['a', 'c']", want: 1},
		{expr: "sources.exists(k, k == 'b')", want: 0},
		{expr: "dyn(sources)['c']", want: 3},
		// A key of the wrong type is no key.
		{expr: "dyn(sources)[1] == 1.0", evalErr: "evaluate expression: no such key: 1"},
	} {
		t.Run(tt.expr, func(t *testing.T) {
			p, err := Compile(tt.expr, names, Limits{})
			if diff := cmp.Diff(tt.compileErr, errText(err)); diff != "" {
				t.Fatalf("Compile: error (-want +got):\n%s", diff)
			}
			if err != nil {
				return
			}
			got, err := p.Eval(t.Context(), in)
			if diff := cmp.Diff(tt.evalErr, errText(err)); diff != "" {
				t.Fatalf("Eval: error (-want +got):\n%s", diff)
			}
			if err == nil && got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSourcesMapValue(t *testing.T) {
	p, err := Compile("1.0", []string{"a", "b", "c"}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	a := p.newActivation()
	a.reset([]Input{{Value: 1}, {Err: errDown}, {Value: 3}})
	m := &a.smap
	want := map[string]float64{"a": 1, "c": 3}
	if diff := cmp.Diff(want, m.Value()); diff != "" {
		t.Errorf("Value (-want +got):\n%s", diff)
	}
	native, err := m.ConvertToNative(reflect.TypeFor[map[string]float64]())
	if err != nil {
		t.Errorf("ConvertToNative: %v", err)
	}
	if diff := cmp.Diff(want, native); diff != "" {
		t.Errorf("ConvertToNative (-want +got):\n%s", diff)
	}
	if _, err := m.ConvertToNative(reflect.TypeFor[[]string]()); err == nil {
		t.Errorf("ConvertToNative to []string: got no error, want one")
	}
	if got := m.ConvertToType(types.MapType); got != m {
		t.Errorf("ConvertToType(map): got %v, want the map", got)
	}
	if got := m.ConvertToType(types.TypeType); got != types.MapType {
		t.Errorf("ConvertToType(type): got %v, want map", got)
	}
	if got := m.ConvertToType(types.StringType); !types.IsError(got) {
		t.Errorf("ConvertToType(string): got %v, want an error", got)
	}
	if got := m.Get(types.String("c")); got != types.Double(3) {
		t.Errorf("Get(c): got %v, want 3", got)
	}
	if got := m.Get(types.String("b")); !types.IsError(got) {
		t.Errorf("Get(b) of a failed source: got %v, want an error", got)
	}
	if !a.missed[1] {
		t.Errorf("looking up failed source b was not noted")
	}
	if v, found := m.Find(types.NewErr("boom")); found || !types.IsError(v) {
		t.Errorf("Find(error): got %v, %v, want the error, false", v, found)
	}
	if a.Parent() != nil {
		t.Errorf("Parent: got non-nil")
	}
	it := m.Iterator()
	var keys []string
	for it.HasNext() == types.True {
		keys = append(keys, string(it.Next().(types.String)))
	}
	if diff := cmp.Diff([]string{"a", "c"}, keys); diff != "" {
		t.Errorf("iterated keys (-want +got):\n%s", diff)
	}
	if it.Next() != nil {
		t.Errorf("Next past the end: got non-nil")
	}
	if it.Type() != types.IteratorType || it.Value() != nil || !types.IsError(it.Equal(it)) || !types.IsError(it.ConvertToType(types.MapType)) {
		t.Errorf("iterator ref.Val methods misbehave")
	}
	if _, err := it.ConvertToNative(reflect.TypeFor[any]()); err == nil {
		t.Errorf("iterator ConvertToNative: got no error")
	}
}

// twoMetrics stands for a scaler type offering two metrics; no type of
// the project does today, so this is the only way to reach the check that
// a source must give exactly one value.
type twoMetrics struct{}

func (twoMetrics) MetricSpecs() []scalers.MetricSpec {
	return []scalers.MetricSpec{{Name: "x", Target: 1}, {Name: "y", Target: 1}}
}
func (twoMetrics) Metrics(context.Context) (scalers.Metrics, error) { return scalers.Metrics{}, nil }
func (twoMetrics) Close() error                                     { return nil }

func TestASourceMustGiveOneValue(t *testing.T) {
	reg := newRegistry(t)
	reg.MustRegister("pair", func(context.Context, scalers.Config) (scalers.Scaler, error) { return twoMetrics{}, nil })
	_, err := reg.New(t.Context(), scalers.Config{Type: Type, Metadata: map[string]string{
		"expression": "p", "threshold": "1", "source.p.type": "pair",
	}})
	checkErrs(t, err, []string{`source.p.type "pair": this source offers 2 metrics (x, y); a source must give exactly one value`})
}

func TestCostEstimate(t *testing.T) {
	p, err := Compile("sources.all(k, sources[k] > 0.0)", []string{"a", "b"}, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	lo, hi := p.CostEstimate()
	if lo == 0 || hi < lo || hi > DefaultCostLimit {
		t.Errorf("got estimate %d..%d, want 0 < lo <= hi <= %d", lo, hi, DefaultCostLimit)
	}
}

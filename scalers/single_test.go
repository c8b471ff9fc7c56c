package scalers

import (
	"context"
	"errors"
	"math"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
)

func TestActiveAbove(t *testing.T) {
	tests := []struct {
		name       string
		value      float64
		wantActive bool
	}{
		{name: "below", value: 4, wantActive: false},
		{name: "at the threshold: KEDA compares strictly", value: 5, wantActive: false},
		{name: "above", value: 5.01, wantActive: true},
		{name: "negative", value: -1, wantActive: false},
		// NaN compares false: a NaN that reached here is never active.
		{name: "NaN", value: math.NaN(), wantActive: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			read := ActiveAbove(5, func(context.Context) (float64, error) { return tc.value, nil })
			got, err := read(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			// The value comes through as it is: NaN equals only NaN.
			if diff := cmp.Diff(Reading{Value: tc.value, Active: tc.wantActive}, got, cmpopts.EquateNaNs()); diff != "" {
				t.Errorf("reading (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("error", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := ActiveAbove(5, func(context.Context) (float64, error) { return 9, boom })(t.Context())
		if err != boom {
			t.Errorf("got %v, want the error as it is", err)
		}
	})
}

func TestSingle(t *testing.T) {
	var reads, releases atomic.Int64
	value := 7.5
	s := NewSingle(SingleOptions{
		Type:   "demo",
		Metric: MetricSpec{Name: "demo-q", Target: 10},
		Read: func(ctx context.Context) (Reading, error) {
			reads.Add(1)
			return Reading{Value: value, Active: true}, nil
		},
		Release: func() error { releases.Add(1); return errors.New("release failed") },
	})
	if diff := cmp.Diff([]MetricSpec{{Name: "demo-q", Target: 10}}, s.MetricSpecs()); diff != "" {
		t.Errorf("MetricSpecs (-want +got):\n%s", diff)
	}
	m, err := s.Metrics(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(Metrics{Values: []MetricValue{{Name: "demo-q", Value: 7.5}}, Active: true}, m); diff != "" {
		t.Errorf("Metrics (-want +got):\n%s", diff)
	}
	if v, err := s.Value(t.Context()); err != nil || v != 7.5 {
		t.Errorf("Value: got %v, %v; want 7.5", v, err)
	}

	if err := s.Close(); err == nil || err.Error() != "release failed" {
		t.Errorf("first Close: got %v, want the error of Release", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
	if n := releases.Load(); n != 1 {
		t.Errorf("Release called %d times, want 1", n)
	}
	_, mErr := s.Metrics(t.Context())
	_, vErr := s.Value(t.Context())
	for _, err := range []error{mErr, vErr} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("after Close: got %v, want ErrClosed", err)
			continue
		}
		scalertest.CheckMessage(t, err, "demo scaler: closed")
	}
	if n := reads.Load(); n != 2 {
		t.Errorf("Read called %d times, want 2 (none after Close)", n)
	}
}

func TestSingleReadError(t *testing.T) {
	boom := Unavailable("demo", errors.New("down"))
	s := NewSingle(SingleOptions{Type: "demo", Metric: MetricSpec{Name: "d", Target: 1},
		Read: func(context.Context) (Reading, error) { return Reading{Value: 3, Active: true}, boom }})
	m, err := s.Metrics(t.Context())
	if err != boom {
		t.Errorf("got %v, want the error of Read as it is", err)
	}
	if diff := cmp.Diff(Metrics{}, m); diff != "" {
		t.Errorf("Metrics with an error (-want +got):\n%s", diff)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close without Release: %v", err)
	}
}

// TestClosed: the error Single returns after Close, for a source that
// finds itself closed under way; a Redactor keeps ErrClosed.
func TestClosed(t *testing.T) {
	err := Closed("rabbitmq")
	scalertest.CheckMessage(t, err, "rabbitmq scaler: closed")
	if !errors.Is(err, ErrClosed) {
		t.Errorf("got %v, want it to wrap ErrClosed", err)
	}
	if red := NewRedactor().Error(err); !errors.Is(red, ErrClosed) {
		t.Errorf("redacted: got %v, want it to wrap ErrClosed", red)
	}
}

func TestSingleBound(t *testing.T) {
	read := func(context.Context) (Reading, error) { return Reading{}, nil }
	if got := NewSingle(SingleOptions{Read: read, Bound: 1500 * time.Millisecond}).Bound(); got != 1500*time.Millisecond {
		t.Errorf("Bound: got %v, want 1.5s", got)
	}
	if got := NewSingle(SingleOptions{Read: read}).Bound(); got != 0 {
		t.Errorf("Bound without one: got %v, want 0", got)
	}
}

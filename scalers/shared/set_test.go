package shared

import (
	"errors"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func TestSet(t *testing.T) {
	s := NewSet[*int]("db", 2)
	opened, closed := 0, 0
	open := func() (*int, error) { opened++; v := opened; return &v, nil }
	done := func(*int) { closed++ }
	a, _ := s.Acquire("a", open)
	a2, _ := s.Acquire("a", open)
	if a != a2 || opened != 1 {
		t.Errorf("same key: %p %p, %d opened", a, a2, opened)
	}
	if _, err := s.Acquire("b", open); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Acquire("c", open); !errors.Is(err, scalers.ErrLimit) {
		t.Errorf("beyond the limit: %v", err)
	}
	if n, limit := s.Stats(); n != 2 || limit != 2 {
		t.Errorf("stats %d/%d", n, limit)
	}
	s.Release("a", done)
	if closed != 0 {
		t.Error("closed while in use")
	}
	s.Release("a", done)
	s.Release("b", done)
	s.Release("b", done) // unknown now: nothing
	if n, _ := s.Stats(); n != 0 || closed != 2 {
		t.Errorf("%d open, %d closed", n, closed)
	}
	if _, err := s.Acquire("c", func() (*int, error) { return nil, errors.New("boom") }); err == nil {
		t.Error("open's error lost")
	}
	if n, _ := s.Stats(); n != 0 {
		t.Errorf("a failed open counts: %d", n)
	}
}

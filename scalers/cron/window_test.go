package cron

import (
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func window(tb testing.TB, zone, start, end string) Window {
	tb.Helper()
	m, err := ParseMetadata(map[string]string{"timezone": zone, "start": start, "end": end, "desiredReplicas": "7"})
	if err != nil {
		tb.Fatal(err)
	}
	return NewWindow(m)
}

// at is a local time in zone.
func at(tb testing.TB, zone string, y int, mo time.Month, d, h, mi int) time.Time {
	tb.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		tb.Fatal(err)
	}
	return time.Date(y, mo, d, h, mi, 0, 0, loc)
}

func utc(y int, mo time.Month, d, h, mi int) time.Time {
	return time.Date(y, mo, d, h, mi, 0, 0, time.UTC)
}

type instant struct {
	name string
	now  time.Time
	open bool
}

func checkInstants(t *testing.T, w Window, cases []instant) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := w.Open(c.now); got != c.open {
				t.Errorf("Open(%s) = %v, want %v", c.now, got, c.open)
			}
			want := int64(0)
			if c.open {
				want = 7
			}
			if got := w.Replicas(c.now); got != want {
				t.Errorf("Replicas(%s) = %d, want %d", c.now, got, want)
			}
		})
	}
}

// TestWindowKEDA: the windows of KEDA's TestIsActive and TestIsActiveRange
// (which read the real clock: here each side of every edge).
func TestWindowKEDA(t *testing.T) {
	// 2026-12-03 is a Thursday.
	t.Run("thursday", func(t *testing.T) {
		checkInstants(t, window(t, "Etc/UTC", "0 0 * * Thu", "59 23 * * Thu"), []instant{
			{"wednesday night", utc(2026, 12, 2, 23, 59), false},
			{"thursday start", utc(2026, 12, 3, 0, 0), true},
			{"thursday noon", utc(2026, 12, 3, 12, 0), true},
			{"thursday 23:58", utc(2026, 12, 3, 23, 58), true},
			{"thursday 23:59, the end", utc(2026, 12, 3, 23, 59), false},
			{"friday", utc(2026, 12, 4, 10, 0), false},
		})
	})
	t.Run("even hours", func(t *testing.T) {
		var cases []instant
		for h := range 24 {
			cases = append(cases, instant{time.Duration(h*int(time.Hour)).String() + "+30m", utc(2026, 12, 3, h, 30), h%2 == 0})
		}
		checkInstants(t, window(t, "Etc/UTC", "0 */2 * * *", "0 1-23/2 * * *"), cases)
	})
	t.Run("commas", func(t *testing.T) {
		checkInstants(t, window(t, "Etc/UTC", "0,30 * * * *", "15,45 * * * *"), []instant{
			{":05", utc(2026, 12, 3, 9, 5), true},
			{":20", utc(2026, 12, 3, 9, 20), false},
			{":35", utc(2026, 12, 3, 9, 35), true},
			{":50", utc(2026, 12, 3, 9, 50), false},
		})
	})
}

// TestWindowMidnight: a window across midnight, in the zone it names
// (Asia/Kolkata is UTC+05:30, which catches a schedule read in UTC).
func TestWindowMidnight(t *testing.T) {
	const z = "Asia/Kolkata"
	checkInstants(t, window(t, z, "0 22 * * *", "0 6 * * *"), []instant{
		{"21:59", at(t, z, 2026, 12, 3, 21, 59), false},
		{"22:00", at(t, z, 2026, 12, 3, 22, 0), true},
		{"23:59", at(t, z, 2026, 12, 3, 23, 59), true},
		{"00:00", at(t, z, 2026, 12, 4, 0, 0), true},
		{"05:59", at(t, z, 2026, 12, 4, 5, 59), true},
		{"06:00", at(t, z, 2026, 12, 4, 6, 0), false},
		{"12:00", at(t, z, 2026, 12, 4, 12, 0), false},
		{"22:00 in UTC is 03:30 here", utc(2026, 12, 3, 22, 0), true},
		{"06:00 in UTC is 11:30 here", utc(2026, 12, 4, 6, 0), false},
	})
	// Weekdays across midnight: Friday 20:00 to Monday 06:00.
	checkInstants(t, window(t, z, "0 20 * * Fri", "0 6 * * Mon"), []instant{
		{"friday 19:00", at(t, z, 2026, 12, 4, 19, 0), false},
		{"friday 21:00", at(t, z, 2026, 12, 4, 21, 0), true},
		{"sunday", at(t, z, 2026, 12, 6, 12, 0), true},
		{"monday 05:59", at(t, z, 2026, 12, 7, 5, 59), true},
		{"monday 06:00", at(t, z, 2026, 12, 7, 6, 0), false},
		{"wednesday", at(t, z, 2026, 12, 9, 12, 0), false},
	})
}

// TestWindowDST: windows around the daylight-saving changes of 2026, in
// Europe/Berlin (29 March 02:00 CET -> 03:00 CEST; 25 October 03:00 CEST
// -> 02:00 CET) and America/New_York (8 March 02:00 EST -> 03:00 EDT;
// 1 November 02:00 EDT -> 01:00 EST). Instants are given in UTC, so that
// a local time that occurs twice is not ambiguous; each expectation is
// what KEDA's rule (open while the next end comes no later than the next
// start, robfig/cron's next firings) gives.
func TestWindowDST(t *testing.T) {
	t.Run("berlin spring, window over the lost hour", func(t *testing.T) {
		// 01:00 CET (00:00 UTC) to 03:00 CEST (01:00 UTC): one real hour.
		checkInstants(t, window(t, "Europe/Berlin", "0 1 * * *", "0 3 * * *"), []instant{
			{"00:59 CET", utc(2026, 3, 28, 23, 59), false},
			{"01:00 CET", utc(2026, 3, 29, 0, 0), true},
			{"01:59 CET", utc(2026, 3, 29, 0, 59), true},
			{"03:00 CEST", utc(2026, 3, 29, 1, 0), false},
			{"next day 02:00 CEST", utc(2026, 3, 30, 0, 0), true},
		})
	})
	t.Run("berlin spring, start in the lost hour", func(t *testing.T) {
		// 02:30 does not exist on 29 March: robfig/cron's next start is
		// 30 March 02:30, after the next end (29 March 04:00), from the
		// end of 28 March on. So the window is open from 28 March 04:00
		// to 29 March 04:00, as in KEDA.
		checkInstants(t, window(t, "Europe/Berlin", "30 2 * * *", "0 4 * * *"), []instant{
			{"28 march 03:00 CET", utc(2026, 3, 28, 2, 0), true},
			{"28 march 04:00 CET, the end", utc(2026, 3, 28, 3, 0), true},
			{"28 march noon", utc(2026, 3, 28, 11, 0), true},
			{"29 march 01:30 CET", utc(2026, 3, 29, 0, 30), true},
			{"29 march 03:30 CEST", utc(2026, 3, 29, 1, 30), true},
			{"29 march 04:00 CEST, the end", utc(2026, 3, 29, 2, 0), false},
			{"30 march 02:29 CEST", utc(2026, 3, 30, 0, 29), false},
			{"30 march 02:30 CEST", utc(2026, 3, 30, 0, 30), true},
		})
	})
	t.Run("berlin autumn, end in the repeated hour", func(t *testing.T) {
		// 02:30 occurs twice on 25 October and robfig/cron fires at both:
		// the window 01:00-02:30 ends at the second, 02:30 CET, 2.5 real
		// hours after it opened.
		checkInstants(t, window(t, "Europe/Berlin", "0 1 * * *", "30 2 * * *"), []instant{
			{"00:59 CEST", utc(2026, 10, 24, 22, 59), false},
			{"01:00 CEST", utc(2026, 10, 24, 23, 0), true},
			{"02:30 CEST, the first", utc(2026, 10, 25, 0, 30), true},
			{"02:10 CET", utc(2026, 10, 25, 1, 10), true},
			{"02:30 CET, the second", utc(2026, 10, 25, 1, 30), false},
			{"next day 01:00 CET", utc(2026, 10, 26, 0, 0), true},
		})
	})
	t.Run("new york spring, across midnight", func(t *testing.T) {
		checkInstants(t, window(t, "America/New_York", "0 22 * * *", "0 6 * * *"), []instant{
			{"7 march 21:59 EST", utc(2026, 3, 8, 2, 59), false},
			{"7 march 22:00 EST", utc(2026, 3, 8, 3, 0), true},
			{"8 march 01:59 EST", utc(2026, 3, 8, 6, 59), true},
			{"8 march 03:00 EDT", utc(2026, 3, 8, 7, 0), true},
			{"8 march 05:59 EDT", utc(2026, 3, 8, 9, 59), true},
			{"8 march 06:00 EDT", utc(2026, 3, 8, 10, 0), false},
		})
	})
	t.Run("new york autumn, window inside the repeated hour", func(t *testing.T) {
		// 01:30-02:00 on 1 November: 01:30 occurs twice and fires twice,
		// both before the one 02:00 (EST). From 01:30 EDT the next start
		// (01:30 EST) still comes before the next end, so the window
		// stays closed through the first pass and opens at the second
		// 01:30, for half an hour, as in KEDA.
		checkInstants(t, window(t, "America/New_York", "30 1 * * *", "0 2 * * *"), []instant{
			{"01:29 EDT", utc(2026, 11, 1, 5, 29), false},
			{"01:30 EDT", utc(2026, 11, 1, 5, 30), false},
			{"01:59 EDT", utc(2026, 11, 1, 5, 59), false},
			{"01:15 EST", utc(2026, 11, 1, 6, 15), false},
			{"01:30 EST", utc(2026, 11, 1, 6, 30), true},
			{"01:45 EST", utc(2026, 11, 1, 6, 45), true},
			{"02:00 EST", utc(2026, 11, 1, 7, 0), false},
		})
	})
}

// TestScalerClock: Metrics reads the injected clock at every call.
func TestScalerClock(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(utc(2026, 12, 2, 23, 0)) // a Wednesday
	s, err := WithClock(clk)(t.Context(), scalers.Config{Metadata: kedaThursday})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	name := s.MetricSpecs()[0].Name
	check := func(want float64, active bool) {
		t.Helper()
		m, err := s.Metrics(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if v, _ := m.Value(name); v != want || m.Active != active {
			t.Errorf("at %s: value %v active %v, want %v %v", clk.Now(), v, m.Active, want, active)
		}
	}
	check(0, false)
	clk.SetTime(utc(2026, 12, 3, 8, 0))
	check(10, true)
	clk.SetTime(utc(2026, 12, 4, 8, 0))
	check(0, false)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Metrics(t.Context()); err == nil {
		t.Error("Metrics after Close did not fail")
	}
}

// TestNewRefuses: the factory reports bad metadata as ErrInvalidConfig.
func TestNewRefuses(t *testing.T) {
	_, err := New(t.Context(), scalers.Config{Metadata: map[string]string{"start": "x"}})
	if err == nil {
		t.Fatal("no error")
	}
	if !isInvalid(err) {
		t.Errorf("error %v is not an ErrInvalidConfig", err)
	}
}

package predictor

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// MaxHorizon is the longest horizon ParseHorizon accepts.
const MaxHorizon = 366 * 24 * time.Hour

var horizonUnits = map[string]time.Duration{
	"ns": time.Nanosecond,
	"us": time.Microsecond,
	"µs": time.Microsecond,
	"ms": time.Millisecond,
	"s":  time.Second,
	"m":  time.Minute,
	"h":  time.Hour,
	"d":  24 * time.Hour,
	"w":  7 * 24 * time.Hour,
}

// ParseHorizon parses a forecast horizon: a positive duration written as
// Go does ("30m", "1h30m", "90s") or with days and weeks ("1d", "2w",
// "1.5d"), at most MaxHorizon.
func ParseHorizon(s string) (time.Duration, error) {
	in := s
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, errors.New(`empty horizon: want a duration such as "30m", "1h" or "1d"`)
	}
	var total float64
	for s != "" {
		i := 0
		for i < len(s) && (s[i] >= '0' && s[i] <= '9' || s[i] == '.') {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("horizon %q: want a number before each unit (such as \"30m\" or \"1h30m\")", in)
		}
		num, err := strconv.ParseFloat(s[:i], 64)
		if err != nil {
			return 0, fmt.Errorf("horizon %q: %q is not a number", in, s[:i])
		}
		j := i
		for j < len(s) && (s[j] < '0' || s[j] > '9') && s[j] != '.' {
			j++
		}
		unit, ok := horizonUnits[s[i:j]]
		if !ok {
			if j == i {
				return 0, fmt.Errorf("horizon %q: missing unit after %s (want ns, us, ms, s, m, h, d or w)", in, s[:i])
			}
			return 0, fmt.Errorf("horizon %q: unknown unit %q (want ns, us, ms, s, m, h, d or w)", in, s[i:j])
		}
		total += num * float64(unit)
		if total > float64(MaxHorizon) {
			return 0, fmt.Errorf("horizon %q: longer than %s", in, FormatHorizon(MaxHorizon))
		}
		s = s[j:]
	}
	d := time.Duration(math.Round(total))
	if d <= 0 {
		return 0, fmt.Errorf("horizon %q: want a positive duration", in)
	}
	return d, nil
}

// FormatHorizon writes d compactly with weeks, days, hours, minutes,
// seconds and milliseconds ("30m", "1h", "1d12h"); ParseHorizon reads it
// back.
func FormatHorizon(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		name string
		d    time.Duration
	}{{"w", 7 * 24 * time.Hour}, {"d", 24 * time.Hour}, {"h", time.Hour}, {"m", time.Minute}, {"s", time.Second}, {"ms", time.Millisecond}} {
		if n := d / u.d; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.name)
			d -= n * u.d
		}
	}
	if d > 0 {
		fmt.Fprintf(&b, "%dns", int64(d))
	}
	return b.String()
}

// HorizonSteps converts a horizon to a number of steps of a series; the
// horizon must be a whole number of steps.
func HorizonSteps(h, step time.Duration) (int, error) {
	if step <= 0 {
		return 0, fmt.Errorf("series step %v: want a positive duration", step)
	}
	if h < step {
		return 0, fmt.Errorf("horizon %s: shorter than the series step %s", FormatHorizon(h), FormatHorizon(step))
	}
	if h%step != 0 {
		return 0, fmt.Errorf("horizon %s: not a multiple of the series step %s", FormatHorizon(h), FormatHorizon(step))
	}
	return int(h / step), nil
}

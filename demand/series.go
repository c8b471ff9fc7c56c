package demand

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Point is one observation.
type Point struct {
	Time  time.Time
	Value float64
}

// Series is a trace read from a file.
type Series struct {
	// Name is the value column's header (or "value").
	Name   string
	Points []Point
	// Layout is the time layout the file used ("" for Unix seconds).
	Layout string
}

// Options tunes Read.
type Options struct {
	// Column selects the value column by header name; empty means the
	// second column.
	Column string
}

// ErrEmpty is returned for a trace without data rows.
var ErrEmpty = errors.New("trace has no data rows")

// layouts are tried in order on the first timestamp; the first that parses
// is then required of every row.
var layouts = []string{
	"2006-01-02 15:04:05",
	"2006-01-02 15:04:05.9999999",
	time.RFC3339Nano,
	"2006-01-02T15:04:05.9999999",
	"2006-01-02 15:04",
	"2006-01-02",
}

// ReadFile reads the trace at path.
func ReadFile(path string, opts Options) (*Series, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	s, err := Read(f, opts)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// Read parses CSV with a header line. The first column is the timestamp (a
// date-time in one of the common layouts, or Unix seconds); timestamps must
// increase strictly. Values must be finite numbers. Errors name the line and
// the field.
func Read(r io.Reader, opts Options) (*Series, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	cr.TrimLeadingSpace = true
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, ErrEmpty
	}
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	if len(header) < 2 {
		return nil, fmt.Errorf("header: want at least 2 columns (timestamp,value), got %d", len(header))
	}
	col := 1
	if opts.Column != "" {
		col = slices.IndexFunc(header, func(h string) bool { return strings.TrimSpace(h) == opts.Column })
		if col < 1 {
			return nil, fmt.Errorf("header: value column %q not found (columns: %s)", opts.Column, strings.Join(header, ","))
		}
	}
	s := &Series{Name: strings.TrimSpace(header[col])}
	layout := ""
	layoutKnown := false
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if len(rec) <= col {
			return nil, fmt.Errorf("line %d: want at least %d columns, got %d", line, col+1, len(rec))
		}
		ts := strings.TrimSpace(rec[0])
		if !layoutKnown {
			layout, err = detectLayout(ts)
			if err != nil {
				return nil, fmt.Errorf("line %d: timestamp %q: %w", line, ts, err)
			}
			layoutKnown = true
			s.Layout = layout
		}
		t, err := parseTime(ts, layout)
		if err != nil {
			return nil, fmt.Errorf("line %d: timestamp %q: not in the file's layout %q", line, ts, layoutName(layout))
		}
		raw := strings.TrimSpace(rec[col])
		v, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("line %d: %s %q: not a finite number", line, s.Name, raw)
		}
		if n := len(s.Points); n > 0 && !t.After(s.Points[n-1].Time) {
			return nil, fmt.Errorf("line %d: timestamp %q: not after the previous row's", line, ts)
		}
		s.Points = append(s.Points, Point{Time: t, Value: v})
	}
	if len(s.Points) == 0 {
		return nil, ErrEmpty
	}
	return s, nil
}

func detectLayout(ts string) (string, error) {
	for _, l := range layouts {
		if _, err := time.Parse(l, ts); err == nil {
			return l, nil
		}
	}
	if _, err := strconv.ParseInt(ts, 10, 64); err == nil {
		return "", nil
	}
	return "", errors.New("not a date-time (e.g. 2014-07-01 00:30:00 or RFC 3339) or Unix seconds")
}

func parseTime(ts, layout string) (time.Time, error) {
	if layout == "" {
		n, err := strconv.ParseInt(ts, 10, 64)
		if err != nil {
			return time.Time{}, err
		}
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Parse(layout, ts)
}

func layoutName(l string) string {
	if l == "" {
		return "unix seconds"
	}
	return l
}

// Format writes t in the trace's own layout.
func (s *Series) Format(t time.Time) string {
	if s.Layout == "" {
		return strconv.FormatInt(t.Unix(), 10)
	}
	return t.Format(s.Layout)
}

// Values returns the values alone.
func (s *Series) Values() []float64 {
	out := make([]float64, len(s.Points))
	for i, p := range s.Points {
		out[i] = p.Value
	}
	return out
}

// Step returns the most common spacing between consecutive points (the
// trace's sampling interval, robust to a few gaps); 0 for a single point.
func (s *Series) Step() time.Duration {
	if len(s.Points) < 2 {
		return 0
	}
	counts := map[time.Duration]int{}
	best, bestN := time.Duration(0), 0
	for i := 1; i < len(s.Points); i++ {
		d := s.Points[i].Time.Sub(s.Points[i-1].Time)
		counts[d]++
		if n := counts[d]; n > bestN || (n == bestN && d < best) {
			best, bestN = d, n
		}
	}
	return best
}

package demand

import (
	"errors"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func exampleTraces(tb testing.TB) string {
	tb.Helper()
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "examples", "traces")
}

func TestRead(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		opts    Options
		want    []Point
		layout  string
		first   string // the first timestamp in the file's own text
		wantErr string // the whole message
	}{
		{
			name:   "nab",
			in:     "timestamp,value\n2014-07-01 00:00:00,10844\n2014-07-01 00:30:00,8127\n",
			want:   []Point{{time.Date(2014, 7, 1, 0, 0, 0, 0, time.UTC), 10844}, {time.Date(2014, 7, 1, 0, 30, 0, 0, time.UTC), 8127}},
			layout: "2006-01-02 15:04:05",
			first:  "2014-07-01 00:00:00",
		},
		{
			name:   "quoted prophet dates",
			in:     "\"ds\",\"y\"\n\"2007-12-10\",9.5\n\"2007-12-11\",8.5\n",
			want:   []Point{{time.Date(2007, 12, 10, 0, 0, 0, 0, time.UTC), 9.5}, {time.Date(2007, 12, 11, 0, 0, 0, 0, time.UTC), 8.5}},
			layout: "2006-01-02",
			first:  "2007-12-10",
		},
		{
			name:   "column by name and unix seconds",
			in:     "t,requests,tokens\n100,1,418\n101,0,0\n",
			opts:   Options{Column: "tokens"},
			want:   []Point{{time.Unix(100, 0).UTC(), 418}, {time.Unix(101, 0).UTC(), 0}},
			layout: "",
			first:  "100",
		},
		{name: "empty", in: "", wantErr: "trace has no data rows"},
		{name: "header only", in: "timestamp,value\n", wantErr: "trace has no data rows"},
		{name: "one column", in: "timestamp\n1\n", wantErr: "header: want at least 2 columns (timestamp,value), got 1"},
		{name: "bad value", in: "timestamp,value\n2014-07-01 00:00:00,abc\n", wantErr: `line 2: value "abc": not a finite number`},
		{name: "NaN value", in: "timestamp,value\n2014-07-01 00:00:00,NaN\n", wantErr: `line 2: value "NaN": not a finite number`},
		{name: "bad timestamp", in: "timestamp,value\nyesterday,1\n", wantErr: `line 2: timestamp "yesterday": not a date-time (e.g. 2014-07-01 00:30:00 or RFC 3339) or Unix seconds`},
		{name: "mixed layouts", in: "timestamp,value\n2014-07-01 00:00:00,1\n2014-07-02,2\n", wantErr: `line 3: timestamp "2014-07-02": not in the file's layout "2006-01-02 15:04:05"`},
		{name: "out of order", in: "timestamp,value\n2014-07-01 00:30:00,1\n2014-07-01 00:00:00,2\n", wantErr: `line 3: timestamp "2014-07-01 00:00:00": not after the previous row's`},
		{name: "missing column", in: "timestamp,value\n2014-07-01 00:30:00\n", wantErr: "line 2: want at least 2 columns, got 1"},
		{name: "unknown column", in: "timestamp,value\n1,1\n", opts: Options{Column: "x"}, wantErr: `header: value column "x" not found (columns: timestamp,value)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Read(strings.NewReader(tc.in), tc.opts)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("got %d points and no error, want %q", len(s.Points), tc.wantErr)
				}
				if diff := cmp.Diff(tc.wantErr, err.Error()); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Layout != tc.layout {
				t.Errorf("layout %q, want %q", s.Layout, tc.layout)
			}
			if diff := cmp.Diff(tc.want, s.Points); diff != "" {
				t.Errorf("points (-want +got):\n%s", diff)
			}
			if len(s.Points) == 0 {
				return
			}
			if got := s.Format(s.Points[0].Time); got != tc.first {
				t.Errorf("Format gave %q, want the file's own %q", got, tc.first)
			}
		})
	}
}

func TestSharedTraces(t *testing.T) {
	tests := []struct {
		file string
		opts Options
		rows int
		step time.Duration
	}{
		{"nab/nyc_taxi.csv", Options{}, 10320, 30 * time.Minute},
		{"nab/elb_request_count_8c0756.csv", Options{}, 4032, 5 * time.Minute},
		{"azure_llm/azure_llm_conv_requests_per_second.csv", Options{Column: "requests"}, 3503, time.Second},
		{"prophet_examples/example_air_passengers.csv", Options{}, 144, 0},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			s, err := ReadFile(filepath.Join(exampleTraces(t), tc.file), tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			if len(s.Points) != tc.rows {
				t.Errorf("rows %d, want %d", len(s.Points), tc.rows)
			}
			if tc.step != 0 && s.Step() != tc.step {
				t.Errorf("step %v, want %v", s.Step(), tc.step)
			}
		})
	}
}

func FuzzRead(f *testing.F) {
	f.Add("timestamp,value\n2014-07-01 00:00:00,10844\n2014-07-01 00:30:00,8127\n")
	f.Add("ds,y\n1949-01-01,112\n")
	f.Add("t,v\n1,2\n3,\"4\"\n")
	f.Add("t,v\n\"unterminated,1\n")
	f.Fuzz(func(t *testing.T, in string) {
		s, err := Read(strings.NewReader(in), Options{})
		if err != nil {
			if s != nil {
				t.Fatal("series and error both returned")
			}
			if errors.Is(err, ErrEmpty) {
				return
			}
			return
		}
		for i := 1; i < len(s.Points); i++ {
			if !s.Points[i].Time.After(s.Points[i-1].Time) {
				t.Fatal("timestamps not increasing")
			}
		}
	})
}

package beanstalkd

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// statsYAML is a stats-tube body as beanstalkd 1.12 writes it.
func statsYAML(ready, reserved, delayed, buried int) string {
	return fmt.Sprintf("---\nname: form-crawler-notifications\ncurrent-jobs-urgent: 0\ncurrent-jobs-ready: %d\ncurrent-jobs-reserved: %d\n"+
		"current-jobs-delayed: %d\ncurrent-jobs-buried: %d\ntotal-jobs: 24\ncurrent-using: 3\ncurrent-watching: 3\ncurrent-waiting: 3\n"+
		"cmd-delete: 18\ncmd-pause-tube: 0\npause: 0\npause-time-left: 0\n", ready, reserved, delayed, buried)
}

func okAnswer(body string) string { return fmt.Sprintf("OK %d\r\n%s\r\n", len(body), body) }

// TestTubeStatsKEDA: KEDA's TestGetTubeStats and TestGetTubeStatsNotFound:
// the answer read, the count and the activity KEDA asserts.
func TestTubeStatsKEDA(t *testing.T) {
	tests := []struct {
		name       string
		answer     string
		delayed    bool
		activation float64
		want       int64
		active     bool
	}{
		{"ready jobs, buried ones not counted", okAnswer(statsYAML(10, 0, 0, 6)), false, 0, 10, true},
		{"one ready, activation 2", okAnswer(statsYAML(1, 0, 0, 0)), false, 2, 1, false},
		{"delayed jobs not counted", okAnswer(statsYAML(0, 0, 10, 0)), false, 0, 0, false},
		{"delayed jobs counted", okAnswer(statsYAML(0, 0, 10, 0)), true, 0, 10, true},
		{"ready and reserved", okAnswer(statsYAML(3, 4, 5, 0)), false, 0, 7, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body, err := ReadAnswer(bufio.NewReader(strings.NewReader(tt.answer)))
			if err != nil {
				t.Fatal(err)
			}
			st, err := ParseStats(body)
			if err != nil {
				t.Fatal(err)
			}
			n := Jobs(st, tt.delayed)
			if n != tt.want || (float64(n) > tt.activation) != tt.active {
				t.Errorf("jobs %d active %v, want %d %v", n, float64(n) > tt.activation, tt.want, tt.active)
			}
		})
	}
	_, err := ReadAnswer(bufio.NewReader(strings.NewReader("NOT_FOUND\r\n")))
	if err != ErrNotFound {
		t.Errorf("NOT_FOUND: %v", err)
	}
}

func TestReadAnswer(t *testing.T) {
	for _, tt := range []struct {
		name, in string
		sentinel error
		msg      string
	}{
		{"bad format", "BAD_FORMAT\r\n", ErrAnswer, "the server answered BAD_FORMAT"},
		{"out of memory", "OUT_OF_MEMORY\r\n", scalers.ErrNoData, "the server answered OUT_OF_MEMORY"},
		{"a banner", "SSH-2.0-OpenSSH_9.2\r\n", ErrAnswer, `unexpected answer: "SSH-2.0-OpenSSH_9.2"`},
		{"no CR", "OK 2\nab\r\n", ErrAnswer, "not ended by CRLF"},
		{"bad length", "OK -1\r\n", ErrAnswer, `"OK -1"`},
		{"huge length", "OK 99999999\r\n", ErrAnswer, "a body of 99999999 bytes, more than 65536"},
		{"no CRLF after the body", "OK 2\r\nabcd", ErrAnswer, "not followed by CRLF"},
		{"endless line", strings.Repeat("x", 10000), ErrAnswer, "a line longer than 256 bytes"},
		{"cut short", "OK 10\r\nabc", io.ErrUnexpectedEOF, ""},
		{"nothing", "", io.EOF, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadAnswer(bufio.NewReader(strings.NewReader(tt.in)))
			scalertest.CheckErr(t, err, tt.sentinel, tt.msg)
		})
	}
}

func TestParseStats(t *testing.T) {
	got, err := ParseStats([]byte(statsYAML(1, 2, 3, 4)))
	if err != nil {
		t.Fatal(err)
	}
	want := TubeStats{Name: "form-crawler-notifications", Ready: 1, Reserved: 2, Delayed: 3, Buried: 4, Total: 24}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	for _, tt := range []struct{ name, in, msg string }{
		{"not yaml", "---\n<html>", `line 2 of the stats is not key: value: "<html>"`},
		{"negative", "---\ncurrent-jobs-ready: -1\n", `current-jobs-ready "-1" is not a count`},
		{"missing", "---\ncurrent-jobs-ready: 1\ncurrent-jobs-reserved: 0\n", "the stats have no current-jobs-delayed"},
		{"empty", "", "line 1 of the stats is not key: value"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseStats([]byte(tt.in))
			scalertest.CheckErr(t, err, scalers.ErrNoData, tt.msg)
		})
	}
	if n := Jobs(TubeStats{Ready: 1 << 62, Reserved: 1 << 62, Delayed: 1 << 62}, true); n != 1<<63-1 {
		t.Errorf("saturated sum %d", n)
	}
}

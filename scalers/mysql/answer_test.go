package mysql

import (
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func TestNumberAnswers(t *testing.T) {
	one := func(typ, v string) Answer {
		return Answer{Columns: 1, Column: "n", Type: typ, Rows: 1, Values: [][]byte{[]byte(v)}}
	}
	for _, tt := range []struct {
		a    Answer
		want float64
	}{
		{one("BIGINT", "42"), 42}, {one("DECIMAL", "7.50"), 7.5}, {one("DOUBLE", "-1e3"), -1000},
		{one("UNSIGNED BIGINT", "18446744073709551615"), 18446744073709551615}, {one("VARCHAR", " 12 "), 12},
	} {
		if got, err := Number(tt.a); err != nil || got != tt.want {
			t.Errorf("%s %q: %v, %v; want %v", tt.a.Type, tt.a.Values[0], got, err, tt.want)
		}
	}
	for _, tt := range []struct {
		name string
		a    Answer
		want string
	}{
		{"no row", Answer{Columns: 1}, "returned no row"},
		{"two rows", Answer{Columns: 1, Rows: 2, Values: [][]byte{[]byte("1"), []byte("2")}}, "more than one row"},
		{"two columns", Answer{Columns: 2, Rows: 1}, "returned 2 columns"},
		{"null", Answer{Columns: 1, Rows: 1, Values: [][]byte{nil}}, "returned NULL"},
		{"text", one("VARCHAR", "many"), `returned varchar "many", want a number`},
		{"date", one("DATETIME", "2026-12-06 10:00:00"), "type DATETIME"},
		{"huge", one("DECIMAL", "1e400"), "want a number"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Number(tt.a)
			scalertest.CheckErr(t, err, scalers.ErrNoData, tt.want)
		})
	}
}

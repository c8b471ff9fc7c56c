package postgresql

import (
	"errors"
	"math"
	"math/big"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func TestNumber(t *testing.T) {
	num := func(i int64, exp int32) pgtype.Numeric {
		return pgtype.Numeric{Int: big.NewInt(i), Exp: exp, Valid: true}
	}
	one := func(v any) Answer { return Answer{Columns: 1, Column: "n", Values: []any{v}} }
	tests := []struct {
		name string
		a    Answer
		want float64
	}{
		{"bigint", one(int64(42)), 42},
		{"integer", one(int32(-3)), -3},
		{"smallint", one(int16(7)), 7},
		{"oid", one(uint32(9)), 9},
		{"double", one(1.5), 1.5},
		{"real", one(float32(0.25)), 0.25},
		{"numeric", one(num(12345, -2)), 123.45},
		{"numeric exponent", one(num(3, 4)), 30000},
		{"numeric zero", one(pgtype.Numeric{Valid: true}), 0},
		{"numeric tiny", one(num(5, -1000)), 0},
		{"text", one(" 12 "), 12},
		{"bytes", one([]byte("2e3")), 2000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Number(tt.a)
			if err != nil || math.Abs(got-tt.want) > 1e-9 {
				t.Errorf("Number = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestNumberErrors(t *testing.T) {
	one := func(v any) Answer { return Answer{Columns: 1, Column: "n", Values: []any{v}} }
	tests := []struct {
		name string
		a    Answer
		want []string
	}{
		{"no row", Answer{Columns: 1, Column: "n"}, []string{"returned no row"}},
		{"two rows", Answer{Columns: 1, Column: "n", Values: []any{int64(1), int64(2)}}, []string{"more than one row"}},
		{"two columns", Answer{Columns: 2, Column: "n", Values: []any{int64(1)}}, []string{"returned 2 columns"}},
		{"no column", Answer{}, []string{"returned 0 columns"}},
		{"null", one(nil), []string{`column "n": returned NULL`, "COALESCE"}},
		{"numeric null", one(pgtype.Numeric{}), []string{"returned NULL"}},
		{"numeric NaN", one(pgtype.Numeric{NaN: true, Valid: true}), []string{"want a finite number"}},
		{"numeric infinity", one(pgtype.Numeric{InfinityModifier: pgtype.Infinity, Valid: true}), []string{"+Inf"}},
		{"numeric huge", one(pgtype.Numeric{Int: big.NewInt(1), Exp: 900, Valid: true}), []string{"+Inf"}},
		{"double NaN", one(math.NaN()), []string{"NaN"}},
		{"text", one("many"), []string{`returned text "many", want a number`}},
		{"text infinity", one("Infinity"), []string{"want a finite number"}},
		{"boolean", one(true), []string{"type bool, want a number"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Number(tt.a)
			scalertest.CheckErr(t, err, scalers.ErrNoData, tt.want...)
		})
	}
	if _, err := Number(Answer{Columns: 1}); !errors.Is(err, ErrNoRow) {
		t.Errorf("no row: %v", err)
	}
}

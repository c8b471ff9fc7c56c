package mysql

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Answer is what a query returned, as far as the scaler reads it: the
// number of columns, the first column's name and database type
// (DECIMAL, BIGINT, VARCHAR, ...) and its values in the first rows (at
// most two; nil is NULL), as the text protocol sends them.
type Answer struct {
	Columns int
	Column  string
	Type    string
	Values  [][]byte
	// Rows counts the rows read (at most two).
	Rows int
}

// Errors of an answer that is not one number; each wraps scalers.ErrNoData.
var (
	ErrNoRow       = fmt.Errorf("returned no row, want one row of one number: %w", scalers.ErrNoData)
	ErrSeveralRows = fmt.Errorf("returned more than one row, want one row of one number: %w", scalers.ErrNoData)
	ErrNull        = fmt.Errorf("returned NULL, want a number (COALESCE(..., 0) turns NULL into 0): %w", scalers.ErrNoData)
)

// numericTypes hold numbers; textTypes may (KEDA reads '12' as 12 too).
var (
	numericTypes = []string{"TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "DECIMAL", "FLOAT", "DOUBLE", "YEAR",
		"UNSIGNED TINYINT", "UNSIGNED SMALLINT", "UNSIGNED MEDIUMINT", "UNSIGNED INT", "UNSIGNED BIGINT"}
	textTypes = []string{"CHAR", "VARCHAR", "TEXT", "TINYTEXT", "MEDIUMTEXT", "LONGTEXT", "NULL", ""}
)

// Number returns the one number of a, or an error wrapping
// scalers.ErrNoData that says what is wrong with the answer.
func Number(a Answer) (float64, error) {
	switch {
	case a.Columns != 1:
		return 0, fmt.Errorf("returned %d columns, want one row of one number: %w", a.Columns, scalers.ErrNoData)
	case a.Rows == 0:
		return 0, ErrNoRow
	case a.Rows > 1:
		return 0, ErrSeveralRows
	case len(a.Values) == 0 || a.Values[0] == nil:
		return 0, ErrNull
	}
	col := scalers.Quote(a.Column)
	typ := strings.ToUpper(a.Type)
	if !contains(numericTypes, typ) && !contains(textTypes, typ) {
		return 0, fmt.Errorf("column %s: returned a value of type %s, want a number: %w", col, typ, scalers.ErrNoData)
	}
	s := strings.TrimSpace(string(a.Values[0]))
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("column %s: returned %s %s, want a number: %w", col, strings.ToLower(typ), scalers.Quote(s), scalers.ErrNoData)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, fmt.Errorf("column %s: returned %v, want a finite number: %w", col, f, scalers.ErrNoData)
	}
	return f, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

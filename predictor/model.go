package predictor

import (
	"errors"
	"fmt"
)

// Model is a forecasting method. Fit estimates it on a history and returns
// the fitted state; the Model itself holds only configuration and may be
// reused.
type Model interface {
	// Name identifies the method (for example "holt-winters-additive").
	Name() string
	// MinHistory is the number of points Fit needs.
	MinHistory() int
	// Fit estimates the model on history (oldest first, one point per step,
	// no gaps). It must not retain history or read beyond len(history): the
	// backtest checks that (see ErrLookAhead). It returns an error wrapping
	// ErrTooShort when history is shorter than MinHistory, and
	// ErrNotApplicable when the data do not suit the method (for example
	// multiplicative seasonality on values that are not all positive).
	Fit(history []float64) (State, error)
}

// State is a fitted model: it takes new points one at a time, without
// refitting, and forecasts from the last point it has seen.
type State interface {
	// Update adds the next observation.
	Update(y float64)
	// Forecast writes the point forecasts for 1, 2, ... len(out) steps
	// ahead into out.
	Forecast(out []float64)
}

// Sentinel errors callers branch on.
var (
	// ErrTooShort marks a series too short for what was asked of it.
	ErrTooShort = errors.New("series too short")
	// ErrNotApplicable marks a model that cannot describe the data.
	ErrNotApplicable = errors.New("model not applicable")
	// ErrLookAhead marks a model whose forecasts depended on data after the
	// forecast origin.
	ErrLookAhead = errors.New("look-ahead: forecast used data after its origin")
)

func tooShort(name string, have, need int) error {
	return fmt.Errorf("%s: %w: have %d points, need at least %d", name, ErrTooShort, have, need)
}

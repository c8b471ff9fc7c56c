package predictor

import (
	"testing"

	"go.uber.org/goleak"
)

// Fitting runs gonum's optimizer, which works in goroutines of its own:
// none may outlive a fit.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

package metricsapi

import "strings"

// DefaultTarget sets targetValue to 1 when it is blank: the registration's
// scalers.WithDefaultTarget, for a metrics-api source of a composite
// scaler whose own target is never used.
func DefaultTarget(md map[string]string) {
	if strings.TrimSpace(md["targetValue"]) == "" {
		md["targetValue"] = "1"
	}
}

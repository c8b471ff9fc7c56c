package prometheus

import "strings"

// DefaultTarget sets threshold to 1 when it is blank: the registration's
// scalers.WithDefaultTarget, for a prometheus source of a composite scaler
// whose own target is never used.
func DefaultTarget(md map[string]string) {
	if strings.TrimSpace(md["threshold"]) == "" {
		md["threshold"] = "1"
	}
}

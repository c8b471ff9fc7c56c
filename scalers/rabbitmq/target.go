package rabbitmq

import "strings"

// DefaultTarget sets value to 1 when mode is given and value is blank:
// the registration's scalers.WithDefaultTarget, for a rabbitmq source of a
// composite scaler whose own target is never used. Without a mode the
// scaler has its own defaults (or the deprecated queueLength), so nothing
// is set.
func DefaultTarget(md map[string]string) {
	if strings.TrimSpace(md["mode"]) != "" && strings.TrimSpace(md["value"]) == "" {
		md["value"] = "1"
	}
}

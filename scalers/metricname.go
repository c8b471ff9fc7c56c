package scalers

import "strings"

// MetricName joins parts into a metric name that is valid as a Kubernetes
// external metric name and stable for the same parts: lowercase letters,
// digits and single '-', at most 200 characters (KEDA prefixes "sN-" to it).
// Callers pass the scaler type first and the identifying metadata after
// (e.g. MetricName("redis", listName)); never a secret.
func MetricName(parts ...string) string {
	var b strings.Builder
	for _, p := range parts {
		if p == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('-')
		}
		for _, r := range strings.ToLower(p) {
			switch {
			case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
				b.WriteRune(r)
			default:
				// Runs of other characters become one '-'.
				if str := b.String(); len(str) > 0 && str[len(str)-1] != '-' {
					b.WriteByte('-')
				}
			}
		}
	}
	s := b.String()
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.Trim(s, "-")
}

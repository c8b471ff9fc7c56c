package auth

import (
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// MakeToken builds a token of given parts (tests only).
func MakeToken(tenant store.TenantID, id, secret string) string {
	body := Prefix + string(tenant) + "_" + id + "_" + secret
	return body + "_" + checksum(body)
}

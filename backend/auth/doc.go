// Package auth owns the backend's API tokens and roles.
//
// A token is hpa_<tenant>_<id>_<secret>_<crc32>: opaque to its holder,
// recognisable by its prefix (secret scanners), with the tenant and id the
// store needs to find it without a lookup across tenants, and a CRC-32 of
// the rest so that a mistyped token is refused before any lookup. The
// store keeps only the SHA-256 of the secret, compared in constant time.
//
// Authorize is the one permission check: a principal (the token's tenant,
// role, scopes, system admin) may do an action on a resource of a tenant.
// A resource of another tenant is ErrNotFound, never ErrForbidden, so
// that a caller cannot learn that it exists.
//
// Secrets never appear in errors or logs: errors name the token's id at
// most.
package auth

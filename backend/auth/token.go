package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// Prefix starts every token.
const Prefix = "hpa_"

// Errors callers branch on.
var (
	// ErrMalformed: not a token of ours (wrong shape or checksum). The
	// API answers 401 without a lookup.
	ErrMalformed = errors.New("malformed token")
	// ErrUnauthenticated: no such token, a wrong secret, expired or
	// revoked (401; the message does not tell which to the client).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrForbidden: the principal may not do the action (403).
	ErrForbidden = errors.New("forbidden")
	// ErrNotFound: the resource is another tenant's (404, as if it did
	// not exist).
	ErrNotFound = errors.New("not found")
)

// lower-case base32 without padding: no '_', so the parts split cleanly.
var enc = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

const (
	idBytes     = 10 // 16 characters
	secretBytes = 20 // 32 characters, 160 bits
	maxTokenLen = 4 + 63 + 1 + 64 + 1 + 64 + 1 + 8
)

// Parsed is a token taken apart. Secret is unexported so that it cannot
// be printed by accident (%v of a Parsed shows no secret).
type Parsed struct {
	Tenant store.TenantID
	ID     string
	secret string
}

// String names the token without its secret.
func (p Parsed) String() string { return fmt.Sprintf("token %s/%s", p.Tenant, p.ID) }

// Hash is the SHA-256 of the token's secret, as the store keeps it.
func (p Parsed) Hash() [32]byte { return sha256.Sum256([]byte(p.secret)) }

// Matches reports in constant time whether the token's secret has hash h.
func (p Parsed) Matches(h [32]byte) bool {
	got := p.Hash()
	return subtle.ConstantTimeCompare(got[:], h[:]) == 1
}

// Generated is a new token: the string to hand out once, and what the
// store keeps.
type Generated struct {
	Token      string
	ID         string
	SecretHash [32]byte
}

// Generate makes a new token of tenant with a random id and secret.
func Generate(tenant store.TenantID) (Generated, error) {
	if err := tenant.Validate(); err != nil {
		return Generated{}, fmt.Errorf("generate token: %w", err)
	}
	b := make([]byte, idBytes+secretBytes)
	if _, err := rand.Read(b); err != nil {
		return Generated{}, fmt.Errorf("generate token: %w", err)
	}
	id, secret := enc.EncodeToString(b[:idBytes]), enc.EncodeToString(b[idBytes:])
	body := Prefix + string(tenant) + "_" + id + "_" + secret
	return Generated{
		Token:      body + "_" + checksum(body),
		ID:         id,
		SecretHash: sha256.Sum256([]byte(secret)),
	}, nil
}

func checksum(body string) string { return fmt.Sprintf("%08x", crc32.ChecksumIEEE([]byte(body))) }

// Parse takes a token apart and checks its checksum. Its errors never
// contain the token.
func Parse(s string) (Parsed, error) {
	if len(s) > maxTokenLen {
		return Parsed{}, fmt.Errorf("%w: too long", ErrMalformed)
	}
	if !strings.HasPrefix(s, Prefix) {
		return Parsed{}, fmt.Errorf("%w: want prefix %q", ErrMalformed, Prefix)
	}
	parts := strings.Split(s[len(Prefix):], "_")
	if len(parts) != 4 {
		return Parsed{}, fmt.Errorf("%w: want %stenant_id_secret_checksum", ErrMalformed, Prefix)
	}
	tenant, id, secret, sum := parts[0], parts[1], parts[2], parts[3]
	if checksum(s[:len(s)-len(sum)-1]) != sum {
		return Parsed{}, fmt.Errorf("%w: checksum mismatch (mistyped?)", ErrMalformed)
	}
	if err := store.TenantID(tenant).Validate(); err != nil {
		return Parsed{}, fmt.Errorf("%w: bad tenant", ErrMalformed)
	}
	if !isB32(id) || len(id) == 0 || len(id) > 64 {
		return Parsed{}, fmt.Errorf("%w: bad id", ErrMalformed)
	}
	if !isB32(secret) || len(secret) < 16 {
		return Parsed{}, fmt.Errorf("%w: bad secret", ErrMalformed)
	}
	return Parsed{Tenant: store.TenantID(tenant), ID: id, secret: secret}, nil
}

func isB32(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return false
		}
	}
	return true
}

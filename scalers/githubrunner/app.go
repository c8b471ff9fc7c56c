package githubrunner

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// parseKey reads a GitHub App's private key: PEM, PKCS #1 ("RSA PRIVATE
// KEY", what GitHub hands out) or PKCS #8. Errors never show the key.
func parseKey(pemKey string) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode([]byte(pemKey))
	if block == nil {
		return nil, errors.New("no PEM key found")
	}
	if k, err := x509.ParsePKCS1PrivateKey(block.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, errors.New("not an RSA private key (PKCS #1 or PKCS #8)")
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("not an RSA private key (GitHub Apps sign with RS256)")
	}
	return rk, nil
}

// AppJWT is the JSON Web Token a GitHub App authenticates with: RS256,
// issued by the App's id, valid from a minute before now (GitHub's
// advice for clock drift) for 9 minutes (GitHub allows 10).
func AppJWT(key *rsa.PrivateKey, appID int64, now time.Time) (string, error) {
	enc := base64.RawURLEncoding
	header := enc.EncodeToString([]byte(`{"alg":"RS256","typ":"JWT"}`))
	claims, _ := json.Marshal(map[string]any{
		"iat": now.Add(-time.Minute).Unix(),
		"exp": now.Add(9 * time.Minute).Unix(),
		"iss": strconv.FormatInt(appID, 10),
	})
	signing := header + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("sign the App's JWT: %w", err)
	}
	return signing + "." + enc.EncodeToString(sig), nil
}

// installationTokens gets and keeps a GitHub App installation's token.
type installationTokens struct {
	md     *Metadata
	client *http.Client
	clock  clock.PassiveClock

	mu      sync.Mutex
	token   string
	expires time.Time
	// seen are the tokens handed out, for the Redactor (the current one
	// and the one before); jwt is the last JWT sent (a credential for its
	// nine minutes).
	seen [2]string
	jwt  string
}

// renewBefore is how long before its expiry a token is replaced.
const renewBefore = time.Minute

// get returns a valid installation token, asking for a new one when there
// is none or it is due.
func (t *installationTokens) get(ctx context.Context) (string, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	now := t.clock.Now()
	if t.token != "" && now.Before(t.expires.Add(-renewBefore)) {
		return t.token, nil
	}
	tok, exp, err := t.fetch(ctx, now)
	if err != nil {
		return "", err
	}
	t.token, t.expires = tok, exp
	t.seen = [2]string{tok, t.seen[0]}
	return tok, nil
}

// forget drops the token (the API refused it).
func (t *installationTokens) forget(tok string) {
	t.mu.Lock()
	if t.token == tok {
		t.token = ""
	}
	t.mu.Unlock()
}

// secrets are the tokens to hide.
func (t *installationTokens) secrets() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return []string{t.seen[0], t.seen[1], t.jwt}
}

func (t *installationTokens) fetch(ctx context.Context, now time.Time) (string, time.Time, error) {
	pemKey, err := scalers.ReadSecret("appKey", t.md.AppKey)
	if err != nil {
		return "", time.Time{}, err
	}
	key, err := parseKey(pemKey)
	if err != nil {
		return "", time.Time{}, t.md.AppKey.FieldError("appKey", err.Error())
	}
	jwt, err := AppJWT(key, t.md.ApplicationID, now)
	if err != nil {
		return "", time.Time{}, err
	}
	t.jwt = jwt
	u := fmt.Sprintf("%s/app/installations/%d/access_tokens", t.md.APIURL, t.md.InstallationID)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, nil)
	if err != nil {
		return "", time.Time{}, errors.New("installation token: cannot build the request")
	}
	req.Header.Set("Accept", "application/vnd.github+json")
	req.Header.Set("X-GitHub-Api-Version", apiVersion)
	req.Header.Set("Authorization", "Bearer "+jwt)
	resp, err := t.client.Do(req)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("installation token: %w", transportError(err))
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", time.Time{}, fmt.Errorf("installation token: %w", transportError(err))
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return "", time.Time{}, fmt.Errorf("installation token: POST /app/installations/%d/access_tokens: status %d%s",
			t.md.InstallationID, resp.StatusCode, apiMessage(body))
	}
	var answer struct {
		Token     string    `json:"token"`
		ExpiresAt time.Time `json:"expires_at"`
	}
	if err := json.Unmarshal(body, &answer); err != nil || answer.Token == "" {
		return "", time.Time{}, errors.New("installation token: the answer has no token")
	}
	if answer.ExpiresAt.IsZero() {
		// GitHub's tokens last an hour.
		answer.ExpiresAt = now.Add(time.Hour)
	}
	return answer.Token, answer.ExpiresAt, nil
}

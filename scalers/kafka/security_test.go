package kafka

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// TestSASL runs against a kfake cluster that requires SASL, with one user
// per mechanism.
func TestSASL(t *testing.T) {
	k := testenv.StartKafka(t, testenv.KafkaConfig{
		Opts: []kfake.Opt{
			kfake.NumBrokers(2), kfake.SeedTopics(2, "orders"), kfake.EnableSASL(),
			kfake.Superuser("PLAIN", "plainuser", "plain-pass"),
			kfake.Superuser("SCRAM-SHA-256", "scram256user", "scram-256-pass"),
			kfake.Superuser("SCRAM-SHA-512", "scram512user", "scram-512-pass"),
		},
		ClientOpts: []kgo.Opt{kgo.SASL(scram.Auth{User: "scram256user", Pass: "scram-256-pass"}.AsSha256Mechanism())},
	})
	k.ProduceMany(t, "orders", []int32{0, 1}, 3)
	k.Commit(t, "g", map[string]map[int32]int64{"orders": {0: 1, 1: 1}})

	tests := []struct {
		name    string
		md      []string
		wantErr bool
	}{
		{name: "plaintext", md: []string{"sasl", "plaintext", "username", "plainuser", "password", "plain-pass"}},
		{name: "scram_sha256", md: []string{"sasl", "scram_sha256", "username", "scram256user", "password", "scram-256-pass"}},
		{name: "scram_sha512", md: []string{"sasl", "scram_sha512", "username", "scram512user", "password", "scram-512-pass"}},
		{name: "credentials resolved by KEDA from env", md: []string{"sasl", "scram_sha512", "usernameFromEnv", "scram512user", "passwordFromEnv", "scram-512-pass"}},
		{name: "wrong password", md: []string{"sasl", "scram_sha512", "username", "scram512user", "password", "not-the-pass"}, wantErr: true},
		{name: "wrong mechanism for the user", md: []string{"sasl", "scram_sha256", "username", "scram512user", "password", "scram-512-pass"}, wantErr: true},
		{name: "no sasl", wantErr: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestScaler(t, trigger(k, tc.md...))
			if !tc.wantErr {
				if diff := cmp.Diff(result{4, true}, resultOf(t, s)); diff != "" {
					t.Errorf("round (-want +got):\n%s", diff)
				}
				return
			}
			// kfake drops the connection on a failed login (Kafka answers
			// with an error code, see TestPlainAuthenticationFailed), which
			// the client retries: only the deadline ends it, so it is short.
			// Any deadline gives the same outcome, loaded or not.
			ctx, cancel := contextWithTimeout(t, time.Second)
			defer cancel()
			_, err := s.Metrics(ctx)
			if !errors.Is(err, scalers.ErrUnavailable) {
				t.Fatalf("got error %v, want ErrUnavailable", err)
			}
			t.Logf("error: %v", err)
			for i := 0; i+1 < len(tc.md); i += 2 {
				if strings.HasPrefix(tc.md[i], "password") && strings.Contains(err.Error(), tc.md[i+1]) {
					t.Errorf("got error %q, want the password kept out", err)
				}
			}
		})
	}
}

// TestSASLPasswordFileRotation starts with a wrong password in passwordFile
// and fixes the file: the next connection uses the new content.
func TestSASLPasswordFileRotation(t *testing.T) {
	k := testenv.StartKafka(t, testenv.KafkaConfig{
		Opts: []kfake.Opt{kfake.NumBrokers(1), kfake.SeedTopics(1, "orders"), kfake.EnableSASL(),
			kfake.Superuser("SCRAM-SHA-512", "alice", "right-password")},
		ClientOpts: []kgo.Opt{kgo.SASL(scram.Auth{User: "alice", Pass: "right-password"}.AsSha512Mechanism())},
	})
	k.Produce(t, "orders", 0, 7)
	k.Commit(t, "g", map[string]map[int32]int64{"orders": {0: 2}})

	path := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(path, []byte("wrong\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := newTestScaler(t, trigger(k, "sasl", "scram_sha512", "username", "alice", "passwordFile", path))
	// Retried until the deadline, as above.
	ctx, cancel := contextWithTimeout(t, time.Second)
	defer cancel()
	if _, err := s.Metrics(ctx); !errors.Is(err, scalers.ErrUnavailable) {
		t.Fatalf("with the wrong password: got %v, want ErrUnavailable", err)
	}
	if err := os.WriteFile(path, []byte("right-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, _ := lagOf(t, s); got != 5 {
		t.Errorf("after rotation: got %v, want 5", got)
	}
}

// pki is a throwaway CA with a server certificate for 127.0.0.1 and a client
// certificate.
type pki struct {
	*testenv.PKI
	server, client        testenv.Cert
	clientKeyEncryptedPEM []byte // client.KeyPEM encrypted with keyPassword
}

const keyPassword = "key-pass-123"

func newPKI(t testing.TB) pki {
	t.Helper()
	p := pki{PKI: testenv.NewPKI(t)}
	p.server, p.client = p.ServerCert(t), p.ClientCert(t, "leaf")
	block, _ := pem.Decode(p.client.KeyPEM)
	//lint:ignore SA1019 keyPassword is KEDA's legacy encrypted PEM key; we must produce one to test it
	block, err := x509.EncryptPEMBlock(rand.Reader, block.Type, block.Bytes, []byte(keyPassword), x509.PEMCipherAES256) //nolint:staticcheck
	if err != nil {
		t.Fatal(err)
	}
	p.clientKeyEncryptedPEM = pem.EncodeToMemory(block)
	return p
}

// TestTLS runs against a kfake cluster listening with TLS that requires a
// client certificate signed by the test CA (mutual TLS).
func TestTLS(t *testing.T) {
	p := newPKI(t)
	k := testenv.StartKafka(t, testenv.KafkaConfig{
		Opts: []kfake.Opt{kfake.NumBrokers(2), kfake.SeedTopics(2, "orders"), kfake.TLS(&tls.Config{
			Certificates: []tls.Certificate{p.server.Pair}, ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs: p.Pool, MinVersion: tls.VersionTLS12,
		})},
		ClientOpts: []kgo.Opt{kgo.DialTLSConfig(p.ClientConfig(p.client))},
	})
	k.ProduceMany(t, "orders", []int32{0, 1}, 5)
	k.Commit(t, "g", map[string]map[int32]int64{"orders": {0: 2, 1: 2}})

	dir := t.TempDir()
	caFile := p.WriteCA(t, dir)
	certFile, keyFile := p.client.WriteFiles(t, dir, "tls")

	tests := []struct {
		name    string
		md      []string
		wantErr string // substring of an ErrUnavailable error; "" for success
	}{
		{name: "ca, cert and key inline", md: []string{"tls", "enable", "ca", string(p.CAPEM), "cert", string(p.client.CertPEM), "key", string(p.client.KeyPEM)}},
		{name: "ca, cert and key from files", md: []string{"tls", "enable", "caFile", caFile, "certFile", certFile, "keyFile", keyFile}},
		{name: "encrypted key with keyPassword", md: []string{"tls", "enable", "ca", string(p.CAPEM), "cert", string(p.client.CertPEM),
			"key", string(p.clientKeyEncryptedPEM), "keyPassword", keyPassword}},
		{name: "unsafeSsl skips server verification", md: []string{"tls", "enable", "unsafeSsl", "true", "cert", string(p.client.CertPEM), "key", string(p.client.KeyPEM)}},
		{name: "unknown CA", md: []string{"tls", "enable", "cert", string(p.client.CertPEM), "key", string(p.client.KeyPEM)}, wantErr: "unknown authority"},
		{name: "no client certificate", md: []string{"tls", "enable", "ca", string(p.CAPEM)}, wantErr: "certificate required"},
		{name: "tls disabled", md: []string{"tls", "disable"}, wantErr: "TLS missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newTestScaler(t, trigger(k, tc.md...))
			if tc.wantErr == "" {
				if diff := cmp.Diff(result{6, true}, resultOf(t, s)); diff != "" {
					t.Errorf("round (-want +got):\n%s", diff)
				}
				return
			}
			// These failures are not retried: the round returns with the
			// handshake's error long before this deadline, which only
			// keeps a loaded machine from turning it into a timeout.
			ctx, cancel := contextWithTimeout(t, 30*time.Second)
			defer cancel()
			_, err := s.Metrics(ctx)
			if !errors.Is(err, scalers.ErrUnavailable) || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got error %v, want ErrUnavailable mentioning %q", err, tc.wantErr)
			}
			t.Logf("error: %v", err)
		})
	}
}

// TestTLSWrongKeyPassword is a configuration error found when the scaler is
// built, and the password is not in it.
func TestTLSWrongKeyPassword(t *testing.T) {
	p := newPKI(t)
	md := base("tls", "enable", "cert", string(p.client.CertPEM), "key", string(p.clientKeyEncryptedPEM), "keyPassword", "wrong-password-x")
	_, err := New(t.Context(), scalers.Config{Type: Type, Metadata: md})
	checkWholeError(t, err, scalers.ErrInvalidConfig, "invalid metadata: keyPassword (secret, not shown): cannot decrypt key")
}

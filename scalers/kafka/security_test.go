package kafka

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
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

	addrs := []string{k.Addrs()[0], k.Addrs()[len(k.Addrs())-1]} // the seeds of trigger
	closedDuringSASL := []string{" closed the connection during SASL authentication"}
	tests := []struct {
		name string
		md   []string
		// The error is one of prefixes, then what texts say of each
		// broker the round asked, must among them; no prefix for
		// success.
		prefixes, texts []string
		must            string
	}{
		{name: "plaintext", md: []string{"sasl", "plaintext", "username", "plainuser", "password", "plain-pass"}},
		{name: "scram_sha256", md: []string{"sasl", "scram_sha256", "username", "scram256user", "password", "scram-256-pass"}},
		{name: "scram_sha512", md: []string{"sasl", "scram_sha512", "username", "scram512user", "password", "scram-512-pass"}},
		{name: "credentials resolved by KEDA from env", md: []string{"sasl", "scram_sha512", "usernameFromEnv", "scram512user", "passwordFromEnv", "scram-512-pass"}},
		// kfake drops the connection on a failed login (Kafka answers
		// with an error code, see TestPlainAuthenticationFailed): the
		// client knows it was authenticating.
		{name: "wrong password", md: []string{"sasl", "scram_sha512", "username", "scram512user", "password", "not-the-pass"},
			prefixes: []string{`kafka: SASL login as "scram512user" failed: `}, texts: closedDuringSASL, must: closedDuringSASL[0]},
		{name: "wrong mechanism for the user", md: []string{"sasl", "scram_sha256", "username", "scram512user", "password", "scram-512-pass"},
			prefixes: []string{`kafka: SASL login as "scram512user" failed: `}, texts: closedDuringSASL, must: closedDuringSASL[0]},
		{name: "no sasl", prefixes: roundPrefixes,
			texts: []string{
				": closed the connection without answering Metadata (does the listener require SASL? then set sasl)",
				": closed the connection without answering FindCoordinator (does the listener require SASL? then set sasl)",
			}, must: " (does the listener require SASL? then set sasl)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newBoundedScaler(t, trigger(k, tc.md...))
			if tc.prefixes == nil {
				if diff := cmp.Diff(result{4, true}, resultOf(t, s)); diff != "" {
					t.Errorf("round (-want +got):\n%s", diff)
				}
				return
			}
			took, err := callBounded(t, s)
			t.Logf("%s (bound %s): %v", took.Round(time.Millisecond), s.bound, err)
			// The client tries the other seed, and again, within the
			// bound: the call may end at the bound, a connection still
			// being opened. What failed is said either way.
			checkReports(t, err, tc.prefixes, addrs, append(tc.texts, stillOpening...))
			if !strings.Contains(err.Error(), tc.must) {
				t.Errorf("error %q does not say %q", err, tc.must)
			}
			for i := 0; i+1 < len(tc.md); i += 2 {
				if strings.HasPrefix(tc.md[i], "password") && strings.Contains(err.Error(), tc.md[i+1]) {
					t.Errorf("got error %q, want the password kept out", err)
				}
			}
		})
	}
}

// stillOpening are the reports of a broker whose connection was still being
// opened when the call's bound (testBound) ended it.
var stillOpening = []string{
	": no TCP connection within 1s",
	": TLS handshake failed: no answer within 1s (a listener without TLS never answers one: is it plaintext? then set tls: disable)",
	": no answer within 1s",
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
	s := newBoundedScaler(t, trigger(k, "sasl", "scram_sha512", "username", "alice", "passwordFile", path))
	_, err := callBounded(t, s)
	checkWholeError(t, err, scalers.ErrUnavailable,
		`kafka: SASL login as "alice" failed: broker `+k.Addrs()[0]+" closed the connection during SASL authentication")
	if err := os.WriteFile(path, []byte("right-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// The broker is in backoff after the failed login: a call within it
	// fails at once with the same error; the first after it logs in.
	scalertest.Eventually(t, time.Minute, "a round with the rotated password", func() error {
		_, err := s.Metrics(context.Background())
		return err
	})
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

	addrs := k.Addrs() // trigger's seeds: both brokers
	tests := []struct {
		name string
		md   []string
		text string // what the error says of each broker asked; "" for success
	}{
		{name: "ca, cert and key inline", md: []string{"tls", "enable", "ca", string(p.CAPEM), "cert", string(p.client.CertPEM), "key", string(p.client.KeyPEM)}},
		{name: "ca, cert and key from files", md: []string{"tls", "enable", "caFile", caFile, "certFile", certFile, "keyFile", keyFile}},
		{name: "encrypted key with keyPassword", md: []string{"tls", "enable", "ca", string(p.CAPEM), "cert", string(p.client.CertPEM),
			"key", string(p.clientKeyEncryptedPEM), "keyPassword", keyPassword}},
		{name: "unsafeSsl skips server verification", md: []string{"tls", "enable", "unsafeSsl", "true", "cert", string(p.client.CertPEM), "key", string(p.client.KeyPEM)}},
		{name: "unknown CA", md: []string{"tls", "enable", "cert", string(p.client.CertPEM), "key", string(p.client.KeyPEM)},
			text: ": TLS handshake failed: tls: failed to verify certificate: x509: certificate signed by unknown authority"},
		// TLS 1.3 refuses a missing client certificate after the
		// client's side of the handshake: at the first read.
		{name: "no client certificate", md: []string{"tls", "enable", "ca", string(p.CAPEM)},
			text: ": TLS handshake failed: remote error: tls: certificate required"},
		{name: "tls disabled", md: []string{"tls", "disable"},
			text: ": closed the connection without answering its first request (does the listener require TLS? then set tls: enable)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newBoundedScaler(t, trigger(k, tc.md...))
			if tc.text == "" {
				if diff := cmp.Diff(result{6, true}, resultOf(t, s)); diff != "" {
					t.Errorf("round (-want +got):\n%s", diff)
				}
				return
			}
			took, err := callBounded(t, s)
			t.Logf("%s (bound %s): %v", took.Round(time.Millisecond), s.bound, err)
			// As in TestSASL, a retry may still be opening a connection
			// when the bound ends the call.
			checkReports(t, err, roundPrefixes, addrs, append([]string{tc.text}, stillOpening...))
			if !strings.Contains(err.Error(), tc.text) {
				t.Errorf("error %q does not say %q", err, tc.text)
			}
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

package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// PKI is a certificate authority made for one test. It issues server and
// client certificates with ECDSA P-256 keys, valid from an hour before it
// was made for a day.
type PKI struct {
	// CAPEM is the CA certificate, PEM encoded.
	CAPEM []byte
	// Pool holds the CA certificate (for RootCAs or ClientCAs).
	Pool *x509.CertPool

	ca     *x509.Certificate
	key    *ecdsa.PrivateKey
	from   time.Time
	serial atomic.Int64
}

// Cert is a certificate a PKI issued, with its private key.
type Cert struct {
	// CertPEM is the certificate and KeyPEM its unencrypted private key
	// (PKCS #8, "PRIVATE KEY"), both PEM encoded.
	CertPEM, KeyPEM []byte
	// Pair is the same pair for tls.Config.Certificates.
	Pair tls.Certificate
}

// NewPKI makes a CA for one test.
func NewPKI(tb testing.TB) *PKI {
	tb.Helper()
	key := newCertKey(tb)
	p := &PKI{key: key, from: time.Now().Add(-time.Hour)}
	p.serial.Store(1)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "testenv CA"},
		NotBefore:             p.from,
		NotAfter:              p.from.Add(25 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatalf("testenv: create CA certificate: %v", err)
	}
	if p.ca, err = x509.ParseCertificate(der); err != nil {
		tb.Fatalf("testenv: parse CA certificate: %v", err)
	}
	p.CAPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	p.Pool = x509.NewCertPool()
	p.Pool.AddCert(p.ca)
	return p
}

// ServerCert issues a certificate for server authentication, for the
// names 127.0.0.1 and localhost.
func (p *PKI) ServerCert(tb testing.TB) Cert {
	tb.Helper()
	return p.issue(tb, &x509.Certificate{
		Subject:     pkix.Name{CommonName: "127.0.0.1"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:    []string{"localhost"},
	})
}

// ClientCert issues a certificate for client authentication whose subject
// is commonName (servers that map a certificate to a user, such as
// RabbitMQ's EXTERNAL mechanism, read it from there).
func (p *PKI) ClientCert(tb testing.TB, commonName string) Cert {
	tb.Helper()
	return p.issue(tb, &x509.Certificate{
		Subject:     pkix.Name{CommonName: commonName},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
}

func (p *PKI) issue(tb testing.TB, tmpl *x509.Certificate) Cert {
	tb.Helper()
	key := newCertKey(tb)
	tmpl.SerialNumber = big.NewInt(p.serial.Add(1))
	tmpl.NotBefore, tmpl.NotAfter = p.from, p.from.Add(25*time.Hour)
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.key)
	if err != nil {
		tb.Fatalf("testenv: create certificate: %v", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatalf("testenv: marshal key: %v", err)
	}
	c := Cert{
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}),
	}
	if c.Pair, err = tls.X509KeyPair(c.CertPEM, c.KeyPEM); err != nil {
		tb.Fatalf("testenv: key pair: %v", err)
	}
	return c
}

func newCertKey(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("testenv: generate key: %v", err)
	}
	return key
}

// MTLSServerConfig returns a server configuration that presents a new
// server certificate and requires a client certificate issued by p.
func (p *PKI) MTLSServerConfig(tb testing.TB) *tls.Config {
	tb.Helper()
	return &tls.Config{
		Certificates: []tls.Certificate{p.ServerCert(tb).Pair},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    p.Pool,
		MinVersion:   tls.VersionTLS12,
	}
}

// ClientConfig returns a client configuration that trusts p and presents
// c.
func (p *PKI) ClientConfig(c Cert) *tls.Config {
	return &tls.Config{RootCAs: p.Pool, Certificates: []tls.Certificate{c.Pair}, MinVersion: tls.VersionTLS12}
}

// StartMTLSServer starts an HTTPS server for h on 127.0.0.1 that requires a
// client certificate issued by p, and closes it when the test ends. Failed
// handshakes, which tests cause on purpose, are not logged.
func (p *PKI) StartMTLSServer(tb testing.TB, h http.Handler) *httptest.Server {
	tb.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.TLS = p.MTLSServerConfig(tb)
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	return srv
}

// WriteCA writes the CA certificate to dir/ca.crt and returns its path.
func (p *PKI) WriteCA(tb testing.TB, dir string) string {
	tb.Helper()
	return writeCertFile(tb, filepath.Join(dir, "ca.crt"), p.CAPEM)
}

// WriteFiles writes the certificate to dir/<name>.crt and the key to
// dir/<name>.key, and returns their paths.
func (c Cert) WriteFiles(tb testing.TB, dir, name string) (certFile, keyFile string) {
	tb.Helper()
	return writeCertFile(tb, filepath.Join(dir, name+".crt"), c.CertPEM),
		writeCertFile(tb, filepath.Join(dir, name+".key"), c.KeyPEM)
}

func writeCertFile(tb testing.TB, path string, content []byte) string {
	tb.Helper()
	if err := os.WriteFile(path, content, 0o600); err != nil {
		tb.Fatalf("testenv: write %s: %v", path, err)
	}
	return path
}

package externalscaler

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// testCA is a certificate authority generated for one test.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

// serialNumber is a random certificate serial number.
func serialNumber(tb testing.TB) *big.Int {
	tb.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		tb.Fatal(err)
	}
	return n
}

func newTestCA(tb testing.TB, name string) *testCA {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serialNumber(tb),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return &testCA{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// issue returns a PEM certificate and key signed by ca, for a server
// (127.0.0.1) or a client.
func (ca *testCA) issue(tb testing.TB, name string, server bool) (certPEM, keyPEM []byte) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serialNumber(tb),
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		tb.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func writeFile(tb testing.TB, path string, data []byte) {
	tb.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
}

// tlsClient connects to addr trusting roots, presenting cert/key if given.
func tlsClient(tb testing.TB, addr string, roots []byte, certPEM, keyPEM []byte) pb.ExternalScalerClient {
	tb.Helper()
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(roots)
	cfg := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certPEM != nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			tb.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return pb.NewExternalScalerClient(conn)
}

func plainClient(tb testing.TB, addr string) pb.ExternalScalerClient {
	tb.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return pb.NewExternalScalerClient(conn)
}

// tlsFiles writes a server certificate signed by ca (and optionally a client
// CA bundle) into dir.
func tlsFiles(tb testing.TB, dir string, ca *testCA, clientCA *testCA) TLSFiles {
	tb.Helper()
	cert, key := ca.issue(tb, "hpa-autoscaler", true)
	f := TLSFiles{CertFile: filepath.Join(dir, "tls.crt"), KeyFile: filepath.Join(dir, "tls.key")}
	writeFile(tb, f.CertFile, cert)
	writeFile(tb, f.KeyFile, key)
	if clientCA != nil {
		f.ClientCAFile = filepath.Join(dir, "client-ca.crt")
		writeFile(tb, f.ClientCAFile, clientCA.pem)
	}
	return f
}

func callSpec(c pb.ExternalScalerClient) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := c.GetMetricSpec(ctx, ref("tls", fakeMD("tls")))
	return err
}

func TestTLS(t *testing.T) {
	env := &fakeEnv{}
	ca := newTestCA(t, "server CA")
	files := tlsFiles(t, t.TempDir(), ca, nil)
	ts := startServer(t, Options{Registry: env.registry()}, ServeOptions{TLS: files})

	tests := []struct {
		name   string
		client pb.ExternalScalerClient
		ok     bool
	}{
		{name: "client trusting the CA", client: tlsClient(t, ts.addr, ca.pem, nil, nil), ok: true},
		{name: "client trusting another CA", client: tlsClient(t, ts.addr, newTestCA(t, "other").pem, nil, nil)},
		{name: "plaintext client", client: plainClient(t, ts.addr)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := callSpec(tc.client)
			if tc.ok && err != nil {
				t.Fatalf("got %v, want success", err)
			}
			if !tc.ok {
				wantCode(t, err, codes.Unavailable)
			}
		})
	}
}

func TestMutualTLS(t *testing.T) {
	env := &fakeEnv{}
	serverCA, clientCA, otherCA := newTestCA(t, "server CA"), newTestCA(t, "client CA"), newTestCA(t, "other CA")
	files := tlsFiles(t, t.TempDir(), serverCA, clientCA)
	ts := startServer(t, Options{Registry: env.registry()}, ServeOptions{TLS: files})

	goodCert, goodKey := clientCA.issue(t, "keda-operator", false)
	otherCert, otherKey := otherCA.issue(t, "intruder", false)
	serverCert, serverKey := serverCA.issue(t, "not-a-client", false)
	tests := []struct {
		name      string
		cert, key []byte
		ok        bool
	}{
		{name: "certificate signed by the client CA", cert: goodCert, key: goodKey, ok: true},
		{name: "no client certificate"},
		{name: "certificate signed by another CA", cert: otherCert, key: otherKey},
		{name: "certificate signed by the server CA", cert: serverCert, key: serverKey},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := callSpec(tlsClient(t, ts.addr, serverCA.pem, tc.cert, tc.key))
			if tc.ok && err != nil {
				t.Fatalf("got %v, want success", err)
			}
			if !tc.ok {
				if err == nil {
					t.Fatal("got success, want the connection refused")
				}
				wantCode(t, err, codes.Unavailable)
			}
		})
	}
}

func TestTLSReloadsChangedFiles(t *testing.T) {
	env := &fakeEnv{}
	dir := t.TempDir()
	oldCA, newCA := newTestCA(t, "old CA"), newTestCA(t, "new CA")
	files := tlsFiles(t, dir, oldCA, nil)
	ts := startServer(t, Options{Registry: env.registry()}, ServeOptions{TLS: files})
	if err := callSpec(tlsClient(t, ts.addr, oldCA.pem, nil, nil)); err != nil {
		t.Fatalf("before rotation: %v", err)
	}

	// A half-written rotation (new certificate, old key) keeps the old pair.
	cert, key := newCA.issue(t, "hpa-autoscaler", true)
	writeFile(t, files.CertFile, cert)
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(files.CertFile, future, future); err != nil {
		t.Fatal(err)
	}
	if err := callSpec(tlsClient(t, ts.addr, oldCA.pem, nil, nil)); err != nil {
		t.Fatalf("half-rotated: got %v, want the old certificate still served", err)
	}

	// The key follows: new connections get the new certificate.
	writeFile(t, files.KeyFile, key)
	if err := os.Chtimes(files.KeyFile, future, future); err != nil {
		t.Fatal(err)
	}
	if err := callSpec(tlsClient(t, ts.addr, newCA.pem, nil, nil)); err != nil {
		t.Fatalf("after rotation, trusting the new CA: %v", err)
	}
	err := callSpec(tlsClient(t, ts.addr, oldCA.pem, nil, nil))
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("after rotation, trusting only the old CA: got %v, want Unavailable", err)
	}
}

func TestServerCredentialsErrors(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, "ca")
	good := tlsFiles(t, dir, ca, nil)
	garbage := filepath.Join(dir, "garbage.pem")
	writeFile(t, garbage, []byte("not pem"))
	nope := filepath.Join(dir, "nope.crt")
	tests := []struct {
		name  string
		files TLSFiles
		want  string
	}{
		{name: "key without certificate", files: TLSFiles{KeyFile: good.KeyFile},
			want: "a TLS certificate and key must be given together"},
		{name: "client CA without certificate", files: TLSFiles{ClientCAFile: garbage},
			want: "a client CA needs a server certificate and key too"},
		{name: "every error at once", files: TLSFiles{KeyFile: good.KeyFile, ClientCAFile: garbage},
			want: "a TLS certificate and key must be given together\na client CA needs a server certificate and key too"},
		{name: "missing certificate file", files: TLSFiles{CertFile: nope, KeyFile: good.KeyFile},
			want: "load TLS certificate " + nope + " and key " + good.KeyFile + ": open " + nope + ": no such file or directory"},
		{name: "key that is no PEM", files: TLSFiles{CertFile: good.CertFile, KeyFile: garbage},
			want: "load TLS certificate " + good.CertFile + " and key " + garbage + ": tls: failed to find any PEM data in key input"},
		{name: "client CA without PEM", files: TLSFiles{CertFile: good.CertFile, KeyFile: good.KeyFile, ClientCAFile: garbage},
			want: "TLS client CA " + garbage + ": no PEM certificate found"},
		{name: "missing client CA", files: TLSFiles{CertFile: good.CertFile, KeyFile: good.KeyFile, ClientCAFile: filepath.Join(dir, "ca.crt")},
			want: "read TLS client CA " + filepath.Join(dir, "ca.crt") + ": no such file or directory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ServerCredentials(tc.files, nil)
			if err == nil {
				t.Fatalf("got credentials, want error %q", tc.want)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

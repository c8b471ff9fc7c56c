package externalscaler

import (
	"context"
	"crypto/tls"
	"crypto/x509"
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

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

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
func tlsFiles(tb testing.TB, dir string, ca *testenv.PKI, clientCA *testenv.PKI) TLSFiles {
	tb.Helper()
	var f TLSFiles
	f.CertFile, f.KeyFile = ca.ServerCert(tb).WriteFiles(tb, dir, "tls")
	if clientCA != nil {
		f.ClientCAFile = filepath.Join(dir, "client-ca.crt")
		writeFile(tb, f.ClientCAFile, clientCA.CAPEM)
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
	ca := testenv.NewPKI(t)
	files := tlsFiles(t, t.TempDir(), ca, nil)
	ts := startServer(t, Options{Registry: env.registry()}, ServeOptions{TLS: files})

	tests := []struct {
		name   string
		client pb.ExternalScalerClient
		ok     bool
	}{
		{name: "client trusting the CA", client: tlsClient(t, ts.addr, ca.CAPEM, nil, nil), ok: true},
		{name: "client trusting another CA", client: tlsClient(t, ts.addr, testenv.NewPKI(t).CAPEM, nil, nil)},
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
	serverCA, clientCA, otherCA := testenv.NewPKI(t), testenv.NewPKI(t), testenv.NewPKI(t)
	files := tlsFiles(t, t.TempDir(), serverCA, clientCA)
	ts := startServer(t, Options{Registry: env.registry()}, ServeOptions{TLS: files})

	good, other, wrong := clientCA.ClientCert(t, "keda-operator"), otherCA.ClientCert(t, "intruder"), serverCA.ClientCert(t, "not-a-client")
	tests := []struct {
		name      string
		cert, key []byte
		ok        bool
	}{
		{name: "certificate signed by the client CA", cert: good.CertPEM, key: good.KeyPEM, ok: true},
		{name: "no client certificate"},
		{name: "certificate signed by another CA", cert: other.CertPEM, key: other.KeyPEM},
		{name: "certificate signed by the server CA", cert: wrong.CertPEM, key: wrong.KeyPEM},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := callSpec(tlsClient(t, ts.addr, serverCA.CAPEM, tc.cert, tc.key))
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
	oldCA, newCA := testenv.NewPKI(t), testenv.NewPKI(t)
	files := tlsFiles(t, dir, oldCA, nil)
	ts := startServer(t, Options{Registry: env.registry()}, ServeOptions{TLS: files})
	if err := callSpec(tlsClient(t, ts.addr, oldCA.CAPEM, nil, nil)); err != nil {
		t.Fatalf("before rotation: %v", err)
	}

	// A half-written rotation (new certificate, old key) keeps the old pair.
	rotated := newCA.ServerCert(t)
	cert, key := rotated.CertPEM, rotated.KeyPEM
	writeFile(t, files.CertFile, cert)
	future := time.Now().Add(time.Minute)
	if err := os.Chtimes(files.CertFile, future, future); err != nil {
		t.Fatal(err)
	}
	if err := callSpec(tlsClient(t, ts.addr, oldCA.CAPEM, nil, nil)); err != nil {
		t.Fatalf("half-rotated: got %v, want the old certificate still served", err)
	}

	// The key follows: new connections get the new certificate.
	writeFile(t, files.KeyFile, key)
	if err := os.Chtimes(files.KeyFile, future, future); err != nil {
		t.Fatal(err)
	}
	if err := callSpec(tlsClient(t, ts.addr, newCA.CAPEM, nil, nil)); err != nil {
		t.Fatalf("after rotation, trusting the new CA: %v", err)
	}
	err := callSpec(tlsClient(t, ts.addr, oldCA.CAPEM, nil, nil))
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("after rotation, trusting only the old CA: got %v, want Unavailable", err)
	}
}

func TestServerCredentialsErrors(t *testing.T) {
	dir := t.TempDir()
	ca := testenv.NewPKI(t)
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
			want: "read TLS certificate " + nope + ": no such file or directory"},
		{name: "missing key file", files: TLSFiles{CertFile: good.CertFile, KeyFile: nope},
			want: "read TLS key " + nope + ": no such file or directory"},
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

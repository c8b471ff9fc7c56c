package triggers_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/hpa-autoscaler/hpa-autoscaler/controller/triggers"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/beanstalkd"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/cron"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/custom"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/etcd"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/githubrunner"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/kafka"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/metricsapi"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/mysql"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/natsjetstream"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/postgresql"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/prometheus"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/rabbitmq"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/redis"
)

// marker is the secret every test Secret holds: it must never appear in an
// error.
const marker = scalertest.FuzzSecret

// fakeSecrets is a SecretReader over a map of Secrets of one namespace
// (our own interface: the real API server is tested with the reconciler).
// Secrets not in the map are NotFound; those in fail get that error.
type fakeSecrets struct {
	namespace string
	secrets   map[string]*corev1.Secret
	fail      map[string]error

	mu    sync.Mutex
	reads map[string]int
}

func (f *fakeSecrets) GetSecret(_ context.Context, namespace, name string) (*corev1.Secret, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.reads == nil {
		f.reads = map[string]int{}
	}
	f.reads[name]++
	if err := f.fail[name]; err != nil {
		return nil, err
	}
	s, ok := f.secrets[name]
	if !ok || namespace != f.namespace {
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
	}
	return s.DeepCopy(), nil
}

// secret returns a Secret with data, at resourceVersion rv.
func secret(name, rv string, data map[string]string) *corev1.Secret {
	s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, ResourceVersion: rv}, Data: map[string][]byte{}}
	for k, v := range data {
		s.Data[k] = []byte(v)
	}
	return s
}

// secretsOf returns a fakeSecrets of namespace ns holding ss.
func secretsOf(ns string, ss ...*corev1.Secret) *fakeSecrets {
	f := &fakeSecrets{namespace: ns, secrets: map[string]*corev1.Secret{}}
	for _, s := range ss {
		f.secrets[s.Name] = s
	}
	return f
}

// anySecret answers every name with a Secret holding every key the
// examples reference, each a valid value for its scaler with the marker in
// it (the PEM material excepted: a certificate cannot hold it).
type anySecret struct{ pem testPEM }

func (a anySecret) GetSecret(_ context.Context, _, name string) (*corev1.Secret, error) {
	return secret(name, "rv-"+name, map[string]string{
		"password":         "pw-" + marker,
		"sentinelPassword": "spw-" + marker,
		"username":         "user-" + marker,
		"bearerToken":      "tok-" + marker,
		"token":            "ghp-" + marker,
		"apiKey":           "key-" + marker,
		"clientSecret":     "cs-" + marker,
		"host":             "http://monitor:" + marker + "@rabbitmq.shop.svc:15672/orders",
		"ca":               a.pem.ca,
		"cert":             a.pem.cert,
		"key":              a.pem.key,
	}), nil
}

// testPEM is a CA and a client certificate with its key, PEM encoded.
type testPEM struct{ ca, cert, key string }

// newPEM makes a CA and a client certificate it signed.
func newPEM(tb testing.TB) testPEM {
	tb.Helper()
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "triggers test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		tb.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "client"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		tb.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		tb.Fatal(err)
	}
	enc := func(typ string, b []byte) string { return string(pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b})) }
	return testPEM{ca: enc("CERTIFICATE", caDER), cert: enc("CERTIFICATE", der), key: enc("PRIVATE KEY", keyDER)}
}

// newRegistry is cmd/hpa-autoscaler's newRegistry: every scaler type with
// its real factory. Building a scaler does no I/O.
func newRegistry() *scalers.Registry {
	r := scalers.NewRegistry()
	r.MustRegister("kafka", kafka.New)
	r.MustRegister("rabbitmq", rabbitmq.New, scalers.WithDefaultTarget(rabbitmq.DefaultTarget))
	r.MustRegister(prometheus.Type, prometheus.New, scalers.WithDefaultTarget(prometheus.DefaultTarget))
	r.MustRegister(metricsapi.Type, metricsapi.New, scalers.WithDefaultTarget(metricsapi.DefaultTarget))
	r.MustRegister(cron.Type, cron.New)
	r.MustRegister(natsjetstream.Type, natsjetstream.New)
	r.MustRegister(etcd.Type, etcd.New)
	r.MustRegister(beanstalkd.Type, beanstalkd.New)
	r.MustRegister(githubrunner.Type, githubrunner.New)
	r.MustRegister(postgresql.Type, postgresql.NewPools(postgresql.PoolsOptions{}).Factory(), scalers.WithDefaultTarget(postgresql.DefaultTarget))
	r.MustRegister(mysql.Type, mysql.NewPools(mysql.PoolsOptions{}).Factory(), scalers.WithDefaultTarget(mysql.DefaultTarget))
	rc := redis.NewClients(redis.ClientsOptions{})
	for _, typ := range redis.Types() {
		r.MustRegister(typ, rc.Factory(typ))
	}
	r.MustRegister("custom", custom.NewFactory(r))
	return r
}

// build builds t through reg (and closes the scaler): the error of the
// scaler's parser, or nil.
func build(tb testing.TB, reg *scalers.Registry, t *triggers.Trigger) error {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := reg.New(ctx, scalers.Config{Type: t.Type, Metadata: t.Metadata, Namespace: "test", Name: t.Name})
	if err != nil {
		return err
	}
	if err := s.Close(); err != nil {
		tb.Errorf("close: %v", err)
	}
	return nil
}

// checkNoMarker fails if the marker is in err's message.
func checkNoMarker(tb testing.TB, err error) {
	tb.Helper()
	if err != nil && strings.Contains(err.Error(), marker) {
		tb.Fatalf("the secret is in the error: %s", err)
	}
}

// messages returns the messages of the errors err joins (one per
// problem), or [err's message].
func messages(err error) []string {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []string
		for _, e := range j.Unwrap() {
			out = append(out, e.Error())
		}
		return out
	}
	return []string{err.Error()}
}

// kind says which sentinels err wraps.
func kind(err error) string {
	var k []string
	if errors.Is(err, triggers.ErrInvalid) {
		k = append(k, "invalid")
	}
	if errors.Is(err, triggers.ErrSecret) {
		k = append(k, "secret")
	}
	return strings.Join(k, "+")
}

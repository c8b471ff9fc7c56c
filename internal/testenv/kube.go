package testenv

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
)

// KubeVersion is the kube-apiserver version hack/envtest/build.sh builds
// and StartKube expects.
const KubeVersion = "v1.36.3"

// Kube is a real kube-apiserver with its own etcd, started by
// controller-runtime's envtest from the binaries that `make envtest`
// (hack/envtest/build.sh) builds into bin/envtest. There is no
// kube-controller-manager, scheduler or kubelet: Deployments get no
// ReplicaSets or Pods, namespaces are never finalized, and tests create the
// Pods they need themselves. Pod metrics come from StartPodMetrics.
//
// Start one per test with StartKube, or share one across a test package
// with SharedKube: a start takes 3-4 s on an idle machine (more on a busy
// one). Share unless a test changes something cluster-wide that other tests
// would see (the API server's flags, cluster-scoped objects such as CRDs or
// ClusterRoles other tests depend on, the metrics.k8s.io APIService) or
// needs to stop the server; give each test its own namespace
// (NewNamespace). The methods are safe for concurrent use, except Close.
//
// The API server is started with a front proxy (requestheader) CA and
// --enable-aggregator-routing, so that aggregated APIs served from the test
// process (StartPodMetrics) can be registered with it (its "cluster"
// egress goes through a proxy of the test process: see kubeegress.go), and
// with the service-account issuer and signing keys envtest sets by default,
// so that ServiceAccountConfig can authenticate as a ServiceAccount.
//
// envtest logs through controller-runtime's global logger, which prints a
// warning with a stack trace when it is first used 30 s into the process
// and was never set: a package that starts a Kube late sets one in its
// TestMain (ctrllog.SetLogger; main_test.go here discards the log).
type Kube struct {
	// Config authenticates as an administrator (group system:masters).
	Config *rest.Config
	// Scheme has client-go's types and those KubeOptions.AddToScheme added.
	// Add more only before tests run in parallel: a Scheme is not safe for
	// concurrent writes.
	Scheme *runtime.Scheme
	// Client is a controller-runtime client on Config and Scheme.
	Client client.Client
	// Clientset is client-go's typed clientset on Config.
	Clientset kubernetes.Interface
	// Version is what the API server reports (GitVersion), KubeVersion.
	Version string

	env        *envtest.Environment
	dir        string // front proxy PKI and logs
	httpClient *http.Client
	reaper     *exec.Cmd
	reaperPipe *os.File
	frontProxy *miniCA // issued the proxy client certificate
	egress     *egressProxy

	metricsOnce sync.Once
	metrics     *PodMetrics
	metricsErr  error

	closeOnce sync.Once
	closeErr  error
}

// KubeOptions configure an API server of LaunchKube or StartKube.
type KubeOptions struct {
	// CRDPaths are CRD manifests (YAML or JSON files, or directories of
	// them; documents that are not CRDs are skipped) installed before the
	// start returns, each served in discovery. A path that does not exist
	// is an error. For KEDA's ScaledObject see KEDAScaledObjectCRD.
	CRDPaths []string
	// AddToScheme functions (e.g. a types package's AddToScheme) are
	// applied to Kube.Scheme after client-go's types.
	AddToScheme []func(*runtime.Scheme) error
	// APIServerFlags are added to (or override) the kube-apiserver flags,
	// name without dashes: {"feature-gates": {"Foo=true"}}.
	APIServerFlags map[string][]string
	// AssetsDir holds kube-apiserver and etcd. Default: $KUBEBUILDER_ASSETS,
	// else bin/envtest of the repository (the directory of go.mod).
	AssetsDir string
	// StartTimeout bounds the start of each process and the waits after it
	// (CRDs, discovery). Default 60s, far above what a loaded machine
	// needs.
	StartTimeout time.Duration
}

// StartKube starts an API server for one test and stops it in tb.Cleanup.
// It fails the test (never skips) when the binaries are missing, saying to
// run `make envtest`.
func StartKube(tb testing.TB, opts KubeOptions) *Kube {
	tb.Helper()
	k, err := LaunchKube(opts)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	tb.Cleanup(func() {
		if tb.Failed() {
			k.logTail(tb)
		}
		if err := k.Close(); err != nil {
			tb.Errorf("testenv: stop kube-apiserver: %v", err)
		}
	})
	return k
}

// LaunchKube starts an API server that outlives any one test (see
// SharedKube); the caller must Close it. It returns once the API server
// answers discovery, the default namespace exists and every CRD of
// opts.CRDPaths is served.
func LaunchKube(opts KubeOptions) (*Kube, error) {
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = 60 * time.Second
	}
	apiserverBin, etcdBin, err := kubeBinaries(opts.AssetsDir)
	if err != nil {
		return nil, err
	}
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return nil, fmt.Errorf("scheme: %w", err)
	}
	for _, add := range opts.AddToScheme {
		if err := add(scheme); err != nil {
			return nil, fmt.Errorf("scheme: %w", err)
		}
	}

	dir, err := os.MkdirTemp("", "testenv-kube-")
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	k := &Kube{Scheme: scheme, dir: dir}
	ok := false
	defer func() {
		if !ok {
			_ = k.Close()
		}
	}()

	front, err := k.writeFrontProxy()
	if err != nil {
		return nil, err
	}
	var egressFile string
	if k.egress, egressFile, err = startEgressProxy(dir); err != nil {
		return nil, err
	}
	front["egress-selector-config-file"] = []string{egressFile}
	apiLog, err := os.Create(filepath.Join(dir, "kube-apiserver.log"))
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	defer apiLog.Close() // the process has its own descriptor
	etcdLog, err := os.Create(filepath.Join(dir, "etcd.log"))
	if err != nil {
		return nil, fmt.Errorf("kube: %w", err)
	}
	defer etcdLog.Close()

	k.env = &envtest.Environment{
		Scheme:                   scheme,
		CRDDirectoryPaths:        opts.CRDPaths,
		ErrorIfCRDPathMissing:    true,
		ControlPlaneStartTimeout: opts.StartTimeout,
		ControlPlaneStopTimeout:  20 * time.Second,
		CRDInstallOptions:        envtest.CRDInstallOptions{MaxTime: opts.StartTimeout},
	}
	// *os.File outputs: the processes write to them directly, with no
	// copying goroutines in this process.
	k.env.ControlPlane.Etcd = &envtest.Etcd{Path: etcdBin, Out: etcdLog, Err: etcdLog}
	api := k.env.ControlPlane.GetAPIServer()
	api.Path, api.Out, api.Err = apiserverBin, apiLog, apiLog
	args := api.Configure()
	for name, values := range front {
		args.Set(name, values...)
	}
	for name, values := range opts.APIServerFlags {
		args.Set(name, values...)
	}

	cfg, err := k.env.Start()
	if err != nil {
		// envtest retries a failed start itself; what the last try said is
		// at the end of its log.
		return nil, fmt.Errorf("start kube-apiserver %s (%s): %w%s", KubeVersion, apiserverBin, err, k.tail(30))
	}
	k.Config = cfg
	// A watchdog outside this process stops the servers should the test
	// binary die without running Close (a -timeout panic, a kill):
	// envtest starts them in process groups of their own, so nothing else
	// would.
	if err := k.startReaper(); err != nil {
		return nil, err
	}

	if k.httpClient, err = rest.HTTPClientFor(cfg); err != nil {
		return nil, fmt.Errorf("kube client: %w", err)
	}
	if k.Clientset, err = kubernetes.NewForConfigAndClient(cfg, k.httpClient); err != nil {
		return nil, fmt.Errorf("kube client: %w", err)
	}
	if k.Client, err = client.New(cfg, client.Options{Scheme: scheme, HTTPClient: k.httpClient}); err != nil {
		return nil, fmt.Errorf("kube client: %w", err)
	}
	// envtest returned after /healthz, the default namespace and the CRDs;
	// this is the discovery call a client makes first.
	err = poll(opts.StartTimeout, "kube-apiserver discovery", nil, func() error {
		v, err := k.Clientset.Discovery().ServerVersion()
		if err != nil {
			return err
		}
		k.Version = v.GitVersion
		_, err = k.Clientset.Discovery().ServerGroups()
		return err
	})
	if err != nil {
		return nil, err
	}
	ok = true
	return k, nil
}

// Close stops the API server and etcd, the metrics server of
// StartPodMetrics and the egress proxy, and removes their files. It may be called more than once.
func (k *Kube) Close() error {
	k.closeOnce.Do(func() {
		var errs []error
		// The API server first, so that nothing it proxies is cut.
		if k.env != nil {
			if err := k.env.Stop(); err != nil {
				errs = append(errs, fmt.Errorf("stop envtest: %w", err))
			}
		}
		k.stopReaper()
		if k.metrics != nil {
			errs = append(errs, k.metrics.close())
		}
		if k.egress != nil {
			errs = append(errs, k.egress.close())
		}
		if k.httpClient != nil {
			k.httpClient.CloseIdleConnections()
		}
		if k.dir != "" {
			errs = append(errs, os.RemoveAll(k.dir))
		}
		k.closeErr = errors.Join(errs...)
	})
	return k.closeErr
}

// NewNamespace creates a namespace for one test, named after it with a
// random suffix, and returns its name. It is not deleted: without a
// kube-controller-manager a deleted namespace stays Terminating with all its
// objects, and the API server goes away with the test or the package.
func (k *Kube) NewNamespace(tb testing.TB) string {
	tb.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: namespacePrefix(tb.Name())}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := k.Client.Create(ctx, ns); err != nil {
		tb.Fatalf("testenv: create namespace: %v", err)
	}
	return ns.Name
}

var notLabel = regexp.MustCompile(`[^a-z0-9]+`)

// namespacePrefix makes a GenerateName prefix (a DNS label once the server
// appends 5 characters) from a test name.
func namespacePrefix(testName string) string {
	p := strings.Trim(notLabel.ReplaceAllString(strings.ToLower(testName), "-"), "-")
	if len(p) > 40 {
		p = strings.TrimRight(p[:40], "-")
	}
	if p == "" {
		p = "test"
	}
	return p + "-"
}

// ServiceAccountConfig returns a rest.Config that authenticates as the
// ServiceAccount namespace/name (creating it if it does not exist) with a
// token of the TokenRequest API valid for an hour. It has only the
// permissions RBAC gives that ServiceAccount: bind a Role or ClusterRole to
// it (e.g. the agent's config/rbac/) to run code as the agent runs.
func ServiceAccountConfig(tb testing.TB, kube *Kube, namespace, name string) *rest.Config {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}
	_, err := kube.Clientset.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		tb.Fatalf("testenv: create ServiceAccount %s/%s: %v", namespace, name, err)
	}
	expiry := int64(3600)
	tr, err := kube.Clientset.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: &expiry}},
		metav1.CreateOptions{})
	if err != nil {
		tb.Fatalf("testenv: token for ServiceAccount %s/%s: %v", namespace, name, err)
	}
	cfg := rest.AnonymousClientConfig(kube.Config)
	cfg.BearerToken = tr.Status.Token
	return cfg
}

// KEDACRDDir returns config/crd/bases of the KEDA module the project
// requires (github.com/kedacore/keda/v2), in the module cache: the
// directory of KEDA's CRDs (ScaledObject, ScaledJob,
// TriggerAuthentication, ...). It runs `go mod download` in the repository,
// which downloads the module if the cache does not have it yet.
func KEDACRDDir() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	const mod = "github.com/kedacore/keda/v2"
	cmd := exec.Command("go", "mod", "download", "-json", mod)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download %s: %w: %s", mod, err, strings.TrimSpace(stderr.String()))
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil {
		return "", fmt.Errorf("go mod download %s: %w", mod, err)
	}
	if info.Dir == "" {
		return "", fmt.Errorf("go mod download %s: no directory: %s", mod, info.Error)
	}
	dir := filepath.Join(info.Dir, "config", "crd", "bases")
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("KEDA CRDs: %w", err)
	}
	return dir, nil
}

// KEDAScaledObjectCRD returns the path of KEDA's ScaledObject CRD
// (keda.sh_scaledobjects.yaml in KEDACRDDir), for KubeOptions.CRDPaths.
func KEDAScaledObjectCRD() (string, error) {
	dir, err := KEDACRDDir()
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "keda.sh_scaledobjects.yaml")
	if _, err := os.Stat(path); err != nil {
		return "", fmt.Errorf("KEDA ScaledObject CRD: %w", err)
	}
	return path, nil
}

// SharedKube is one API server for the tests of a package, started by the
// first Get and stopped after the last test by the runner of Wrap:
//
//	var kube testenv.SharedKube
//
//	func TestMain(m *testing.M) {
//		kube.Options = testenv.KubeOptions{CRDPaths: []string{"../config/crd/bases"}}
//		goleak.VerifyTestMain(kube.Wrap(m)) // or os.Exit(kube.Wrap(m).Run())
//	}
//
//	func TestSomething(t *testing.T) {
//		k := kube.Get(t)
//		ns := k.NewNamespace(t)
//		...
//	}
//
// Set Options before the first Get. A package whose tests need none does
// not start a server.
type SharedKube struct {
	Options KubeOptions

	once sync.Once
	kube *Kube
	err  error
}

// Get returns the package's API server, starting it on first use. A failed
// start fails every test that calls Get, with the same error.
func (s *SharedKube) Get(tb testing.TB) *Kube {
	tb.Helper()
	s.once.Do(func() { s.kube, s.err = LaunchKube(s.Options) })
	if s.err != nil {
		tb.Fatalf("testenv: shared: %v", s.err)
	}
	return s.kube
}

// Close stops the API server if Get started one.
func (s *SharedKube) Close() error {
	s.once.Do(func() {}) // no start after Close
	if s.kube == nil {
		return nil
	}
	return s.kube.Close()
}

// Wrap returns what runs m's tests and then Closes s (a failed Close makes
// the exit code 1): for goleak.VerifyTestMain, or to call Run and os.Exit.
// m is a *testing.M, or another such wrapper.
func (s *SharedKube) Wrap(m interface{ Run() int }) interface{ Run() int } {
	return sharedKubeRunner{s, m}
}

type sharedKubeRunner struct {
	s *SharedKube
	m interface{ Run() int }
}

func (r sharedKubeRunner) Run() int {
	code := r.m.Run()
	if err := r.s.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "testenv: stop the shared kube-apiserver: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// kubeBinaries finds kube-apiserver and etcd in dir, $KUBEBUILDER_ASSETS or
// <repo>/bin/envtest, in that order.
func kubeBinaries(dir string) (apiserver, etcd string, err error) {
	if dir == "" {
		dir = os.Getenv("KUBEBUILDER_ASSETS")
	}
	if dir == "" {
		root, err := repoRoot()
		if err != nil {
			return "", "", fmt.Errorf("find bin/envtest: %w; run `make envtest` and set KUBEBUILDER_ASSETS", err)
		}
		dir = filepath.Join(root, "bin", "envtest")
	}
	apiserver, etcd = filepath.Join(dir, "kube-apiserver"), filepath.Join(dir, "etcd")
	for _, bin := range []string{apiserver, etcd} {
		fi, err := os.Stat(bin)
		if err == nil && (fi.IsDir() || fi.Mode()&0o111 == 0) {
			err = errors.New("not an executable file")
		}
		if err != nil {
			return "", "", fmt.Errorf("%s: %w: run `make envtest` (hack/envtest/build.sh builds kube-apiserver %s and etcd into bin/envtest)", bin, err, KubeVersion)
		}
	}
	return apiserver, etcd, nil
}

// repoRoot is the directory of the project's go.mod, found from the working
// directory (a test's is its package directory) upwards.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(b, []byte("module github.com/hpa-autoscaler/hpa-autoscaler\n")) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod of github.com/hpa-autoscaler/hpa-autoscaler above the working directory")
		}
		dir = parent
	}
}

// frontProxyUser is the common name of the client certificate the API
// server presents to aggregated API servers, and the one name
// --requestheader-allowed-names accepts.
const frontProxyUser = "front-proxy-client"

// writeFrontProxy makes the front proxy PKI of the aggregation layer and
// returns the API server flags that use it.
func (k *Kube) writeFrontProxy() (map[string][]string, error) {
	ca, err := newMiniCA("testenv front-proxy CA")
	if err != nil {
		return nil, err
	}
	k.frontProxy = ca
	certPEM, keyPEM, err := ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: frontProxyUser},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{"front-proxy-ca.crt": ca.certPEM, "front-proxy-client.crt": certPEM, "front-proxy-client.key": keyPEM}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(k.dir, name), b, 0o600); err != nil {
			return nil, fmt.Errorf("front proxy: %w", err)
		}
	}
	return map[string][]string{
		"requestheader-client-ca-file":       {filepath.Join(k.dir, "front-proxy-ca.crt")},
		"requestheader-allowed-names":        {frontProxyUser},
		"requestheader-username-headers":     {"X-Remote-User"},
		"requestheader-group-headers":        {"X-Remote-Group"},
		"requestheader-extra-headers-prefix": {"X-Remote-Extra-"},
		"proxy-client-cert-file":             {filepath.Join(k.dir, "front-proxy-client.crt")},
		"proxy-client-key-file":              {filepath.Join(k.dir, "front-proxy-client.key")},
		// No kube-proxy: reach an APIService's Service at its endpoint's
		// address, not at its cluster IP.
		"enable-aggregator-routing": {"true"},
	}, nil
}

// startReaper starts `sh` in a process group of its own, reading a pipe
// whose only writer is this process: when this process ends, however it
// ends, the read returns and the shell kills the process groups of etcd
// and kube-apiserver. Close stops the shell first.
func (k *Kube) startReaper() error {
	var groups []string
	for _, dir := range []string{k.env.ControlPlane.APIServer.CertDir, k.env.ControlPlane.Etcd.DataDir} {
		pid, err := childWithArg(dir)
		if err != nil {
			return fmt.Errorf("kube watchdog: %w", err)
		}
		groups = append(groups, "-"+strconv.Itoa(pid)) // envtest's Setpgid: pgid = pid
	}
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("kube watchdog: %w", err)
	}
	defer r.Close()
	cmd := exec.Command("/bin/sh", append([]string{"-c", `read -r _; kill -9 "$@" 2>/dev/null`, "testenv-kube-reaper"}, groups...)...)
	cmd.Stdin = r
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		_ = w.Close()
		return fmt.Errorf("kube watchdog: %w", err)
	}
	k.reaper, k.reaperPipe = cmd, w
	return nil
}

func (k *Kube) stopReaper() {
	if k.reaper == nil {
		return
	}
	_ = k.reaper.Process.Kill()
	_ = k.reaper.Wait()
	_ = k.reaperPipe.Close()
	k.reaper = nil
}

// childWithArg returns the pid of the child process of this process one of
// whose arguments is s or ends in =s (envtest's directory of that server:
// --cert-dir=, --data-dir=).
func childWithArg(s string) (int, error) {
	if s == "" {
		return 0, errors.New("no directory to find the process by")
	}
	self := os.Getpid()
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, path := range stats {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		end := bytes.LastIndexByte(b, ')')
		if end < 0 {
			continue
		}
		f := strings.Fields(string(b[end+1:]))
		if len(f) < 2 || f[1] != strconv.Itoa(self) {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join(filepath.Dir(path), "cmdline"))
		if err != nil {
			continue
		}
		for _, arg := range strings.Split(string(cmdline), "\x00") {
			// Whole values only: another Kube's directory may start with
			// the same characters.
			if arg == s || strings.HasSuffix(arg, "="+s) {
				return strconv.Atoi(filepath.Base(filepath.Dir(path)))
			}
		}
	}
	return 0, fmt.Errorf("no child process with the argument %s", s)
}

// tail returns the end of the API server's log, for an error message.
func (k *Kube) tail(n int) string {
	s, err := lastLines(filepath.Join(k.dir, "kube-apiserver.log"), n)
	if err != nil || strings.TrimSpace(s) == "" {
		return ""
	}
	return "\nkube-apiserver log (last lines):\n" + s
}

// logTail logs the end of the API server's log to a failed test.
func (k *Kube) logTail(tb testing.TB) {
	if s := k.tail(20); s != "" {
		tb.Log(s)
	}
}

// miniCA issues the certificates of the aggregation layer. Unlike PKI it
// returns errors, so LaunchKube can run outside a test.
type miniCA struct {
	certPEM []byte
	pool    *x509.CertPool
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	serial  int64
	mu      sync.Mutex
}

func newMiniCA(name string) (*miniCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("CA key: %w", err)
	}
	from := time.Now().Add(-time.Hour)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             from,
		NotAfter:              from.Add(25 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("CA certificate: %w", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &miniCA{
		certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pool:    pool, cert: cert, key: key, serial: 1,
	}, nil
}

// issue signs tmpl (its subject, names and extended key usages) with a new
// key, valid as long as the CA.
func (c *miniCA) issue(tmpl *x509.Certificate) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("key: %w", err)
	}
	c.mu.Lock()
	c.serial++
	tmpl.SerialNumber = big.NewInt(c.serial)
	c.mu.Unlock()
	tmpl.NotBefore, tmpl.NotAfter = c.cert.NotBefore, c.cert.NotAfter
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		return nil, nil, fmt.Errorf("certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

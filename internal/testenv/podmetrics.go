package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log"
	"mime"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
)

// Where the metrics.k8s.io APIService points, as in a cluster with
// metrics-server.
const (
	metricsNamespace = "kube-system"
	metricsService   = "metrics-server"
	metricsAPI       = "v1beta1.metrics.k8s.io"
	metricsPrefix    = "/apis/metrics.k8s.io/v1beta1"
	// metricsAddress is the address of the EndpointSlice: a documentation
	// address (RFC 5737, never routed) that the Kube's egress proxy sends
	// to the loopback listener, since the API rejects loopback addresses
	// in EndpointSlices.
	metricsAddress = "198.51.100.10"
)

// PodMetrics serves metrics.k8s.io/v1beta1 PodMetrics, as metrics-server
// does, from the test process: an HTTPS server on a loopback port,
// registered with the Kube's API server as the aggregated API
// v1beta1.metrics.k8s.io: an APIService for the Service
// kube-system/metrics-server, whose EndpointSlice the API server dials
// directly (--enable-aggregator-routing), through the Kube's egress proxy,
// which sends that address to the loopback port. Clients reach it through the API server
// like any other API: k8s.io/metrics' clientset, a RESTClient, kubectl
// get --raw, with the API server's authentication and RBAC (a
// ServiceAccount needs get/list on pods.metrics.k8s.io).
//
// It answers what metrics-server answers: a list of a namespace's pods (or
// of all namespaces) with labelSelector and fieldSelector, applied to the
// Pods in the API server, and a get by name; a pod is in the answer when it
// exists and Set gave it metrics (a missing one is NotFound). PodMetrics
// carry the pod's labels. It serves no NodeMetrics. It answers JSON, or
// protobuf when the client asks for it first.
//
// There is one per Kube (an API server has one metrics.k8s.io), shared by
// all the tests that use that Kube and stopped with it: tests keep to
// their own namespaces. The methods are safe for concurrent use.
type PodMetrics struct {
	// Port is the loopback port of the HTTPS server.
	Port int

	kube       *Kube
	srv        *http.Server
	served     chan struct{} // closed when Serve has returned
	codecs     serializer.CodecFactory
	clientCAs  *x509.CertPool
	allowedCNs []string

	mu   sync.Mutex
	pods map[types.NamespacedName]podSample
}

type podSample struct {
	containers map[string]corev1.ResourceList
	timestamp  time.Time
	window     time.Duration
}

// StartPodMetrics returns the metrics.k8s.io server of kube, registering it
// on first use; it returns once the APIService is Available, discovery
// lists pods.metrics.k8s.io and a list through the API server answers.
// Later calls (from any test) return the same server. It stops with kube.
func StartPodMetrics(tb testing.TB, kube *Kube) *PodMetrics {
	tb.Helper()
	pm, err := kube.podMetrics()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return pm
}

// Set makes namespace/pod report the usage of each container (e.g.
// {"app": {cpu: 250m, memory: 64Mi}}), collected over window up to
// timestamp; a zero timestamp means the time of each request. It replaces
// what the pod reported before. The pod itself must exist in the API server
// for the metrics to be served.
func (pm *PodMetrics) Set(namespace, pod string, containers map[string]corev1.ResourceList, timestamp time.Time, window time.Duration) {
	c := make(map[string]corev1.ResourceList, len(containers))
	for name, usage := range containers {
		c[name] = usage.DeepCopy()
	}
	pm.mu.Lock()
	defer pm.mu.Unlock()
	pm.pods[types.NamespacedName{Namespace: namespace, Name: pod}] = podSample{containers: c, timestamp: timestamp, window: window}
}

// Delete makes namespace/pod report no metrics, as metrics-server does for
// a pod it has no fresh sample of.
func (pm *PodMetrics) Delete(namespace, pod string) {
	pm.mu.Lock()
	defer pm.mu.Unlock()
	delete(pm.pods, types.NamespacedName{Namespace: namespace, Name: pod})
}

// podMetrics starts kube's PodMetrics once.
func (k *Kube) podMetrics() (*PodMetrics, error) {
	k.metricsOnce.Do(func() {
		pm, err := k.startPodMetrics(context.Background())
		if err != nil {
			k.metricsErr = fmt.Errorf("pod metrics: %w", err)
			return
		}
		k.metrics = pm
	})
	return k.metrics, k.metricsErr
}

func (k *Kube) startPodMetrics(ctx context.Context) (_ *PodMetrics, err error) {
	scheme := runtime.NewScheme()
	if err := metricsv1beta1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	metav1.AddToGroupVersion(scheme, schema.GroupVersion{Version: "v1"})
	pm := &PodMetrics{
		kube:       k,
		codecs:     serializer.NewCodecFactory(scheme),
		clientCAs:  k.frontProxy.pool,
		allowedCNs: []string{frontProxyUser},
		pods:       map[types.NamespacedName]podSample{},
		served:     make(chan struct{}),
	}

	// The API server checks the serving certificate against the
	// APIService's caBundle for the name <service>.<namespace>.svc.
	ca, err := newMiniCA("testenv metrics-server CA")
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.issue(&x509.Certificate{
		Subject:     pkix.Name{CommonName: metricsService},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:    []string{metricsService + "." + metricsNamespace + ".svc", "localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	})
	if err != nil {
		return nil, err
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	pm.Port = ln.Addr().(*net.TCPAddr).Port
	pm.srv = &http.Server{
		Handler: pm,
		TLSConfig: &tls.Config{
			Certificates: []tls.Certificate{pair},
			// Only the API server's front proxy may call, as with
			// metrics-server (which reads the CA from the
			// extension-apiserver-authentication ConfigMap).
			ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs:  pm.clientCAs,
			MinVersion: tls.VersionTLS12,
		},
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() {
		defer close(pm.served)
		_ = pm.srv.ServeTLS(ln, "", "")
	}()
	defer func() {
		if err != nil {
			_ = pm.close()
		}
	}()

	if err := pm.register(ctx, ca.certPEM); err != nil {
		return nil, err
	}
	if err := pm.waitServed(ctx); err != nil {
		return nil, err
	}
	return pm, nil
}

// register creates the Service (no selector: nothing else would fill its
// endpoints), its EndpointSlice at metricsAddress:<port> (which the egress
// proxy sends to 127.0.0.1:<port>), and the APIService. The API server
// resolves an APIService's endpoints from EndpointSlices only, so there is
// no Endpoints object.
func (pm *PodMetrics) register(ctx context.Context, caPEM []byte) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pm.kube.egress.route(net.JoinHostPort(metricsAddress, strconv.Itoa(pm.Port)), net.JoinHostPort("127.0.0.1", strconv.Itoa(pm.Port)))
	cs := pm.kube.Clientset
	portName := "https"
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: metricsNamespace, Name: metricsService},
		Spec: corev1.ServiceSpec{
			Type:  corev1.ServiceTypeClusterIP,
			Ports: []corev1.ServicePort{{Name: portName, Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(int32(pm.Port))}},
		},
	}
	if _, err := cs.CoreV1().Services(metricsNamespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create Service %s/%s: %w", metricsNamespace, metricsService, err)
	}
	ready, port, proto := true, int32(pm.Port), corev1.ProtocolTCP
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: metricsNamespace,
			Name:      metricsService + "-testenv",
			Labels:    map[string]string{discoveryv1.LabelServiceName: metricsService, discoveryv1.LabelManagedBy: "testenv"},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{metricsAddress}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}},
		Ports:       []discoveryv1.EndpointPort{{Name: &portName, Port: &port, Protocol: &proto}},
	}
	if _, err := cs.DiscoveryV1().EndpointSlices(metricsNamespace).Create(ctx, slice, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create EndpointSlice %s/%s: %w", metricsNamespace, slice.Name, err)
	}
	// Unstructured: the apiregistration types live in k8s.io/kube-aggregator,
	// which the project does not otherwise need.
	apisvc := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiregistration.k8s.io/v1",
		"kind":       "APIService",
		"metadata":   map[string]any{"name": metricsAPI},
		"spec": map[string]any{
			"group":                "metrics.k8s.io",
			"version":              "v1beta1",
			"groupPriorityMinimum": int64(100),
			"versionPriority":      int64(100),
			"caBundle":             caPEM, // []byte: base64 in JSON
			"service":              map[string]any{"namespace": metricsNamespace, "name": metricsService, "port": int64(443)},
		},
	}}
	if err := pm.kube.Client.Create(ctx, apisvc); err != nil {
		return fmt.Errorf("create APIService %s: %w", metricsAPI, err)
	}
	return nil
}

// waitServed waits until the APIService is Available, discovery lists
// pods.metrics.k8s.io, and a list through the API server answers.
func (pm *PodMetrics) waitServed(ctx context.Context) error {
	const limit = 60 * time.Second
	err := poll(limit, "APIService "+metricsAPI+" Available", nil, func() error {
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("apiregistration.k8s.io/v1")
		u.SetKind("APIService")
		if err := pm.kube.Client.Get(ctx, types.NamespacedName{Name: metricsAPI}, u); err != nil {
			return err
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Available" {
				if m["status"] == "True" {
					return nil
				}
				return fmt.Errorf("condition Available is %v: %v: %v", m["status"], m["reason"], m["message"])
			}
		}
		return errors.New("no Available condition yet")
	})
	if err != nil {
		return err
	}
	err = poll(limit, "metrics.k8s.io/v1beta1 in discovery", nil, func() error {
		rl, err := pm.kube.Clientset.Discovery().ServerResourcesForGroupVersion("metrics.k8s.io/v1beta1")
		if err != nil {
			return err
		}
		for _, r := range rl.APIResources {
			if r.Name == "pods" {
				return nil
			}
		}
		return errors.New("no pods resource listed")
	})
	if err != nil {
		return err
	}
	mc, err := metricsclient.NewForConfigAndClient(pm.kube.Config, pm.kube.httpClient)
	if err != nil {
		return err
	}
	return poll(limit, "a list of metrics.k8s.io pods through the API server", nil, func() error {
		_, err := mc.MetricsV1beta1().PodMetricses(metav1.NamespaceDefault).List(ctx, metav1.ListOptions{})
		return err
	})
}

func (pm *PodMetrics) close() error {
	err := pm.srv.Close()
	<-pm.served
	return err
}

// ServeHTTP answers the requests the API server proxies.
func (pm *PodMetrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || !slices.Contains(pm.allowedCNs, r.TLS.PeerCertificates[0].Subject.CommonName) {
		pm.writeStatus(w, r, apierrors.NewForbidden(schema.GroupResource{}, "", errors.New("only the API server's front proxy may call")))
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, metricsPrefix)
	if !ok || (rest != "" && rest[0] != '/') {
		pm.writeStatus(w, r, apierrors.NewNotFound(schema.GroupResource{}, r.URL.Path))
		return
	}
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	gr := schema.GroupResource{Group: "metrics.k8s.io", Resource: "pods"}
	if r.Method != http.MethodGet || r.URL.Query().Get("watch") == "true" || r.URL.Query().Get("watch") == "1" {
		pm.writeStatus(w, r, apierrors.NewMethodNotSupported(gr, strings.ToLower(r.Method)))
		return
	}
	switch {
	case rest == "" || rest == "/":
		pm.write(w, r, discoveryList())
	case len(parts) == 1 && parts[0] == "pods":
		pm.list(w, r, metav1.NamespaceAll)
	case len(parts) == 3 && parts[0] == "namespaces" && parts[2] == "pods":
		pm.list(w, r, parts[1])
	case len(parts) == 4 && parts[0] == "namespaces" && parts[2] == "pods":
		pm.get(w, r, parts[1], parts[3])
	default:
		pm.writeStatus(w, r, apierrors.NewNotFound(schema.GroupResource{}, r.URL.Path))
	}
}

func discoveryList() *metav1.APIResourceList {
	return &metav1.APIResourceList{
		TypeMeta:     metav1.TypeMeta{Kind: "APIResourceList", APIVersion: "v1"},
		GroupVersion: "metrics.k8s.io/v1beta1",
		APIResources: []metav1.APIResource{{Name: "pods", Namespaced: true, Kind: "PodMetrics", Verbs: metav1.Verbs{"get", "list"}}},
	}
}

func (pm *PodMetrics) list(w http.ResponseWriter, r *http.Request, namespace string) {
	q := r.URL.Query()
	pods, err := pm.kube.Clientset.CoreV1().Pods(namespace).List(r.Context(), metav1.ListOptions{
		LabelSelector: q.Get("labelSelector"),
		FieldSelector: q.Get("fieldSelector"),
	})
	if err != nil {
		pm.writeStatus(w, r, err)
		return
	}
	out := &metricsv1beta1.PodMetricsList{}
	now := time.Now()
	for i := range pods.Items {
		if m, ok := pm.metricsOf(&pods.Items[i], now); ok {
			out.Items = append(out.Items, m)
		}
	}
	pm.write(w, r, out)
}

func (pm *PodMetrics) get(w http.ResponseWriter, r *http.Request, namespace, name string) {
	notFound := apierrors.NewNotFound(schema.GroupResource{Group: "metrics.k8s.io", Resource: "pods"}, name)
	pod, err := pm.kube.Clientset.CoreV1().Pods(namespace).Get(r.Context(), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		pm.writeStatus(w, r, notFound)
		return
	}
	if err != nil {
		pm.writeStatus(w, r, err)
		return
	}
	m, ok := pm.metricsOf(pod, time.Now())
	if !ok {
		pm.writeStatus(w, r, notFound)
		return
	}
	pm.write(w, r, &m)
}

// metricsOf returns what Set gave pod, as metrics-server shows it.
func (pm *PodMetrics) metricsOf(pod *corev1.Pod, now time.Time) (metricsv1beta1.PodMetrics, bool) {
	pm.mu.Lock()
	s, ok := pm.pods[types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name}]
	pm.mu.Unlock()
	if !ok {
		return metricsv1beta1.PodMetrics{}, false
	}
	ts := s.timestamp
	if ts.IsZero() {
		ts = now
	}
	m := metricsv1beta1.PodMetrics{
		ObjectMeta: metav1.ObjectMeta{
			Name: pod.Name, Namespace: pod.Namespace, Labels: pod.Labels,
			CreationTimestamp: metav1.NewTime(now),
		},
		Timestamp: metav1.NewTime(ts),
		Window:    metav1.Duration{Duration: s.window},
	}
	names := make([]string, 0, len(s.containers))
	for name := range s.containers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		m.Containers = append(m.Containers, metricsv1beta1.ContainerMetrics{Name: name, Usage: s.containers[name].DeepCopy()})
	}
	return m, true
}

func (pm *PodMetrics) writeStatus(w http.ResponseWriter, r *http.Request, err error) {
	var st apierrors.APIStatus
	if !errors.As(err, &st) {
		st = apierrors.NewInternalError(err)
	}
	status := st.Status()
	status.Kind, status.APIVersion = "Status", "v1"
	pm.writeCode(w, r, int(status.Code), &status)
}

func (pm *PodMetrics) write(w http.ResponseWriter, r *http.Request, obj runtime.Object) {
	pm.writeCode(w, r, http.StatusOK, obj)
}

// writeCode encodes obj as JSON, or as protobuf when the client's first
// choice is protobuf (as a client with ContentType protobuf asks).
func (pm *PodMetrics) writeCode(w http.ResponseWriter, r *http.Request, code int, obj runtime.Object) {
	mediaType := runtime.ContentTypeJSON
	if accept := r.Header.Get("Accept"); accept != "" {
		if first, _, err := mime.ParseMediaType(strings.Split(accept, ",")[0]); err == nil && first == runtime.ContentTypeProtobuf {
			mediaType = runtime.ContentTypeProtobuf
		}
	}
	info, ok := runtime.SerializerInfoForMediaType(pm.codecs.SupportedMediaTypes(), mediaType)
	if !ok {
		http.Error(w, "no serializer for "+mediaType, http.StatusInternalServerError)
		return
	}
	// Unversioned types (Status, APIResourceList) keep their v1.
	enc := pm.codecs.EncoderForVersion(info.Serializer, metricsv1beta1.SchemeGroupVersion)
	var b strings.Builder
	if err := enc.Encode(obj, &b); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", mediaType)
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(code)
	_, _ = io.WriteString(w, b.String())
}

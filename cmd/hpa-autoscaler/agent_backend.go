package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"

	"github.com/hpa-autoscaler/hpa-autoscaler/controller/backendlink"
	agentv1 "github.com/hpa-autoscaler/hpa-autoscaler/proto/agent/v1"
)

// agentBackendOpts are the agent's flags of the link to the backend
// (controller/backendlink; docs/agent.md, "Backend link").
type agentBackendOpts struct {
	addr          string
	tokenFile     string
	clusterID     string
	tls           bool
	tlsCA         string
	tlsCert       string
	tlsKey        string
	tlsServerName string
	keepaliveTime time.Duration
	bufferSize    int
}

// maxTokenFile bounds the agent token file.
const maxTokenFile = 64 << 10

func (b *agentBackendOpts) addFlags(f *pflag.FlagSet) {
	f.StringVar(&b.addr, "backend", "", "host:port of the backend's gRPC port (hpa-autoscaler serve): stream the inventory, metrics, decisions and events to it, take its forecast floors and budget caps (default: no backend, the agent decides alone)")
	f.StringVar(&b.tokenFile, "agent-token-file", "", "file holding the agent token (an API token of role agent; read again at every connect, never logged); required with --backend")
	f.StringVar(&b.clusterID, "cluster-id", "", "this cluster's id at the backend (the agent token is bound to it); required with --backend")
	f.BoolVar(&b.tls, "backend-tls", false, "TLS to the backend with the system's roots (implied by --backend-tls-ca and --backend-tls-cert)")
	f.StringVar(&b.tlsCA, "backend-tls-ca", "", "PEM CA bundle that signs the backend's certificate (turns TLS on; read at every connect)")
	f.StringVar(&b.tlsCert, "backend-tls-cert", "", "PEM client certificate for mTLS (its identity must name --cluster-id; read at every handshake)")
	f.StringVar(&b.tlsKey, "backend-tls-key", "", "PEM private key of --backend-tls-cert")
	f.StringVar(&b.tlsServerName, "backend-tls-server-name", "", "name to verify the backend's certificate against (default: the host of --backend)")
	f.DurationVar(&b.keepaliveTime, "backend-keepalive-time", backendlink.DefaultKeepaliveTime, "gRPC keepalive ping interval to the backend, after this long without a frame received (keep it above the server's enforcement MinTime: 10s in serve)")
	f.IntVar(&b.bufferSize, "backend-buffer-size", backendlink.DefaultBufferSize, "messages buffered for the backend before the oldest metric reports are shed (decisions and events are kept up to 10 times this)")
}

// applyConfig maps the configuration file's keys to the flags.
func (b *agentBackendOpts) applyConfig(c *agentConfig, set func(flag, value string)) {
	if c.ClusterID != "" {
		set("cluster-id", c.ClusterID)
	}
	s := &c.Server
	if s.Endpoint != "" {
		set("backend", s.Endpoint)
	}
	if s.TLS.Enabled {
		set("backend-tls", "true")
	}
	for _, kv := range []struct{ flag, v string }{
		{"backend-tls-ca", s.TLS.CAFile}, {"backend-tls-cert", s.TLS.CertFile}, {"backend-tls-key", s.TLS.KeyFile}, {"backend-tls-server-name", s.TLS.ServerName},
	} {
		if kv.v != "" {
			set(kv.flag, kv.v)
		}
	}
	if q := c.Performance.QueueSize; q != nil {
		set("backend-buffer-size", strconv.Itoa(*q))
	}
}

func (b *agentBackendOpts) tlsOn() bool { return b.tls || b.tlsCA != "" || b.tlsCert != "" }

func (b *agentBackendOpts) validate() []error {
	var errs []error
	if b.addr == "" {
		for _, f := range []struct{ flag, v string }{
			{"--agent-token-file", b.tokenFile}, {"--backend-tls-ca", b.tlsCA}, {"--backend-tls-cert", b.tlsCert}, {"--backend-tls-key", b.tlsKey}, {"--backend-tls-server-name", b.tlsServerName},
		} {
			if f.v != "" {
				errs = append(errs, fmt.Errorf("%s: needs --backend", f.flag))
			}
		}
		return errs
	}
	if err := checkBackendAddr(b.addr); err != nil {
		errs = append(errs, fmt.Errorf("--backend %q: %v", b.addr, err))
	}
	if b.clusterID == "" {
		errs = append(errs, errors.New("--cluster-id: required with --backend"))
	}
	if b.tokenFile == "" {
		errs = append(errs, errors.New("--agent-token-file: required with --backend"))
	} else if _, err := readTokenFile(b.tokenFile); err != nil {
		errs = append(errs, fmt.Errorf("--agent-token-file: %w", err))
	}
	if (b.tlsCert == "") != (b.tlsKey == "") {
		errs = append(errs, errors.New("--backend-tls-cert and --backend-tls-key: give both or neither"))
	} else if b.tlsOn() {
		if _, err := b.tlsConfig(); err != nil {
			errs = append(errs, err)
		} else if b.tlsCert != "" {
			if _, err := tls.LoadX509KeyPair(b.tlsCert, b.tlsKey); err != nil {
				errs = append(errs, fmt.Errorf("--backend-tls-cert %s, --backend-tls-key %s: %v", b.tlsCert, b.tlsKey, err))
			}
		}
	}
	if b.keepaliveTime < 10*time.Second {
		errs = append(errs, fmt.Errorf("--backend-keepalive-time %v: expected at least 10s (gRPC's floor)", b.keepaliveTime))
	}
	if b.bufferSize < 1 {
		errs = append(errs, fmt.Errorf("--backend-buffer-size %d: must be > 0", b.bufferSize))
	}
	return errs
}

// checkBackendAddr checks host:port by its form (the name is resolved at
// every connect, not now: a backend Service may come up later).
func checkBackendAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return errors.New("expected host:port, e.g. hpa-backend.hpa-system:50051")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("port %q: expected a number from 1 to 65535", port)
	}
	return nil
}

// readTokenFile reads the agent token (trimmed); its errors never hold
// the token.
func readTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxTokenFile+1))
	if err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	if len(raw) > maxTokenFile {
		return "", fmt.Errorf("%s: larger than %d bytes", path, maxTokenFile)
	}
	tok := string(bytes.TrimSpace(raw))
	if tok == "" {
		return "", fmt.Errorf("%s: empty", path)
	}
	return tok, nil
}

// tlsConfig reads the CA file; the client certificate is read at every
// handshake (a rotated pair is used at the next connect).
func (b *agentBackendOpts) tlsConfig() (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: b.tlsServerName}
	if b.tlsCA != "" {
		pem, err := os.ReadFile(b.tlsCA)
		if err != nil {
			return nil, fmt.Errorf("--backend-tls-ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--backend-tls-ca %s: no PEM certificate in it", b.tlsCA)
		}
		c.RootCAs = pool
	}
	if b.tlsCert != "" {
		cert, key := b.tlsCert, b.tlsKey
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			kp, err := tls.LoadX509KeyPair(cert, key)
			if err != nil {
				return nil, fmt.Errorf("--backend-tls-cert %s: %w", cert, err)
			}
			return &kp, nil
		}
	}
	return c, nil
}

// newLink builds the link (nil without --backend).
func (b *agentBackendOpts) newLink(cfg *rest.Config, reg prometheus.Registerer, logger *slog.Logger) (*backendlink.Link, error) {
	if b.addr == "" {
		return nil, nil
	}
	info := &agentv1.ClusterInfo{}
	if dc, err := discovery.NewDiscoveryClientForConfig(cfg); err == nil {
		if v, err := dc.ServerVersion(); err == nil {
			info.KubernetesVersion = v.GitVersion
		}
	}
	instance := os.Getenv("POD_NAME")
	if instance == "" {
		instance, _ = os.Hostname()
	}
	instance += "/" + time.Now().UTC().Format(time.RFC3339Nano)
	tokenFile := b.tokenFile
	o := backendlink.Options{
		Addr: b.addr, ClusterID: b.clusterID,
		Token:        func() (string, error) { return readTokenFile(tokenFile) },
		AgentVersion: version, AgentInstance: instance, ClusterInfo: info,
		BufferSize: b.bufferSize, KeepaliveTime: b.keepaliveTime,
		Registerer: reg, Logger: logger,
	}
	if b.tlsOn() {
		o.TLS = b.tlsConfig
	}
	return backendlink.New(o)
}

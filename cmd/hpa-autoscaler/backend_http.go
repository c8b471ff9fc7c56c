package main

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/externalscaler"
)

// The external scaler serves /metrics, /healthz and /readyz on a listener
// of its own (externalscaler.ServeOptions.HTTP) and takes no other
// handler, so serve puts a front server on --http-addr: /api/v1/ goes to
// the backend's API, every other path to the external scaler's server,
// which listens on an in-memory listener (pipeListener) and answers as it
// did on the port.

// pipeListener is a net.Listener whose connections are net.Pipe ends
// dialed in process. Its Addr is the front server's, so the external
// scaler's "serving" line names the real port.
type pipeListener struct {
	addr   net.Addr
	conns  chan net.Conn
	once   sync.Once
	closed chan struct{}
}

func newPipeListener(addr net.Addr) *pipeListener {
	return &pipeListener{addr: addr, conns: make(chan net.Conn), closed: make(chan struct{})}
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.closed:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.closed) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return l.addr }

// dial hands the listener one end of a new pipe.
func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.closed:
	case <-ctx.Done():
	}
	_ = client.Close()
	_ = server.Close()
	return nil, errors.New("the external scaler's HTTP server is not accepting")
}

// frontOptions configure the front server.
type frontOptions struct {
	// TLS is the port's TLS; nil: plain HTTP.
	TLS *servingTLS
	// Metrics serves /metrics (--http-metrics).
	Metrics bool
	// Logger gets the server's own errors (failed handshakes) at debug.
	Logger *slog.Logger
}

// frontHandler routes /api/v1/ to api and the rest to inner's server.
// With mTLS (o.TLS with a client CA), every path but the probes needs a
// verified client certificate: kubelet's probes present none.
func frontHandler(api http.Handler, inner *pipeListener, o frontOptions) http.Handler {
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(&url.URL{Scheme: "http", Host: "external-scaler"})
			r.Out.Host = r.In.Host
		},
		Transport: &http.Transport{DialContext: inner.dial, MaxIdleConns: 4, IdleConnTimeout: 30 * time.Second},
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			// The inner server has stopped: the process is shutting down.
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
		},
	}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", api)
	mux.Handle("/", proxy)
	if !o.Metrics {
		mux.Handle("/metrics", http.NotFoundHandler())
	}
	if o.TLS == nil {
		return mux
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if o.TLS.clientCertNeeded() && !isProbe(r) && (r.TLS == nil || len(r.TLS.VerifiedChains) == 0) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = w.Write([]byte(`{"code":"unauthenticated","message":"a client certificate signed by --tls-client-ca is required"}` + "\n"))
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// isProbe reports whether r is a kubelet probe, which may come without a
// client certificate.
func isProbe(r *http.Request) bool {
	return r.Method == http.MethodGet && (r.URL.Path == "/healthz" || r.URL.Path == "/readyz")
}

// serveFront serves h on lis until ctx ends, then drains until the time
// deadline returns (read once ctx has ended).
func serveFront(ctx context.Context, lis net.Listener, h http.Handler, deadline func() time.Time, logger *slog.Logger) <-chan error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	if logger != nil {
		srv.ErrorLog = slog.NewLogLogger(logger.Handler(), slog.LevelDebug)
	}
	errc := make(chan error, 1)
	go func() {
		err := srv.Serve(lis)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		errc <- err
	}()
	done := make(chan error, 1)
	go func() {
		select {
		case <-ctx.Done():
		case err := <-errc:
			done <- err
			return
		}
		sctx, cancel := context.WithDeadline(context.Background(), deadline())
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			_ = srv.Close()
		}
		done <- <-errc
	}()
	return done
}

// servingTLS is the TLS of serve's two ports over --tls-cert, --tls-key
// and --tls-client-ca: each port's configuration re-reads the files when
// they change (externalscaler.ServerTLSConfig, checked at each
// handshake), and a configuration reload swaps the files themselves.
type servingTLS struct {
	logger     *slog.Logger
	grpc, http atomic.Pointer[tls.Config]
	// mtls: a client CA is set, so the HTTP port needs a verified client
	// certificate beyond the probes.
	mtls atomic.Bool
}

// newServingTLS loads the files; an error names them.
func newServingTLS(files externalscaler.TLSFiles, httpClientAuth string, logger *slog.Logger) (*servingTLS, error) {
	t := &servingTLS{logger: logger}
	commit, err := t.prepare(files, httpClientAuth)
	if err != nil {
		return nil, err
	}
	commit()
	return t, nil
}

// prepare loads the files and returns the function that puts them in
// use for the next handshakes of both ports.
func (t *servingTLS) prepare(files externalscaler.TLSFiles, httpClientAuth string) (commit func(), err error) {
	g, err := externalscaler.ServerTLSConfig(files, externalscaler.TLSConfigOptions{}, t.logger)
	if err != nil {
		return nil, err
	}
	// Probes present no certificate: unless the operator asks for the
	// handshake to require one, it only verifies one given, and
	// frontHandler refuses what is not a probe without one.
	auth := tls.VerifyClientCertIfGiven
	if httpClientAuth == httpAuthRequire {
		auth = tls.RequireAndVerifyClientCert
	}
	h, err := externalscaler.ServerTLSConfig(files, externalscaler.TLSConfigOptions{NextProtos: []string{"h2", "http/1.1"}, ClientAuth: auth}, t.logger)
	if err != nil {
		return nil, err
	}
	return func() {
		t.grpc.Store(g)
		t.http.Store(h)
		t.mtls.Store(files.ClientCAFile != "")
	}, nil
}

func (t *servingTLS) clientCertNeeded() bool { return t.mtls.Load() }

// grpcConfig and httpConfig are the ports' configurations, each handshake
// served by the files in use at that moment.
func (t *servingTLS) grpcConfig() *tls.Config { return current(&t.grpc) }
func (t *servingTLS) httpConfig() *tls.Config { return current(&t.http) }

func current(p *atomic.Pointer[tls.Config]) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
			return p.Load().GetConfigForClient(h)
		},
	}
}

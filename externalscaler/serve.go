package externalscaler

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
)

// DefaultShutdownTimeout bounds the graceful part of a shutdown.
const DefaultShutdownTimeout = 10 * time.Second

// stopGrace is how long Serve waits, after cutting the calls still open at
// the shutdown deadline, for their handlers to return.
const stopGrace = 500 * time.Millisecond

// ServeOptions configure Serve.
type ServeOptions struct {
	// GRPC is the listener of the gRPC service (required).
	GRPC net.Listener
	// HTTP is the listener of /metrics, /healthz and /readyz (optional).
	HTTP net.Listener
	// TLS turns on TLS (and mTLS with a client CA) for gRPC.
	TLS TLSFiles
	// TLSConfig, when set, is the gRPC listener's TLS configuration in
	// place of one built from TLS (which then only names the files in the
	// serving line): serve swaps the files it reads on a reload.
	TLSConfig *tls.Config
	// GRPCOptions are more gRPC server options (keepalive, stream
	// limits), applied after the service's own.
	GRPCOptions []grpc.ServerOption
	// Gatherer is what /metrics serves; nil serves an empty registry.
	Gatherer prometheus.Gatherer
	// Register, when set, registers more services on the gRPC server
	// (serve's AgentService), next to the external scaler, the health
	// service and reflection (which lists them too).
	Register func(grpc.ServiceRegistrar)
	// ShutdownTimeout bounds the drain: calls in flight get until then to
	// finish, then they are cut, and Serve returns at most stopGrace later
	// (default 10s). The HTTP server drains within the same deadline.
	ShutdownTimeout time.Duration
}

// Serve runs the gRPC service (with the standard health service and server
// reflection) and the HTTP endpoints until ctx ends or a listener fails.
// Then it stops gracefully: /readyz and the health service report
// NOT_SERVING, streams end, calls in flight get ShutdownTimeout to finish,
// and whatever is left is cut; it returns by ShutdownTimeout plus
// stopGrace (half a second) whatever is still running. It closes the
// listeners, not the Server: call CloseContext with the rest of the drain's
// time.
func (s *Server) Serve(ctx context.Context, o ServeOptions) error {
	if o.GRPC == nil {
		return errors.New("serve: no gRPC listener")
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.Gatherer == nil {
		o.Gatherer = prometheus.NewRegistry()
	}
	gopts := s.GRPCOptions()
	if o.TLSConfig != nil {
		gopts = append(gopts, grpc.Creds(credentials.NewTLS(o.TLSConfig)))
	} else if o.TLS.Enabled() {
		creds, err := ServerCredentials(o.TLS, s.log)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		gopts = append(gopts, grpc.Creds(creds))
	}
	gopts = append(gopts, o.GRPCOptions...)
	g := grpc.NewServer(gopts...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(g, hs)
	reflection.Register(g)
	s.Register(g)
	if o.Register != nil {
		o.Register(g)
	}

	var ready atomic.Bool
	var hsrv *http.Server
	if o.HTTP != nil {
		hsrv = &http.Server{
			Handler:           httpHandler(o.Gatherer, &ready),
			ReadHeaderTimeout: 10 * time.Second,
		}
	}

	// Ready before serving: the listeners are bound, so a call that comes
	// in at once waits in the backlog and is served, and a health check
	// never sees a service it does not know yet.
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus(pb.ExternalScaler_ServiceDesc.ServiceName, healthpb.HealthCheckResponse_SERVING)
	ready.Store(true)

	var wg sync.WaitGroup
	errc := make(chan error, 2)
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := g.Serve(o.GRPC); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			errc <- fmt.Errorf("serve gRPC on %s: %w", o.GRPC.Addr(), err)
		}
	}()
	if hsrv != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := hsrv.Serve(o.HTTP); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve HTTP on %s: %w", o.HTTP.Addr(), err)
			}
		}()
	}
	attrs := []any{"grpc", o.GRPC.Addr().String(), "tls", o.TLS.CertFile != "" || o.TLSConfig != nil, "mtls", o.TLS.ClientCAFile != ""}
	if o.HTTP != nil {
		attrs = append(attrs, "http", o.HTTP.Addr().String())
	}
	s.log.Info("external scaler serving", attrs...)

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
	}

	s.log.Info("external scaler shutting down", "timeout", o.ShutdownTimeout)
	// One wall-clock deadline for the whole drain, not a decision: real
	// time.
	deadline := time.Now().Add(o.ShutdownTimeout)
	ready.Store(false)
	hs.Shutdown()
	s.Shutdown()
	stopped := make(chan struct{})
	go func() {
		g.GracefulStop()
		close(stopped)
	}()
	httpDone := make(chan struct{})
	go func() {
		defer close(httpDone)
		if hsrv == nil {
			return
		}
		sctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		if err := hsrv.Shutdown(sctx); err != nil {
			_ = hsrv.Close()
		}
	}()
	timer := time.NewTimer(time.Until(deadline))
	select {
	case <-stopped:
	case <-timer.C:
		s.log.Warn("graceful stop timed out; cutting open calls")
		// Stop cancels every call and waits for the handlers, which
		// return once their call is cut; a handler that does not is left
		// behind after stopGrace.
		go g.Stop()
		cut := time.NewTimer(stopGrace)
		select {
		case <-stopped:
		case <-cut.C:
			s.log.Warn("calls still running after being cut; not waiting for them", "waited", stopGrace)
		}
		cut.Stop()
	}
	timer.Stop()
	<-httpDone
	served := make(chan struct{})
	go func() {
		wg.Wait()
		close(served)
	}()
	select {
	case <-served:
	case <-time.After(stopGrace):
		s.log.Warn("listeners still serving after the stop; not waiting for them", "waited", stopGrace)
		return serveErr
	}
	close(errc)
	errs := []error{serveErr}
	for err := range errc {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// httpHandler serves /metrics, /healthz (the process answers) and /readyz
// (the gRPC service accepts calls).
func httpHandler(g prometheus.Gatherer, ready *atomic.Bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	return mux
}

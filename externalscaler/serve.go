package externalscaler

import (
	"context"
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
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
)

// DefaultShutdownTimeout bounds the graceful part of a shutdown.
const DefaultShutdownTimeout = 10 * time.Second

// ServeOptions configure Serve.
type ServeOptions struct {
	// GRPC is the listener of the gRPC service (required).
	GRPC net.Listener
	// HTTP is the listener of /metrics, /healthz and /readyz (optional).
	HTTP net.Listener
	// TLS turns on TLS (and mTLS with a client CA) for gRPC.
	TLS TLSFiles
	// Gatherer is what /metrics serves; nil serves an empty registry.
	Gatherer prometheus.Gatherer
	// ShutdownTimeout bounds GracefulStop; then open calls are cut
	// (default 10s).
	ShutdownTimeout time.Duration
}

// Serve runs the gRPC service (with the standard health service and server
// reflection) and the HTTP endpoints until ctx ends or a listener fails.
// Then it stops gracefully: /readyz and the health service report
// NOT_SERVING, streams end, calls in flight get ShutdownTimeout to finish,
// and whatever is left is cut. It closes the listeners, not the Server.
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
	if o.TLS.Enabled() {
		creds, err := ServerCredentials(o.TLS, s.log)
		if err != nil {
			return fmt.Errorf("serve: %w", err)
		}
		gopts = append(gopts, grpc.Creds(creds))
	}
	g := grpc.NewServer(gopts...)
	hs := health.NewServer()
	healthpb.RegisterHealthServer(g, hs)
	reflection.Register(g)
	s.Register(g)

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
	attrs := []any{"grpc", o.GRPC.Addr().String(), "tls", o.TLS.CertFile != "", "mtls", o.TLS.ClientCAFile != ""}
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
	ready.Store(false)
	hs.Shutdown()
	s.Shutdown()
	stopped := make(chan struct{})
	go func() {
		g.GracefulStop()
		close(stopped)
	}()
	// A wall-clock bound on process exit, not a decision: real time.
	timer := time.NewTimer(o.ShutdownTimeout)
	select {
	case <-stopped:
	case <-timer.C:
		s.log.Warn("graceful stop timed out; cutting open calls")
		g.Stop()
		<-stopped
	}
	timer.Stop()
	if hsrv != nil {
		sctx, cancel := context.WithTimeout(context.Background(), o.ShutdownTimeout)
		if err := hsrv.Shutdown(sctx); err != nil {
			_ = hsrv.Close()
		}
		cancel()
	}
	wg.Wait()
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

package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"
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

// frontHandler routes /api/v1/ to api and the rest to inner's server.
func frontHandler(api http.Handler, inner *pipeListener) http.Handler {
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
	return mux
}

// serveFront serves h on lis until ctx ends, then drains until the time
// deadline returns (read once ctx has ended).
func serveFront(ctx context.Context, lis net.Listener, h http.Handler, deadline func() time.Time) <-chan error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
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

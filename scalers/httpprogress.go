package scalers

import (
	"context"
	"crypto/tls"
	"net/http/httptrace"
	"sync/atomic"
)

// HTTPProgress follows how far the HTTP exchanges made with one context
// got, so that a request that ran out of time can say where the source
// stalled: a black-holed address (connecting), a port that accepts but
// never speaks TLS (the TLS handshake), a frozen server (waiting for the
// answer), a trickling body (reading the answer). It is safe for
// concurrent use (net/http calls the hooks from its own goroutines).
type HTTPProgress struct {
	stage atomic.Int32
}

const (
	stageConnecting int32 = iota
	stageHandshake
	stageSending
	stageWaiting
	stageReading
)

// TraceHTTP returns ctx with hooks that record the progress of the
// requests made with it (and with contexts derived from it, an OAuth2
// token request included).
func TraceHTTP(ctx context.Context) (context.Context, *HTTPProgress) {
	p := &HTTPProgress{}
	set := func(s int32) { p.stage.Store(s) }
	return httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
		GetConn:              func(string) { set(stageConnecting) },
		GotConn:              func(httptrace.GotConnInfo) { set(stageSending) },
		TLSHandshakeStart:    func() { set(stageHandshake) },
		TLSHandshakeDone:     func(tls.ConnectionState, error) { set(stageSending) },
		WroteRequest:         func(httptrace.WroteRequestInfo) { set(stageWaiting) },
		GotFirstResponseByte: func() { set(stageReading) },
	}), p
}

// Stage says where the last request stands, for a timeout message ("no
// answer within 3s (timeout " + Stage() + ")"): "while connecting", "in the
// TLS handshake", "while sending the request", "after sending the request"
// (connected; the server did not answer), "while reading the answer".
func (p *HTTPProgress) Stage() string {
	if p == nil {
		return "while connecting"
	}
	switch p.stage.Load() {
	case stageHandshake:
		return "in the TLS handshake"
	case stageSending:
		return "while sending the request"
	case stageWaiting:
		return "after sending the request"
	case stageReading:
		return "while reading the answer"
	}
	return "while connecting"
}

package testenv

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Why a Kube has an egress proxy: an aggregated API (StartPodMetrics) is
// reached through a Service, and with --enable-aggregator-routing the API
// server dials the address in the Service's EndpointSlice. The API rejects
// loopback addresses there ("may not be in the loopback range"), and with
// no kube-proxy a cluster IP leads nowhere. So the API server is started
// with an EgressSelectorConfiguration that sends its "cluster" traffic
// (aggregated APIs, webhooks) through an HTTP CONNECT proxy on a Unix
// socket served from the test process; the proxy sends the documentation
// addresses (RFC 5737) that the test servers put in their EndpointSlices to
// their loopback listeners, and dials every other address as asked.

// egressConfig is the kube-apiserver's --egress-selector-config-file.
const egressConfig = `apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
- name: cluster
  connection:
    proxyProtocol: HTTPConnect
    transport:
      uds:
        udsName: %q
`

// egressProxy is the CONNECT proxy of one Kube.
type egressProxy struct {
	ln net.Listener

	mu     sync.Mutex
	routes map[string]string // host:port asked for -> host:port dialled
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// startEgressProxy serves a CONNECT proxy on the Unix socket dir/egress.sock
// and writes dir/egress.yaml, whose path it returns, for the API server.
func startEgressProxy(dir string) (*egressProxy, string, error) {
	sock := filepath.Join(dir, "egress.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		return nil, "", fmt.Errorf("egress proxy: %w", err)
	}
	config := filepath.Join(dir, "egress.yaml")
	if err := os.WriteFile(config, fmt.Appendf(nil, egressConfig, sock), 0o600); err != nil {
		_ = ln.Close()
		return nil, "", fmt.Errorf("egress proxy: %w", err)
	}
	p := &egressProxy{ln: ln, routes: map[string]string{}, conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, config, nil
}

// route makes CONNECTs to from go to to.
func (p *egressProxy) route(from, to string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.routes[from] = to
}

func (p *egressProxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return // closed
		}
		if !p.track(c) {
			_ = c.Close()
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.untrack(c)
			p.handle(c)
		}()
	}
}

// track records c so that close can end it; false once closed.
func (p *egressProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *egressProxy) untrack(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

func (p *egressProxy) handle(c net.Conn) {
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	if req.Method != http.MethodConnect {
		_, _ = io.WriteString(c, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
		return
	}
	p.mu.Lock()
	target, ok := p.routes[req.Host]
	p.mu.Unlock()
	if !ok {
		target = req.Host
	}
	up, err := net.DialTimeout("tcp", target, 10*time.Second)
	if err != nil {
		_, _ = io.WriteString(c, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	if !p.track(up) {
		_ = up.Close()
		return
	}
	defer p.untrack(up)
	_ = c.SetReadDeadline(time.Time{})
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(up, br) // br: anything read past the request
		_ = up.Close()
	}()
	_, _ = io.Copy(c, up)
	_ = c.Close()
	<-done
}

// close stops the proxy and ends its connections.
func (p *egressProxy) close() error {
	p.mu.Lock()
	p.closed = true
	for c := range p.conns {
		_ = c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

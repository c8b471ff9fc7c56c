package prometheus

import (
	"errors"
	"io"
	"net/http"
	"net/url"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// requestEditor adds what the metadata asks for to each request the
// client_golang client makes: query parameters, custom headers and
// credentials. Only requests to the configured server get them, so a
// redirect to another host never carries a credential.
type requestEditor struct {
	next    http.RoundTripper
	host    string
	params  url.Values
	headers map[string]string
	auth    *scalers.HTTPAuth
}

func (e *requestEditor) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Host == e.host {
		r := req.Clone(req.Context())
		if len(e.params) > 0 {
			q := r.URL.Query()
			for k, vs := range e.params {
				q[k] = vs
			}
			r.URL.RawQuery = q.Encode()
		}
		for k, v := range e.headers {
			r.Header.Add(k, v)
		}
		if err := e.auth.Apply(r); err != nil {
			if req.Body != nil {
				_ = req.Body.Close()
			}
			return nil, err
		}
		req = r
	}
	resp, err := e.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	resp.Body = &limitedBody{rc: resp.Body, left: MaxAnswerBytes}
	return resp, nil
}

var errAnswerTooLarge = errors.New("answer too large")

// limitedBody fails a read once more than left bytes have come.
type limitedBody struct {
	rc   io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells a body of exactly the limit from a longer one.
		var one [1]byte
		n, err := b.rc.Read(one[:])
		if n > 0 {
			return 0, errAnswerTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error { return b.rc.Close() }

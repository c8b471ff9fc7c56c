package prometheus

import (
	"errors"
	"io"
	"net/http"
	"net/url"
)

// addParamsAndHeaders adds the query parameters and custom headers the
// metadata asks for to a request the client_golang client makes to the
// server (scalers.HTTPSource adds the credentials after it).
func addParamsAndHeaders(r *http.Request, params url.Values, headers map[string]string) {
	if len(params) > 0 {
		q := r.URL.Query()
		for k, vs := range params {
			q[k] = vs
		}
		r.URL.RawQuery = q.Encode()
	}
	for k, v := range headers {
		r.Header.Add(k, v)
	}
}

// limitAnswers caps the body of every answer at MaxAnswerBytes:
// client_golang reads whole bodies itself.
type limitAnswers struct {
	next http.RoundTripper
}

func (t *limitAnswers) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(req)
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

package natsjetstream

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// FuzzParseMetadata: any metadata is accepted with a /jsz URL net/http can
// send, or refused with an ErrInvalidConfig that never shows the
// endpoint's password; what ParseMetadata accepts New builds.
func FuzzParseMetadata(f *testing.F) {
	for _, seed := range []string{
		"natsServerMonitoringEndpoint=localhost:8222\naccount=$G\nstream=mystream\nconsumer=pull_consumer",
		"natsServerMonitoringEndpoint=u:pw-secret@nats.nats:8222\naccountID=$G\nstream=s\nconsumer=c\nuseHttps=true",
		"natsServerMonitoringEndpoint=u:pw-secret@na ts:8222/x\naccount=a\nstream=s\nconsumer=c\nlagThreshold=0",
		"natsServerMonitoringEndpoint=[::1]:8222\naccount=a&b=c\nstream=s\nconsumer=c\nactivationLagThreshold=Y\ntimeout=100",
		"natsServerMonitoringEndpoint=http://h:1\nstream=s",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		md := scalertest.LinesToMap(in)
		m, err := ParseMetadata(md)
		if err != nil {
			if !errors.Is(err, scalers.ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			if strings.Contains(err.Error(), "pw-secret") && !passwordElsewhere(md) {
				t.Fatalf("error shows the password: %v", err)
			}
			return
		}
		if m.monitoring == nil || m.LagThreshold <= 0 || m.Stream == "" || m.Consumer == "" || m.AccountID == "" {
			t.Fatalf("accepted invalid metadata: %+v", m)
		}
		if err := scalers.ValidateHTTPURL("u", m.monitoring.String()); err != nil {
			t.Fatalf("accepted a URL net/http refuses: %v", err)
		}
		if q := m.monitoring.Query(); q.Get("acc") != m.AccountID || q.Get("consumers") != "true" || q.Get("config") != "true" || len(q) != 3 {
			t.Fatalf("query %v", q)
		}
		// (NodeURLByName of an IP literal, n.[::1]:8222, does not parse:
		// the request is then an error, as in KEDA.)
		for _, u := range []string{VarzURL(m.monitoring, ""), NodeURL(m.monitoring, "h")} {
			if _, err := url.Parse(u); err != nil {
				t.Fatalf("node URL %q: %v", u, err)
			}
		}
		s, err := New(t.Context(), scalers.Config{Metadata: md})
		if err != nil {
			t.Fatalf("ParseMetadata accepted what New refuses: %v", err)
		}
		_ = s.Close()
	})
}

// passwordElsewhere reports whether the marker is in a key, in a value
// other than the endpoint's, or in the endpoint but not in its user info
// (before an '@').
func passwordElsewhere(md map[string]string) bool {
	ep := md["natsServerMonitoringEndpoint"]
	if i := strings.Index(ep, "pw-secret"); i >= 0 && i > strings.LastIndex(ep, "@") {
		return true
	}
	for k, v := range md {
		if strings.Contains(k, "pw-secret") || (k != "natsServerMonitoringEndpoint" && strings.Contains(v, "pw-secret")) {
			return true
		}
	}
	return false
}

// FuzzParseJsz: any answer decodes or is an ErrAnswer (also ErrNoData),
// never a panic; a decoded answer gives a lag of 0 or more for any
// consumer Find returns.
func FuzzParseJsz(f *testing.F) {
	for _, seed := range []string{
		`{"meta_cluster":{"cluster_size":3},"account_details":[{"name":"$G","id":"$G","stream_detail":[{"name":"mystream","consumer_detail":[{"name":"pull_consumer","num_pending":7,"num_ack_pending":3,"cluster":{"leader":"n1"}}]}]}]}`,
		`{invalidJSON}`, `[]`, `null`, ``, `{} {}`,
		`{"account_details":[{"name":"$G","stream_detail":[{"name":"mystream","consumer_detail":[{"name":"pull_consumer","num_pending":-9223372036854775808,"num_ack_pending":9223372036854775807}]}]}]}`,
		`{"account_details":[{"stream_detail":[{"consumer_detail":[{"num_pending":1e30}]}]}]}`,
	} {
		f.Add([]byte(seed))
	}
	m, err := ParseMetadata(md())
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		j, err := ParseJsz(body)
		if err != nil {
			if !errors.Is(err, ErrAnswer) || !errors.Is(err, scalers.ErrNoData) {
				t.Fatalf("error %v does not wrap ErrAnswer and ErrNoData", err)
			}
			return
		}
		if c, found := Find(j, &m); found == FoundConsumer {
			if l := Lag(c); l < 0 {
				t.Fatalf("lag %d", l)
			}
		}
		if _, err := ParseVarz(body); err != nil && !errors.Is(err, ErrAnswer) {
			t.Fatalf("varz error %v", err)
		}
	})
}

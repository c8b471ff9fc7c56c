package prometheus

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func FuzzParseMetadata(f *testing.F) {
	for _, seed := range []string{
		"serverAddress=http://localhost:9090\nquery=up\nthreshold=100",
		"serverAddress=http://localhost:9090\nquery=up\nthreshold=100\nnamespace=foo\nignoreNullValues=false\nactivationThreshold=50",
		"serverAddress=https://u:p@localhost:9090/prom\nquery=sum(x)\nthreshold=0.5\ntimeout=1500\nunsafeSsl=true",
		"serverAddress=http://h\nquery=up\nthreshold=1\ncustomHeaders=key1=value1,key2=value2\nqueryParameters=a=b,c=d",
		"serverAddress=http://h\nquery=up\nthreshold=1\ncustomHeaders=key1=value1,key2",
		"serverAddress=http://h\nquery=up\nthreshold=1\nauthModes=tls,basic\nusername=u\npassword=p\ncert=c\nkey=k",
		"serverAddress=http://h\nquery=up\nthreshold=1\nauthModes=bearer\nbearerToken=t\ntimeout=-1",
		"serverAddress=http://h\nquery=up\nthreshold=1\nauthModes=custom\ncustomAuthHeader=X\ncustomAuthValue=v",
		"serverAddress=::\nquery=\nthreshold=NaN",
		"serverAddress=http://h\nquery=up\nthreshold=1\nauthModes=oauth\noauthTokenURI=https://idp/token\nclientID=c\nclientSecret=s\nscopes=a,b\nendpointParams=audience=x&r=%2F",
		"serverAddress=http://h\nquery=up\nthreshold=1\nauthModes=oauth,tls\noauthTokenURI=http://idp\nclientID=c\ncert=c\nkey=k\nendpointParams=a=%zz;b",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		m, err := ParseMetadata(scalertest.LinesToMap(in))
		if err != nil {
			if !errors.Is(err, scalers.ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			return
		}
		// !(x > 0) rather than x <= 0: a NaN threshold must fail too.
		if !(m.Threshold > 0) || m.Timeout < 0 || m.Query == "" || math.IsInf(m.Threshold, 0) || math.IsNaN(m.ActivationThreshold) {
			t.Fatalf("accepted invalid metadata: %+v", m)
		}
		s, err := NewWithOptions(t.Context(), scalers.Config{Metadata: scalertest.LinesToMap(in)}, Options{Transport: scalertest.Answer(200, http.Header{"Content-Type": {"application/json"}}, vectorBody("1"))})
		if err != nil {
			t.Fatalf("ParseMetadata accepted what New refuses: %v", err)
		}
		_ = s.Close()
	})
}

// FuzzAnswer feeds arbitrary answers through the client library's decoding
// and SampleValue: never a panic, every error wraps a sentinel, every value
// is finite.
func FuzzAnswer(f *testing.F) {
	for _, seed := range []struct {
		status int
		body   string
	}{
		{200, vectorBody("1")},
		{200, vectorBody()},
		{200, vectorBody("NaN")},
		{200, vectorBody("1", "2")},
		{200, `{"status":"success","data":{"resultType":"scalar","result":[1,"3"]}}`},
		{200, `{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"1"]]}]}}`},
		{200, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{"count":"2","sum":"3","buckets":[[0,"0","1","2"]]}]}]}}`},
		{200, `{"status":"success","data":{"resultType":"string","result":[1,"x"]}}`},
		{200, `{}`},
		{200, `{"status":"error","errorType":"execution","error":"boom"}`},
		{400, `{"status":"error","errorType":"bad_data","error":"parse error"}`},
		{422, `{"status":"success"}`},
		{500, `<html>`},
		{204, ``},
	} {
		f.Add(seed.status, seed.body, false)
	}
	f.Fuzz(func(t *testing.T, status int, body string, ignoreNull bool) {
		if status < 100 || status > 999 {
			status = 200
		}
		ign := "false"
		if ignoreNull {
			ign = "true"
		}
		s, err := NewWithOptions(t.Context(), scalers.Config{Metadata: md("ignoreNullValues", ign)}, Options{Transport: scalertest.Answer(status, http.Header{"Content-Type": {"application/json"}}, body)})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		v, err := s.Value(t.Context())
		if err != nil {
			if !errors.Is(err, scalers.ErrUnavailable) && !errors.Is(err, scalers.ErrNoData) && !errors.Is(err, scalers.ErrInvalidConfig) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("got non-finite value %v", v)
		}
	})
}

// secretKeys are the keys of a prometheus trigger that may carry a secret.
var secretKeys = append(scalertest.HTTPAuthSecretKeys(authModes...),
	scalertest.SecretKey{Key: "serverAddress", Kind: scalertest.SecretURL},
	scalertest.SecretKey{Key: "customHeaders", Kind: scalertest.SecretMapValue},
	scalertest.SecretKey{Key: "queryParameters", Kind: scalertest.SecretMapValue},
)

// FuzzSecretNeverShown places a known secret in every key that may carry
// one, around fuzzed metadata, and fails if it appears in an error (of the
// parse, or of a query to a server that echoes the request, the token
// request included) or in a log line.
func FuzzSecretNeverShown(f *testing.F) {
	for pos := range secretKeys {
		f.Add(pos, "", "http://|prom:9090")
	}
	for _, seed := range []struct {
		in, wrap string
	}{
		{"", "http://u:|@[::1"},    // a URL that does not parse
		{"", "http://h/|x"},        // the user info in the path
		{"", "|\r\nX-Injected: 1"}, // a header value net/http refuses
		{"timeout=1h", "ftp://|h:99999"},
		{"authModes=oauth,tls\noauthTokenURI=http://idp/t\nclientID=c", "|"},
		{"authModes=basic,custom\nusername=u\ncustomAuthHeader=X\ncustomAuthValue=v", "a|b"},
	} {
		for pos := range secretKeys {
			f.Add(pos, seed.in, seed.wrap)
		}
	}
	base := map[string]string{"serverAddress": "http://prom:9090", "query": "up", "threshold": "1",
		"oauthTokenURI": "http://idp/token", "clientID": "c"}
	echo := scalertest.Echo(422, func(echo string) string {
		b, _ := json.Marshal(map[string]string{"status": "error", "errorType": "execution", "error": echo})
		return string(b)
	})
	f.Fuzz(func(t *testing.T, pos int, in, wrap string) {
		md := scalertest.SecretMetadata(base, secretKeys, pos, in, wrap)
		logs := &scalertest.LogLines{}
		s, err := NewWithOptions(t.Context(), scalers.Config{Metadata: md, Logger: slog.New(logs)}, Options{Transport: echo})
		if err == nil {
			_, err = s.Metrics(t.Context())
			_ = s.Close()
		}
		scalertest.CheckNoSecret(t, err, logs)
	})
}

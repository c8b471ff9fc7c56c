package scalertest

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestLinesToMap(t *testing.T) {
	got := LinesToMap("a=1\nb=x=y\nc\n=v")
	want := map[string]string{"a": "1", "b": "x=y", "c": "", "": "v"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("LinesToMap (-want +got):\n%s", diff)
	}
}

func TestKEDATrigger(t *testing.T) {
	md := KEDATrigger(t, "prometheus.yaml")
	if md["scalerType"] != "prometheus" || md["scalerAddress"] == "" {
		t.Errorf("got scalerType %q, scalerAddress %q; want prometheus and an address", md["scalerType"], md["scalerAddress"])
	}
}

func TestStandInFiles(t *testing.T) {
	md := map[string]string{"caFile": "/etc/certs/ca.crt", "passwordFile": "/var/run/pw", "query": "up"}
	dir := StandInFiles(t, md, "stand-in")
	if md["query"] != "up" {
		t.Errorf("query: got %q, want it untouched", md["query"])
	}
	for _, k := range []string{"caFile", "passwordFile"} {
		b, err := os.ReadFile(md[k])
		if err != nil || string(b) != "stand-in" {
			t.Errorf("%s %q: read %q, %v; want %q", k, md[k], b, err, "stand-in")
		}
		if filepath.Dir(md[k]) != dir {
			t.Errorf("%s %q: not in the directory returned, %q", k, md[k], dir)
		}
	}
}

func TestFileDirs(t *testing.T) {
	got := FileDirs(map[string]string{"caFile": "/etc/certs/ca.crt", "keyFile": " /etc/certs/tls.key ", "passwordFile": "/var/run/pw",
		"source.a.tokenFile": "/var/run/t", "emptyFile": " ", "query": "/not/a/file"})
	if diff := cmp.Diff([]string{"/etc/certs", "/var/run"}, got); diff != "" {
		t.Errorf("FileDirs (-want +got):\n%s", diff)
	}
}

func TestWithKeys(t *testing.T) {
	base := map[string]string{"a": "1", "b": "2"}
	got := WithKeys(base, "a", "", "c", "3", "b", "20")
	if diff := cmp.Diff(map[string]string{"b": "20", "c": "3"}, got); diff != "" {
		t.Errorf("WithKeys (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]string{"a": "1", "b": "2"}, base); diff != "" {
		t.Errorf("base changed (-want +got):\n%s", diff)
	}
}

func TestAnswer(t *testing.T) {
	rt := Answer(http.StatusTeapot, http.Header{"Content-Type": {"text/plain"}}, "body")
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://x/", strings.NewReader("sent"))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil || string(b) != "body" || resp.StatusCode != http.StatusTeapot || resp.Header.Get("Content-Type") != "text/plain" {
		t.Errorf("got %d %v %q, %v; want 418 text/plain %q", resp.StatusCode, resp.Header, b, err, "body")
	}
	if resp, _ := Answer(http.StatusOK, nil, "").RoundTrip(req); resp.Header == nil {
		t.Error("with a nil header: got a nil response header, want an empty one")
	}
}

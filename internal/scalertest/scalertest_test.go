package scalertest

import (
	"os"
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
	StandInFiles(t, md, "stand-in")
	if md["query"] != "up" {
		t.Errorf("query: got %q, want it untouched", md["query"])
	}
	for _, k := range []string{"caFile", "passwordFile"} {
		b, err := os.ReadFile(md[k])
		if err != nil || string(b) != "stand-in" {
			t.Errorf("%s %q: read %q, %v; want %q", k, md[k], b, err, "stand-in")
		}
	}
}

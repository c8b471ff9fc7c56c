package redis

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

const fuzzSecret = "Fz-SeCrEt-9731"

// fuzzMetadata decodes "key=value" lines into metadata. Paths of <key>File
// keys are confined to dir so the fuzzer never reads the machine's files.
// The password is always the marker fuzzSecret, which must never appear in
// an error (unless another value holds it too).
func fuzzMetadata(data, dir string) (md map[string]string, checkSecret bool) {
	md = map[string]string{}
	checkSecret = !strings.Contains(data, fuzzSecret)
	for line := range strings.SplitSeq(data, "\n") {
		k, v, _ := strings.Cut(line, "=")
		if strings.HasSuffix(k, "File") {
			v = filepath.Join(dir, filepath.Base(v))
		}
		md[k] = v
	}
	md["password"] = fuzzSecret
	delete(md, "passwordFile")
	return md, checkSecret
}

func checkFuzzError(t *testing.T, err error, checkSecret bool) {
	t.Helper()
	var me *scalers.MetadataError
	if !errors.As(err, &me) || !errors.Is(err, scalers.ErrInvalidConfig) {
		t.Fatalf("error %T %v is not a *scalers.MetadataError wrapping ErrInvalidConfig", err, err)
	}
	if checkSecret && strings.Contains(err.Error(), fuzzSecret) {
		t.Fatalf("error %q reveals the password", err)
	}
}

func checkFuzzConn(t *testing.T, m *connMeta) {
	t.Helper()
	if len(m.addrs) == 0 {
		t.Fatalf("parsed without an address: %+v", m)
	}
	for _, a := range m.addrs {
		if err := checkAddress(a); err != nil {
			t.Fatalf("accepted bad address %q", a)
		}
	}
	if m.topo == sentinel && m.SentinelMaster == "" {
		t.Fatalf("sentinel parsed without sentinelMaster")
	}
	if m.DatabaseIndex < 0 {
		t.Fatalf("negative databaseIndex %d", m.DatabaseIndex)
	}
	if k := clientKey(m, scalers.DefaultSourceTimeout); strings.Contains(k, fuzzSecret) {
		t.Fatalf("client key holds the password in clear")
	}
}

func checkMetricName(t *testing.T, name string) {
	t.Helper()
	if name == "" || len(name) > 200 || strings.Trim(name, "abcdefghijklmnopqrstuvwxyz0123456789-") != "" {
		t.Fatalf("bad metric name %q", name)
	}
}

var fuzzSeeds = []string{
	"address=redis:6379\nlistName=jobs",
	"address=redis:6379\nlistName=jobs\nlistLength=10\nactivationListLength=2\ndatabaseIndex=1\nenableTLS=true\ntls=disable",
	"hosts=a, b, c\nports=1, 2, 3\nlistName=jobs\nsentinelMaster=m",
	"host=a\nport=99999\nlistName=\nlistLength=AA",
	"addressFromEnv=:7001\nstream=s\nconsumerGroup=g\nlagCount=5\nactivationLagCount=3",
	"address=a:1\nstream=s\nconsumerGroup=g\npendingEntriesCount=0",
	"address=a:1\nstream=s\nstreamLength=-1\nlagCount=-2",
	"address=a:1\nlistName=x\nenableTLS=true\ncert=PEM\ncaFile=ca.crt",
	"address=a:1\nlistName=x\nsentinelPasswordFile=../../etc/passwd",
}

func FuzzListMetadata(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	dir := f.TempDir()
	files, err := scalers.NewFileAccess(dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data string) {
		md, checkSecret := fuzzMetadata(data, dir)
		for _, topo := range []topology{standalone, cluster, sentinel} {
			m, err := parseListMeta(md, topo, scalers.Limits{}, files)
			if err != nil {
				checkFuzzError(t, err, checkSecret)
				continue
			}
			checkFuzzConn(t, &m.Conn)
			if m.ListLength <= 0 || strings.TrimSpace(m.ListName) == "" {
				t.Fatalf("accepted listLength %d, listName %q", m.ListLength, m.ListName)
			}
			checkMetricName(t, scalers.MetricName("redis", m.ListName))
		}
	})
}

func FuzzStreamsMetadata(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add(s)
	}
	dir := f.TempDir()
	files, err := scalers.NewFileAccess(dir)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data string) {
		md, checkSecret := fuzzMetadata(data, dir)
		for _, topo := range []topology{standalone, cluster, sentinel} {
			m, err := parseStreamsMeta(md, topo, scalers.Limits{}, files)
			if err != nil {
				checkFuzzError(t, err, checkSecret)
				continue
			}
			checkFuzzConn(t, &m.Conn)
			if m.target <= 0 || m.mode != chooseStreamMode(m.ConsumerGroup, m.LagCount) || m.LagCount < 0 {
				t.Fatalf("accepted mode %s target %d lagCount %d", m.mode, m.target, m.LagCount)
			}
			checkMetricName(t, scalers.MetricName("redis-streams", m.Stream))
		}
	})
}

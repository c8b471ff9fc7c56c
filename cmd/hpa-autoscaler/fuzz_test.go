package main

import (
	"context"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/test/bufconn"

	"github.com/hpa-autoscaler/hpa-autoscaler/externalscaler"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// fuzzCallBound is the client's deadline of one GetMetricSpec; a call
// that takes half of it fails the fuzz target.
const fuzzCallBound = 20 * time.Second

// fuzzSecret is placed in every secret key's value and in the user info of
// every URL key; no status message may contain it.
const fuzzSecret = "S3CR3T-fuzz-7f1a"

// Keys whose values are secrets, by the scaler types that read them as
// such (the keys marked secret in the scalers' metadata structs; a
// <key>FromEnv key is the same secret, resolved by KEDA). A key a type
// does not know is ignored by it, so the sets may be generous; but a key
// that a type reads as plain text (redis's username, its host) must not be
// listed for it, or its legitimate echo would read as a leak.
var (
	httpSecretKeys = []string{"apiKey", "bearerToken", "token", "customAuthHeader", "customAuthValue", "clientSecret", "password", "username"}
	tlsSecretKeys  = []string{"ca", "cert", "Cert", "key", "keyPassword"}
	fuzzSecretKeys = map[string][]string{
		"prometheus":  slices.Concat(httpSecretKeys, tlsSecretKeys),
		"metrics-api": slices.Concat(httpSecretKeys, tlsSecretKeys),
		"rabbitmq":    slices.Concat(httpSecretKeys, tlsSecretKeys, []string{"host"}),
		"kafka":       slices.Concat([]string{"password", "username", "clientSecret"}, tlsSecretKeys),
		"redis":       slices.Concat([]string{"password", "sentinelPassword"}, tlsSecretKeys),
	}
	// Keys whose values are URLs that may carry user info.
	fuzzURLKeys = map[string][]string{
		"prometheus":  {"serverAddress", "oauthTokenURI"},
		"metrics-api": {"url", "oauthTokenURI"},
		"rabbitmq":    {"host"},
		"kafka":       {"oauthTokenEndpointUri"},
	}
)

// family is the key of fuzzSecretKeys and fuzzURLKeys for a scaler type.
func family(typ string) string {
	if strings.HasPrefix(typ, "redis") {
		return "redis"
	}
	return typ
}

// FuzzGetMetricSpec sends GetMetricSpec with fuzzed metadata for every
// scaler type of the binary through the external scaler server (in
// process, over an in-memory gRPC connection), with a secret in every
// secret key and URL. Whatever the metadata, the server must answer (a
// panic in a factory comes back as Internal), never with Internal or
// Unknown, never with Unavailable (building does no I/O), and never with
// the secret in its message; a parse failure is InvalidArgument. The seeds
// are the triggers of examples/keda and the hostile values of issue 9.
// `go test` runs the seeds; `make fuzz` explores.
func FuzzGetMetricSpec(f *testing.F) {
	for _, md := range exampleTriggers(f) {
		f.Add(encodeMetadata(md))
	}
	for _, md := range []map[string]string{
		{"scalerType": "prometheus", "serverAddress": "http://user:pw@[::1", "query": "up", "threshold": "1"},
		{"scalerType": "prometheus", "serverAddress": "http://127.0.0.1:99999", "query": "up", "threshold": "1"},
		{"scalerType": "metrics-api", "url": "http://127.0.0.1:4294967297/m", "valueLocation": "v", "targetValue": "1"},
		{"scalerType": "metrics-api", "url": "http://127.0.0.1/m", "valueLocation": "v", "targetValue": "1", "authModes": "bearer", "bearerToken": "a\r\nb"},
		{"scalerType": "redis", "host": "[::1", "listName": "q"},
		{"scalerType": "rabbitmq", "host": "http://[::1%lo]:1/", "queueName": "q", "protocol": "http"},
		{"scalerType": "kafka", "bootstrapServers": "::1:6379", "consumerGroup": "g", "topic": "t"},
		{"scalerType": "custom", "expression": "a", "threshold": "1", "source.a.type": "prometheus", "source.a.serverAddress": "http://u:p@[::1", "source.a.query": "up"},
		{"scalerType": "redis", "listName": strings.Repeat("x", 20000)},
		{"scalerType": "prometheus", "timeout": "3600000", "serverAddress": "http://127.0.0.1:9090", "query": "up", "threshold": "1"},
	} {
		f.Add(encodeMetadata(md))
	}

	// Every <key>File is pointed at a stand-in file, in the one directory
	// the server may read (--secret-file-dir).
	files, dir := standInFiles(f)
	secretFiles, err := scalers.NewFileAccess(dir)
	if err != nil {
		f.Fatal(err)
	}
	reg, _ := newRegistry(registryOptions{secretFiles: secretFiles})
	srv, err := externalscaler.New(externalscaler.Options{Registry: reg, Limits: externalscaler.Limits{MaxScalers: 64}})
	if err != nil {
		f.Fatal(err)
	}
	lis := bufconn.Listen(1 << 20)
	served := make(chan error, 1)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { served <- srv.Serve(ctx, externalscaler.ServeOptions{GRPC: lis, ShutdownTimeout: time.Second}) }()
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return lis.DialContext(ctx) }),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() {
		_ = conn.Close()
		cancel()
		<-served
		srv.Close()
	})
	client := pb.NewExternalScalerClient(conn)

	f.Fuzz(func(t *testing.T, data string) {
		md := decodeMetadata(data)
		for _, typ := range reg.Types() {
			in := withSecrets(md, typ, files)
			in["scalerType"] = typ
			// Building does no I/O, so the answer comes at once: a
			// generous bound for a loaded machine, as a condition.
			cctx, ccancel := context.WithTimeout(context.Background(), fuzzCallBound)
			start := time.Now()
			_, err := client.GetMetricSpec(cctx, &pb.ScaledObjectRef{Namespace: "fuzz", Name: typ, ScalerMetadata: in})
			took := time.Since(start)
			ccancel()
			if took >= fuzzCallBound/2 {
				t.Fatalf("scalerType %s: GetMetricSpec took %v (%v), want an answer at once (metadata %q)", typ, took.Round(time.Millisecond), err, in)
			}
			st, _ := status.FromError(err)
			if strings.Contains(st.Message(), fuzzSecret) {
				t.Fatalf("scalerType %s: the secret is in the message %q (metadata %q)", typ, st.Message(), in)
			}
			switch st.Code() {
			case codes.OK, codes.InvalidArgument, codes.ResourceExhausted:
			default:
				t.Fatalf("scalerType %s: code %v (%q), want OK or InvalidArgument (metadata %q)", typ, st.Code(), st.Message(), in)
			}
		}
	})
}

// encodeMetadata and decodeMetadata turn metadata into one fuzzable
// string: key NUL value NUL ... (NUL never occurs in YAML values).
func encodeMetadata(md map[string]string) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(md)) {
		b.WriteString(k)
		b.WriteByte(0)
		b.WriteString(md[k])
		b.WriteByte(0)
	}
	return b.String()
}

// Strings a gRPC client can send are valid UTF-8 (grpc-go refuses to
// marshal others, and the server's unmarshalling would answer Internal
// before any handler of ours runs), so decodeMetadata makes them so.
func decodeMetadata(s string) map[string]string {
	parts := strings.Split(strings.ToValidUTF8(s, "\uFFFD"), "\x00")
	md := map[string]string{}
	for i := 0; i+1 < len(parts); i += 2 {
		md[parts[i]] = parts[i+1]
	}
	return md
}

// withSecrets returns md for type typ with fuzzSecret in every secret key
// (appended to the fuzzed value) and in the user info of every URL key,
// the secret removed from everything else (where the fuzzer may have put
// it, and where an echo is no leak), and every <key>File pointed at a
// stand-in file (a fuzzed path could name a FIFO or a device). Keys of a
// custom trigger's sources (source.<name>.<key>) are treated as keys of
// the source's type.
func withSecrets(md map[string]string, typ string, files map[string]string) map[string]string {
	out := make(map[string]string, len(md))
	for k, v := range md {
		k, v = scrub(k), scrub(v)
		leaf, fam := k, family(typ)
		if rest, ok := strings.CutPrefix(k, "source."); ok && typ == "custom" {
			if name, key, ok := strings.Cut(rest, "."); ok {
				leaf, fam = key, family(scrub(md["source."+name+".type"]))
			}
		}
		base := strings.TrimSuffix(leaf, "FromEnv")
		switch {
		case strings.HasSuffix(leaf, "File") && v != "":
			v = standIn(files, strings.TrimSuffix(leaf, "File"))
		case slices.Contains(fuzzURLKeys[fam], base):
			v = withUserInfo(v)
		case slices.Contains(fuzzSecretKeys[fam], base):
			v += fuzzSecret
		}
		out[k] = v
	}
	return out
}

// scrub removes every occurrence of fuzzSecret from s.
func scrub(s string) string {
	for strings.Contains(s, fuzzSecret) {
		s = strings.ReplaceAll(s, fuzzSecret, "")
	}
	return s
}

// withUserInfo puts user:fuzzSecret@ in front of the authority of a URL
// (making one of a value without a scheme).
func withUserInfo(v string) string {
	if scheme, rest, ok := strings.Cut(v, "://"); ok {
		return scheme + "://user:" + fuzzSecret + "@" + rest
	}
	return "http://user:" + fuzzSecret + "@" + v
}

// standInFiles writes the files a <key>File key points at: PEM for the
// TLS keys, a secret for the rest; it returns them by name and their
// directory.
func standInFiles(tb testing.TB) (map[string]string, string) {
	tb.Helper()
	pki := testenv.NewPKI(tb)
	client := pki.ClientCert(tb, "fuzz")
	dir := tb.TempDir()
	files := map[string]string{}
	for name, content := range map[string][]byte{
		"ca": pki.CAPEM, "cert": client.CertPEM, "key": client.KeyPEM, "secret": []byte(fuzzSecret),
	} {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, content, 0o600); err != nil {
			tb.Fatal(err)
		}
		files[name] = p
	}
	return files, dir
}

func standIn(files map[string]string, key string) string {
	switch key {
	case "ca", "cert", "key":
		return files[key]
	case "Cert":
		return files["cert"]
	}
	return files["secret"]
}

// exampleTriggers returns the metadata of the trigger of every
// examples/keda file, with a value for each <key>FromEnv (KEDA resolves
// them before calling us).
func exampleTriggers(tb testing.TB) []map[string]string {
	tb.Helper()
	paths, err := filepath.Glob(filepath.Join("..", "..", "examples", "keda", "*.yaml"))
	if err != nil || len(paths) == 0 {
		tb.Fatalf("no examples: %v", err)
	}
	var out []map[string]string
	for _, p := range paths {
		md := scalertest.KEDATrigger(tb, filepath.Base(p))
		for k := range md {
			if strings.HasSuffix(k, "FromEnv") {
				md[k] = "from-env-value"
			}
		}
		out = append(out, md)
	}
	return out
}

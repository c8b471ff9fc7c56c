package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	pb "github.com/kedacore/keda/v2/pkg/scalers/externalscaler"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// serveLog runs serve with args (and the environment the test set) until
// the test ends, and returns a client of its gRPC port and its JSON log
// lines so far, once it serves.
func serveLog(t *testing.T, args ...string) (pb.ExternalScalerClient, []map[string]any) {
	t.Helper()
	t.Setenv("HPA_LOG_FORMAT", "json")
	ctx, cancel := context.WithCancel(context.Background())
	var stderr syncBuffer
	codec := make(chan int, 1)
	go func() {
		codec <- run(ctx, append([]string{"serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", ""}, args...), strings.NewReader(""), &stderr, &stderr)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-codec:
			if code != 0 {
				t.Errorf("exit code %d; stderr:\n%s", code, stderr.String())
			}
		case <-time.After(30 * time.Second):
			t.Error("serve did not stop within 30s")
		}
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		var lines []map[string]any
		addr := ""
		for _, line := range strings.Split(stderr.String(), "\n") {
			var rec map[string]any
			if json.Unmarshal([]byte(line), &rec) != nil {
				continue
			}
			lines = append(lines, rec)
			if rec["msg"] == "external scaler serving" {
				addr, _ = rec["grpc"].(string)
			}
		}
		if addr != "" {
			conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = conn.Close() })
			return pb.NewExternalScalerClient(conn), lines
		}
		select {
		case code := <-codec:
			t.Fatalf("serve exited with %d; stderr:\n%s", code, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no serving line within 20s; stderr:\n%s", stderr.String())
		}
	}
}

// secretFilesLine is what the start-up log says of --secret-file-dir: the
// message and the directories.
func secretFilesLine(t *testing.T, lines []map[string]any) (string, []any) {
	t.Helper()
	for _, l := range lines {
		if msg, _ := l["msg"].(string); strings.Contains(msg, "<key>File") {
			dirs, _ := l["secretFileDirs"].([]any)
			return msg, dirs
		}
	}
	t.Fatalf("no start-up line about <key>File keys in %v", lines)
	return "", nil
}

// TestServeSecretFileDirs: through the binary's serve, a <key>File key is
// read only under a --secret-file-dir, for every type and for a custom
// trigger's sources; without the flag every one is refused, with a message
// that says how to allow it. The start-up log names the directories.
func TestServeSecretFileDirs(t *testing.T) {
	root := t.TempDir()
	dirA, dirB := filepath.Join(root, "a"), filepath.Join(root, "b")
	for _, d := range []string{dirA, dirB, filepath.Join(root, "outside")} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, content string) string {
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	inA := write(filepath.Join(dirA, "password"), "pw-a")
	inB := write(filepath.Join(dirB, "token"), "token-b")
	outside := write(filepath.Join(root, "outside", "token"), "server-token")
	if err := os.Symlink(outside, filepath.Join(dirA, "link")); err != nil {
		t.Fatal(err)
	}
	const saToken = "/var/run/secrets/kubernetes.io/serviceaccount/token"

	redisMD := func(file string) map[string]string {
		return map[string]string{"scalerType": "redis", "address": "127.0.0.1:1", "listName": "q", "passwordFile": file}
	}
	customMD := func(file string) map[string]string {
		return map[string]string{"scalerType": "custom", "expression": "q", "threshold": "1",
			"source.q.type": "prometheus", "source.q.serverAddress": "http://127.0.0.1:1", "source.q.query": "up",
			"source.q.authModes": "bearer", "source.q.bearerTokenFile": file}
	}
	type call struct {
		name string
		md   map[string]string
		want string // "" for OK, else the InvalidArgument message holds it
	}
	check := func(t *testing.T, client pb.ExternalScalerClient, calls []call) {
		t.Helper()
		for _, c := range calls {
			t.Run(c.name, func(t *testing.T) {
				_, err := client.GetMetricSpec(t.Context(), &pb.ScaledObjectRef{Namespace: "ns", Name: c.name, ScalerMetadata: c.md})
				if c.want == "" {
					if err != nil {
						t.Fatalf("GetMetricSpec: %v", err)
					}
					return
				}
				st, _ := status.FromError(err)
				if st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), c.want) {
					t.Errorf("GetMetricSpec: %v %q, want InvalidArgument with %q", st.Code(), st.Message(), c.want)
				}
				for _, secret := range []string{"pw-a", "token-b", "server-token"} {
					if strings.Contains(st.Message(), secret) {
						t.Errorf("the message %q holds the content of a file", st.Message())
					}
				}
			})
		}
	}
	notUnder := func(key, path string) string {
		return key + ` "` + path + `": not under a --secret-file-dir of the server (` + dirA + ", " + dirB + ")"
	}

	t.Run("none by default", func(t *testing.T) {
		client, lines := serveLog(t)
		msg, dirs := secretFilesLine(t, lines)
		if msg != "<key>File trigger keys are refused: no --secret-file-dir" || dirs != nil {
			t.Errorf("start-up line %q %v", msg, dirs)
		}
		off := func(key, path string) string {
			return key + ` "` + path + `": not under a --secret-file-dir of the server (none set): reading files of the server's pod is off`
		}
		check(t, client, []call{
			{"the service account token", redisMD(saToken), off("passwordFile", saToken)},
			{"a file of an allowed directory elsewhere", redisMD(inA), off("passwordFile", inA)},
			{"a custom trigger's source", customMD(inB), off("source.q.bearerTokenFile", inB)},
		})
	})
	t.Run("flags", func(t *testing.T) {
		client, lines := serveLog(t, "--secret-file-dir", dirA, "--secret-file-dir", dirB)
		msg, dirs := secretFilesLine(t, lines)
		if diff := cmp.Diff([]any{dirA, dirB}, dirs); diff != "" || msg != "<key>File trigger keys may name files under these directories only" {
			t.Errorf("start-up line %q, directories (-want +got):\n%s", msg, diff)
		}
		check(t, client, []call{
			{"under the first", redisMD(inA), ""},
			{"the service account token", redisMD(saToken), notUnder("passwordFile", saToken)},
			{"traversal", redisMD(dirA + "/../outside/token"), notUnder("passwordFile", dirA+"/../outside/token")},
			{"a symlink out", redisMD(filepath.Join(dirA, "link")), `passwordFile "` + filepath.Join(dirA, "link") + `": resolves (through a symlink) outside every --secret-file-dir of the server`},
			{"a custom trigger's source under the second", customMD(inB), ""},
			{"a custom trigger's source outside", customMD(outside), notUnder("source.q.bearerTokenFile", outside)},
		})
	})
	t.Run("environment, comma-separated", func(t *testing.T) {
		t.Setenv("HPA_SECRET_FILE_DIR", dirA+","+dirB)
		client, lines := serveLog(t)
		if _, dirs := secretFilesLine(t, lines); !cmp.Equal([]any{dirA, dirB}, dirs) {
			t.Errorf("start-up directories %v, want [%s %s]", dirs, dirA, dirB)
		}
		check(t, client, []call{
			{"under the second", redisMD(inB), ""},
			{"outside", redisMD(outside), notUnder("passwordFile", outside)},
		})
	})
}

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

func TestServeFlagErrors(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(t.TempDir(), "missing.pem")
	aFile := filepath.Join(dir, "file")
	if err := os.WriteFile(aFile, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The operating system's own words for the missing file.
	_, openErr := os.Open(missing)
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want string // the whole message on stderr, after "error: "
	}{
		{name: "address without port", args: []string{"--grpc-addr", "localhost"},
			want: `--grpc-addr "localhost": expected host:port, e.g. 127.0.0.1:9443`},
		{name: "port out of range", args: []string{"--http-addr", "127.0.0.1:70000"},
			want: `--http-addr "127.0.0.1:70000": port "70000": expected a number from 0 to 65535`},
		{name: "same address twice", args: []string{"--grpc-addr", "127.0.0.1:9000", "--http-addr", "127.0.0.1:9000"},
			want: `--http-addr "127.0.0.1:9000": same address as --grpc-addr`},
		{name: "key without certificate", args: []string{"--tls-key", "k.pem"}, want: "--tls-key needs --tls-cert"},
		{name: "client CA alone", args: []string{"--tls-client-ca", "ca.pem"},
			want: "--tls-client-ca needs --tls-cert and --tls-key (mTLS is TLS plus client certificates)"},
		{name: "missing TLS files", args: []string{"--tls-cert", missing, "--tls-key", missing},
			want: fmt.Sprintf("--tls-cert/--tls-key/--tls-client-ca: read TLS certificate %s: %v", missing, errors.Unwrap(openErr))},
		{name: "every problem at once", args: []string{"--grpc-addr", "x", "--idle-timeout", "0s", "--poll-interval", "10ms"},
			want: `--grpc-addr "x": expected host:port, e.g. 127.0.0.1:9443` + "\n--idle-timeout 0s: must be > 0\n--poll-interval 10ms: must be between 100ms and 1h"},
		{name: "source timeouts", args: []string{"--source-timeout", "0s", "--max-source-timeout", "-1s"},
			want: "--source-timeout 0s: must be > 0\n--max-source-timeout -1s: must be > 0"},
		{name: "source timeout above its cap", args: []string{"--source-timeout", "1m", "--max-source-timeout", "10s"},
			want: "--source-timeout 1m0s: more than --max-source-timeout 10s"},
		{name: "limits", args: []string{"--max-metadata-bytes", "0", "--max-metadata-value-bytes", "-1", "--max-scalers", "0",
			"--max-source-connections", "0", "--max-list-items", "0"},
			want: "--max-metadata-bytes 0: must be > 0\n--max-metadata-value-bytes -1: must be > 0\n--max-scalers 0: must be > 0\n" +
				"--max-source-connections 0: must be > 0\n--max-list-items 0: must be > 0"},
		{name: "value limit above the trigger's", args: []string{"--max-metadata-bytes", "1000", "--max-metadata-value-bytes", "2000"},
			want: "--max-metadata-value-bytes 2000: more than --max-metadata-bytes 1000"},
		{name: "limit from the environment", env: map[string]string{"HPA_MAX_SCALERS": "lots"},
			want: `HPA_MAX_SCALERS "lots": invalid argument "lots" for "--max-scalers" flag: strconv.ParseInt: parsing "lots": invalid syntax`},
		{name: "not a duration", args: []string{"--shutdown-timeout", "soon"}, want: `invalid argument "soon" for "--shutdown-timeout" flag: time: invalid duration "soon"`},
		{name: "unknown flag", args: []string{"--grpc-port", "9443"}, want: "unknown flag: --grpc-port"},
		{name: "arguments", args: []string{"extra"}, want: `serve takes no arguments, got ["extra"]`},
		{name: "bad log level", args: []string{"--log-level", "loud"}, want: `--log-level "loud": expected debug, info, warn or error`},
		{name: "from the environment", env: map[string]string{"HPA_GRPC_ADDR": "nowhere", "HPA_IDLE_TIMEOUT": "-1m"},
			want: `--grpc-addr "nowhere": expected host:port, e.g. 127.0.0.1:9443` + "\n--idle-timeout -1m0s: must be > 0"},
		{name: "secret file dirs", args: []string{"--secret-file-dir", dir, "--secret-file-dir", missing, "--secret-file-dir", aFile + ",relative"},
			want: fmt.Sprintf("--secret-file-dir %q: no such file or directory\n--secret-file-dir %q: not a directory\n--secret-file-dir \"relative\": not an absolute path", missing, aFile)},
		{name: "secret file dirs from the environment", env: map[string]string{"HPA_SECRET_FILE_DIR": dir + "," + missing},
			want: fmt.Sprintf("--secret-file-dir %q: no such file or directory", missing)},
		{name: "bad duration in the environment", env: map[string]string{"HPA_POLL_INTERVAL": "often"},
			want: `HPA_POLL_INTERVAL "often": invalid argument "often" for "--poll-interval" flag: time: invalid duration "often"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := run(t.Context(), append([]string{"serve"}, tc.args...), strings.NewReader(""), &stdout, &stderr)
			if code != 2 {
				t.Fatalf("exit code: got %d, want 2 (stderr %q)", code, stderr.String())
			}
			if diff := cmp.Diff("error: "+tc.want+"\n", stderr.String()); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for the server's logging goroutine and
// the test's reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServeRunsAndStops(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var stdout bytes.Buffer
	var stderr syncBuffer
	t.Setenv("HPA_LOG_FORMAT", "json")
	codec := make(chan int, 1)
	go func() {
		codec <- run(ctx, []string{"serve", "--grpc-addr", "127.0.0.1:0", "--http-addr", "127.0.0.1:0"}, strings.NewReader(""), &stdout, &stderr)
	}()

	// The "serving" log line carries the addresses picked.
	var serving struct{ GRPC, HTTP string }
	deadline := time.Now().Add(20 * time.Second)
	for serving.GRPC == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no serving line within 20s; stderr:\n%s", stderr.String())
		}
		select {
		case code := <-codec:
			t.Fatalf("serve exited early with %d; stderr:\n%s", code, stderr.String())
		case <-time.After(10 * time.Millisecond):
		}
		for _, line := range strings.Split(stderr.String(), "\n") {
			if strings.Contains(line, `"external scaler serving"`) {
				var rec struct {
					GRPC string `json:"grpc"`
					HTTP string `json:"http"`
				}
				if err := json.Unmarshal([]byte(line), &rec); err != nil {
					t.Fatalf("log line %q: %v", line, err)
				}
				serving.GRPC, serving.HTTP = rec.GRPC, rec.HTTP
			}
		}
	}

	conn, err := grpc.NewClient(serving.GRPC, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(t.Context(), &healthpb.HealthCheckRequest{Service: "externalscaler.ExternalScaler"})
	if err != nil || resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("health: got %v, %v; want SERVING", resp, err)
	}
	hresp, err := http.Get("http://" + serving.HTTP + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(hresp.Body)
	hresp.Body.Close()
	for _, want := range []string{"hpa_grpc_requests_total", "go_goroutines", "process_cpu_seconds_total"} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics: want %s", want)
		}
	}
	// The limits, with the flags' defaults.
	lines := strings.Split(string(body), "\n")
	for _, want := range []string{
		"hpa_scaler_cache_entries 0",
		"hpa_scaler_cache_entries_max 5000",
		`hpa_metadata_bytes_max{scope="trigger"} 32768`,
		`hpa_metadata_bytes_max{scope="value"} 16384`,
		"hpa_metadata_list_items_max 100",
		`hpa_source_timeout_seconds{bound="default"} 3`,
		`hpa_source_timeout_seconds{bound="max"} 30`,
		`hpa_source_connections{source="redis"} 0`,
		`hpa_source_connections_max{source="redis"} 1000`,
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("/metrics: want the line %q", want)
		}
	}
	http.DefaultClient.CloseIdleConnections()

	// SIGTERM cancels the context in main.
	cancel()
	select {
	case code := <-codec:
		if code != 0 {
			t.Fatalf("exit code after shutdown: got %d, want 0; stderr:\n%s", code, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop within 30s of the context ending")
	}
}

package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// TestKEDAExamples builds every trigger of every examples/keda/*.yaml with
// the binary's registry, the way the external scaler server would: each file
// must have an external trigger whose scalerType is registered and whose
// metadata is valid. Secrets are stood in for: a <key>FromEnv gets a value
// (KEDA resolves it before calling us) and a <key>File a temporary file (PEM
// for certificate keys). Building may still fail for an unreachable source
// (ErrUnavailable), never for the configuration.
func TestKEDAExamples(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "examples", "keda", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	// The stand-in files of every example are under one directory, the
	// server's --secret-file-dir.
	secretDir := t.TempDir()
	secretFiles, err := scalers.NewFileAccess(secretDir)
	if err != nil {
		t.Fatal(err)
	}
	reg, _ := newRegistry(registryOptions{secretFiles: secretFiles})
	seen := map[string]bool{}
	pki := testenv.NewPKI(t)
	client := pki.ClientCert(t, "example")
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var so struct {
				Kind string `json:"kind"`
				Spec struct {
					Triggers []struct {
						Type     string            `json:"type"`
						Metadata map[string]string `json:"metadata"`
					} `json:"triggers"`
				} `json:"spec"`
			}
			if err := yaml.UnmarshalStrict(b, &so, yaml.DisallowUnknownFields); err != nil {
				// Other fields of a ScaledObject are allowed; only the shape we read matters.
				if err := yaml.Unmarshal(b, &so); err != nil {
					t.Fatal(err)
				}
			}
			if so.Kind != "ScaledObject" || len(so.Spec.Triggers) == 0 {
				t.Fatalf("kind %q with %d triggers, want a ScaledObject with triggers", so.Kind, len(so.Spec.Triggers))
			}
			external := 0
			for _, tr := range so.Spec.Triggers {
				if tr.Type != "external" && tr.Type != "external-push" {
					continue
				}
				external++
				md := map[string]string{}
				dir, err := os.MkdirTemp(secretDir, "")
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range tr.Metadata {
					switch {
					case k == "hostFromEnv":
						// A connection URL with credentials (rabbitmq).
						md[k] = "http://user:example-secret-value@rabbitmq.shop.svc:15672/vhost"
					case strings.HasSuffix(k, "FromEnv"):
						md[k] = "example-secret-value"
					case strings.HasSuffix(k, "File"):
						content := "example-secret-value"
						switch strings.TrimSuffix(k, "File") {
						case "ca":
							content = string(pki.CAPEM)
						case "cert", "Cert":
							content = string(client.CertPEM)
						case "key":
							content = string(client.KeyPEM)
						}
						p := filepath.Join(dir, k)
						if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
							t.Fatal(err)
						}
						md[k] = p
					default:
						md[k] = v
					}
				}
				typ := md["scalerType"]
				if md["scalerAddress"] == "" || !reg.Has(typ) {
					t.Fatalf("scalerAddress %q, scalerType %q: want an address and one of %v", md["scalerAddress"], typ, reg.Types())
				}
				seen[typ] = true
				s, err := reg.New(t.Context(), scalers.Config{Type: typ, Metadata: md, Namespace: "shop", Name: "example"})
				if errors.Is(err, scalers.ErrInvalidConfig) {
					t.Fatalf("scalerType %s: %v", typ, err)
				}
				if err == nil {
					if len(s.MetricSpecs()) == 0 {
						t.Errorf("scalerType %s offers no metric", typ)
					}
					_ = s.Close()
				}
			}
			if external == 0 {
				t.Errorf("no external or external-push trigger among %d: nothing of ours to build", len(so.Spec.Triggers))
			}
		})
	}
	for _, typ := range reg.Types() {
		if !seen[typ] {
			t.Errorf("scaler type %s has no example under examples/keda", typ)
		}
	}
}

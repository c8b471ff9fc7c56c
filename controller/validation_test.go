package controller_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
)

// strict is kubectl's --validate=strict: unknown or duplicate fields are
// errors. A value option: a shared *client.CreateOptions is written by
// every Create that uses it (a race between parallel tests).
var strict = client.FieldValidation(metav1.FieldValidationStrict)

// base is a valid Scaler as a document, for the cases to break.
func base(ns string) map[string]any {
	return map[string]any{
		"apiVersion": v1.GroupVersion.String(), "kind": "Scaler",
		"metadata": map[string]any{"name": "bad", "namespace": ns},
		"spec": map[string]any{
			"targetRef": map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
			"scaling":   map[string]any{"minReplicas": int64(1), "maxReplicas": int64(5)},
			"scalerSpec": map[string]any{"type": "redis", "metadata": map[string]any{
				"address": "redis:6379", "listName": "jobs",
			}},
		},
	}
}

// at returns the map at path of doc, creating it.
func at(doc map[string]any, path ...string) map[string]any {
	m := doc
	for _, p := range path {
		next, ok := m[p].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[p] = next
		}
		m = next
	}
	return m
}

func secretRef(name string) map[string]any {
	return map[string]any{"name": name, "key": "k"}
}

// TestValidationRules applies one Scaler per CEL rule of the CRD that
// breaks it, and checks the API server refuses it with the rule's
// message; every rule of config/crd/ has a case.
func TestValidationRules(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	trigger := func(doc map[string]any) map[string]any { return at(doc, "spec", "scalerSpec") }
	tests := []struct {
		msg    string
		break_ func(doc map[string]any)
	}{
		{"exactly one of scalerSpec (one trigger) or triggers (a list) must be set", func(d map[string]any) {
			at(d, "spec")["triggers"] = []any{map[string]any{"name": "a", "type": "redis", "metadata": map[string]any{"listName": "x"}}}
		}},
		{"minReplicas must not be greater than maxReplicas", func(d map[string]any) { at(d, "spec", "scaling")["minReplicas"] = int64(6) }},
		{"exactly one of resource, kafka, prometheus, custom or metadata must be set", func(d map[string]any) {
			trigger(d)["prometheus"] = map[string]any{"serverURL": "http://p", "query": "up", "threshold": 1.0}
		}},
		{"the resource block needs type resource", func(d map[string]any) {
			tr := trigger(d)
			delete(tr, "metadata")
			tr["resource"] = map[string]any{"resourceName": "cpu", "targetType": "Utilization", "targetAverageUtilization": int64(50)}
		}},
		{"type resource needs the resource block", func(d map[string]any) { trigger(d)["type"] = "resource" }},
		{"the kafka block needs type kafka", func(d map[string]any) {
			tr := trigger(d)
			delete(tr, "metadata")
			tr["kafka"] = map[string]any{"brokers": []any{"k:9092"}, "consumerGroup": "g"}
		}},
		{"the prometheus block needs type prometheus", func(d map[string]any) {
			tr := trigger(d)
			delete(tr, "metadata")
			tr["prometheus"] = map[string]any{"serverURL": "http://p", "query": "up", "threshold": 1.0}
		}},
		{"the custom block needs type custom", func(d map[string]any) {
			tr := trigger(d)
			delete(tr, "metadata")
			tr["custom"] = map[string]any{"expression": "a", "threshold": 1.0, "metricSources": []any{map[string]any{"name": "a", "type": "redis"}}}
		}},
		{"secretRefs go with the metadata block (typed blocks name their secrets themselves)", func(d map[string]any) {
			tr := trigger(d)
			delete(tr, "metadata")
			tr["type"] = "prometheus"
			tr["prometheus"] = map[string]any{"serverURL": "http://p", "query": "up", "threshold": 1.0}
			tr["secretRefs"] = []any{map[string]any{"parameter": "p", "name": "s", "key": "k"}}
		}},
		{"targetType Utilization needs targetAverageUtilization (and no targetAverageValue)", func(d map[string]any) {
			tr := trigger(d)
			delete(tr, "metadata")
			tr["type"] = "resource"
			tr["resource"] = map[string]any{"resourceName": "cpu", "targetType": "Utilization"}
		}},
		{"targetType AverageValue needs targetAverageValue (and no targetAverageUtilization)", func(d map[string]any) {
			tr := trigger(d)
			delete(tr, "metadata")
			tr["type"] = "resource"
			tr["resource"] = map[string]any{"resourceName": "memory", "targetType": "AverageValue", "targetAverageUtilization": int64(50)}
		}},
		{"activationLagThreshold must be >= 0", func(d map[string]any) {
			tr := trigger(d)
			delete(tr, "metadata")
			tr["type"] = "kafka"
			tr["kafka"] = map[string]any{"brokers": []any{"k:9092"}, "consumerGroup": "g", "activationLagThreshold": int64(-1)}
		}},
		{"an inline password is not allowed: use passwordSecret", func(d map[string]any) {
			tr := trigger(d)
			delete(tr, "metadata")
			tr["type"] = "kafka"
			tr["kafka"] = map[string]any{"brokers": []any{"k:9092"}, "consumerGroup": "g", "authentication": map[string]any{
				"sasl": map[string]any{"mechanism": "PLAIN", "username": "u", "passwordSecret": secretRef("s"), "password": "inline"}}}
		}},
		{"exactly one of username or usernameSecret must be set", func(d map[string]any) {
			tr := trigger(d)
			delete(tr, "metadata")
			tr["type"] = "kafka"
			tr["kafka"] = map[string]any{"brokers": []any{"k:9092"}, "consumerGroup": "g", "authentication": map[string]any{
				"sasl": map[string]any{"mechanism": "PLAIN", "passwordSecret": secretRef("s")}}}
		}},
		{"basicAuth and bearerTokenSecret exclude each other", func(d map[string]any) {
			tr := trigger(d)
			delete(tr, "metadata")
			tr["type"] = "prometheus"
			tr["prometheus"] = map[string]any{"serverURL": "http://p", "query": "up", "threshold": 1.0, "authentication": map[string]any{
				"basicAuth":         map[string]any{"username": "u", "passwordSecret": secretRef("s")},
				"bearerTokenSecret": secretRef("t")}}
		}},
		{"an inline password is not allowed: use passwordSecret (basicAuth)", func(d map[string]any) {
			tr := trigger(d)
			delete(tr, "metadata")
			tr["type"] = "prometheus"
			tr["prometheus"] = map[string]any{"serverURL": "http://p", "query": "up", "threshold": 1.0, "authentication": map[string]any{
				"basicAuth": map[string]any{"username": "u", "passwordSecret": secretRef("s"), "password": "inline"}}}
		}},
		{"behavior static, currentReplicasIfHigher and currentReplicasIfLower need replicas", func(d map[string]any) {
			at(d, "spec", "advanced", "fallback")["behavior"] = "currentReplicasIfHigher"
		}},
		{"every trigger of spec.triggers needs a name", func(d map[string]any) {
			spec := at(d, "spec")
			delete(spec, "scalerSpec")
			spec["triggers"] = []any{map[string]any{"type": "redis", "metadata": map[string]any{"listName": "x"}}}
		}},
		{"trigger names must be unique in spec.triggers", func(d map[string]any) {
			spec := at(d, "spec")
			delete(spec, "scalerSpec")
			tr := map[string]any{"name": "a", "type": "redis", "metadata": map[string]any{"listName": "x"}}
			spec["triggers"] = []any{tr, tr}
		}},
	}
	covered := map[string]bool{}
	for i, tc := range tests {
		t.Run(tc.msg, func(t *testing.T) {
			doc := base(e.ns)
			at(doc, "metadata")["name"] = fmt.Sprintf("bad-%d", i)
			tc.break_(doc)
			err := e.c.Create(t.Context(), &unstructured.Unstructured{Object: doc}, strict)
			want, _, _ := strings.Cut(tc.msg, " (basicAuth)")
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("error %v, want the rule's message %q", err, want)
			}
		})
		covered[strings.TrimSuffix(tc.msg, " (basicAuth)")] = true
	}
	for _, msg := range crdRuleMessages(t) {
		if !covered[msg] {
			t.Errorf("no case for the CRD's rule %q", msg)
		}
	}
	if err := e.c.Create(t.Context(), &unstructured.Unstructured{Object: base(e.ns)}, strict); err != nil {
		t.Errorf("the valid base was refused: %v", err)
	}
}

// crdRuleMessages returns the distinct messages of every
// x-kubernetes-validations rule of the CRD.
func crdRuleMessages(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../config/crd/autoscaling.hpa-agent.io_scalers.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var doc any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var out []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if rules, ok := v["x-kubernetes-validations"].([]any); ok {
				for _, r := range rules {
					if m, ok := r.(map[string]any)["message"].(string); ok && !slices.Contains(out, m) {
						out = append(out, m)
					}
				}
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
	if len(out) < 15 {
		t.Fatalf("%d rule messages in the CRD: the walk is wrong", len(out))
	}
	return out
}

// TestExamples: every Scaler of examples/scalers/ (the design's too) is
// accepted by the API server as kubectl would send it (strict field
// validation), and the agent reports on each in status without stopping:
// their sources, Secrets and metrics.k8s.io do not exist here, so each
// trigger reports why it cannot be read.
func TestExamples(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	files, err := filepath.Glob("../examples/scalers/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	design, _ := filepath.Glob("../examples/scalers/design/*.yaml")
	files = append(files, design...)
	var names []string
	targets := map[string]bool{}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var obj map[string]any
		if err := yaml.Unmarshal(raw, &obj); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		u := &unstructured.Unstructured{Object: obj}
		u.SetNamespace(e.ns)
		// Two examples may share a name in different namespaces.
		u.SetName(strings.TrimSuffix(filepath.Base(f), ".yaml") + "-" + filepath.Base(filepath.Dir(f)))
		if err := e.c.Create(t.Context(), u, strict); err != nil {
			t.Errorf("%s refused: %v", f, err)
			continue
		}
		names = append(names, u.GetName())
		target, _, _ := unstructured.NestedString(obj, "spec", "targetRef", "name")
		if !targets[target] {
			targets[target] = true
			e.deployment(t, target, 2)
		}
	}
	a := e.startAgent(t, nil, nil)
	for _, name := range names {
		e.waitStatus(t, name, "a status with every trigger", func(s *v1.Scaler) error {
			if err := conditionPresent(s, v1.ConditionReady); err != nil {
				return err
			}
			want := 1
			if len(s.Spec.Triggers) > 0 {
				want = len(s.Spec.Triggers)
			}
			if len(s.Status.Triggers) != want {
				return fmt.Errorf("%d trigger statuses, want %d", len(s.Status.Triggers), want)
			}
			for _, tr := range s.Status.Triggers {
				if !tr.Healthy && tr.LastError == "" {
					return fmt.Errorf("trigger %s unhealthy without an error", tr.Name)
				}
			}
			return nil
		})
	}
	select {
	case err := <-a.done:
		t.Fatalf("the agent stopped: %v", err)
	default:
	}
}

func conditionPresent(s *v1.Scaler, typ string) error {
	for _, c := range s.Status.Conditions {
		if c.Type == typ {
			if c.ObservedGeneration != s.Generation {
				return fmt.Errorf("%s of generation %d, spec is %d", typ, c.ObservedGeneration, s.Generation)
			}
			return nil
		}
	}
	return fmt.Errorf("no %s condition", typ)
}

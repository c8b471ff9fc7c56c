package triggers_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/controller/triggers"
)

// FuzzResolve: a generic block of fuzzed metadata keys and values and a
// secretRef with a fuzzed parameter, whose Secret holds the marker between
// fuzzed bytes. Resolve never panics and never shows the secret; each
// problem wraps one sentinel; a resolved trigger holds the Secret's value
// exactly and the metadata as given.
func FuzzResolve(f *testing.F) {
	f.Add("redis", "address", "r:6379", "listName", "jobs", "password", "", "")
	f.Add("kafka", "passwordFromEnv", "PW", "caFile", "/etc/ca", "password", "x", "\n")
	f.Add("custom", "source.a.type", "prometheus", "source.a.scalerAddress", "h:1", "source.a.bearerToken", " ", "")
	f.Add("resource", "scalerType", "redis", "", "", "", "", "")
	f.Add("redis", "password", "inline", "x", "y", "password", "", "")
	f.Add("", "File", "FromEnv", "source..File", "", "keyFile", "\"", "\\")
	f.Fuzz(func(t *testing.T, typ, k1, v1s, k2, v2s, param, before, after string) {
		for _, s := range []string{typ, k1, v1s, k2, v2s, param} {
			if strings.Contains(s, marker) {
				// The marker in a field that is not secret would show
				// legitimately: not an input this target is about.
				return
			}
		}
		value := before + marker + after
		md := map[string]string{k1: v1s}
		md[k2] = v2s
		spec := v1.TriggerSpec{Type: typ, Metadata: md, SecretRefs: []v1.SecretRef{{Parameter: param, Name: "s", Key: "k"}}}
		fs := secretsOf(ns, secret("s", "7", map[string]string{"k": value}))
		got, err := triggers.Resolve(context.Background(), triggers.Input{Namespace: ns, Path: path, Spec: spec, Secrets: fs})
		if err != nil {
			checkErr(t, got, err)
			return
		}
		if got.Metadata[param] != value {
			t.Errorf("metadata[%q] is not the Secret's value", param)
		}
		for k, v := range md {
			if got.Metadata[k] != v {
				t.Errorf("metadata[%q] = %q, want %q", k, got.Metadata[k], v)
			}
		}
		if !slices.Equal(got.SecretKeys, []string{param}) {
			t.Errorf("SecretKeys %q, want [%q]", got.SecretKeys, param)
		}
		if want := []triggers.SecretVersion{{Name: "s", ResourceVersion: "7"}}; !slices.Equal(got.Secrets, want) {
			t.Errorf("Secrets %v, want %v", got.Secrets, want)
		}
		checkTrigger(t, got)
	})
}

// FuzzResolveSpec: any trigger as the API server could hand it over (JSON),
// every Secret holding the marker. Resolve never panics and never shows
// the secret; each problem wraps one sentinel; a resolved trigger has a
// type, a metric type, Secrets sorted and unique, and no key the agent
// refuses.
func FuzzResolveSpec(f *testing.F) {
	for _, ex := range loadExamples(f) {
		b, err := json.Marshal(ex.spec)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
		b, err = json.Marshal(withoutFiles(ex.spec))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"type":"kafka","kafka":{"brokers":["a:1"],"consumerGroup":"g","topics":["x","y"],` +
		`"authentication":{"sasl":{"mechanism":"PLAIN","usernameSecret":{"name":"missing","key":"user"},"passwordSecret":{"name":"broken","key":"password"}},` +
		`"tls":{"caSecret":{"name":"s","key":"ca"},"certSecret":{"name":"s","key":"nokey"}}}}}`))
	f.Add([]byte(`{"type":"prometheus","prometheus":{"serverURL":"http://p","query":"q","threshold":1e-9,"timeout":"1.5ms",` +
		`"authentication":{"basicAuth":{"username":"u","passwordSecret":{"name":"s","key":"password"}},"bearerTokenSecret":{"name":"s","key":"token"},` +
		`"tls":{"certSecret":{"name":"s","key":"cert"},"keySecret":{"name":"s","key":"key"}}}}}`))
	f.Add([]byte(`{"type":"custom","custom":{"expression":"a","threshold":1,"metricSources":[{"name":"a","type":"redis",` +
		`"configuration":{"passwordFile":"/x"},"secretRefs":[{"parameter":"password","name":"s","key":"password"}]}]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var spec v1.TriggerSpec
		if err := json.Unmarshal(data, &spec); err != nil {
			return
		}
		// Decoded, as JSON escapes could spell it.
		if b, _ := json.Marshal(spec); strings.Contains(string(b), marker) {
			// The marker in the spec itself (not in a Secret) would show
			// legitimately: not an input this target is about.
			return
		}
		got, err := triggers.Resolve(context.Background(), triggers.Input{Namespace: ns, Path: path, Spec: spec, Secrets: markerSecrets{}})
		if err != nil {
			checkErr(t, got, err)
			return
		}
		checkTrigger(t, got)
	})
}

// markerSecrets answers every name with a Secret whose every usual key
// holds the marker; "missing" is NotFound and "broken" fails.
type markerSecrets struct{}

func (markerSecrets) GetSecret(_ context.Context, _, name string) (*corev1.Secret, error) {
	switch name {
	case "missing":
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "secrets"}, name)
	case "broken":
		return nil, errors.New("connection refused")
	}
	data := map[string]string{}
	for _, k := range []string{"password", "token", "user", "username", "ca", "cert", "key", "k", "host", "bearerToken", "apiKey", "clientSecret", "sentinelPassword"} {
		data[k] = "<" + marker + ">"
	}
	return secret(name, "rv", data), nil
}

// checkErr holds for every error of Resolve.
func checkErr(t *testing.T, got *triggers.Trigger, err error) {
	t.Helper()
	checkNoMarker(t, err)
	if got != nil {
		t.Errorf("a Trigger with the error %v", err)
	}
	j, ok := err.(interface{ Unwrap() []error })
	if !ok {
		t.Fatalf("not a joined error: %T %v", err, err)
	}
	for _, e := range j.Unwrap() {
		if errors.Is(e, triggers.ErrInvalid) == errors.Is(e, triggers.ErrSecret) {
			t.Errorf("%q wraps both sentinels or neither", e)
		}
	}
}

// checkTrigger holds for every resolved trigger.
func checkTrigger(t *testing.T, got *triggers.Trigger) {
	t.Helper()
	if got.Type == "" || got.Name == "" {
		t.Errorf("no type or name: %+v", got)
	}
	if got.Type == triggers.TypeResource {
		if got.Resource == nil || got.Metadata != nil || got.MetricType != "" {
			t.Errorf("resource trigger %+v", got)
		}
	} else if got.Metadata == nil || (got.MetricType != "AverageValue" && got.MetricType != "Value") {
		t.Errorf("trigger %+v", got)
	}
	if !slices.IsSortedFunc(got.Secrets, func(a, b triggers.SecretVersion) int { return strings.Compare(a.Name, b.Name) }) ||
		len(slices.CompactFunc(slices.Clone(got.Secrets), func(a, b triggers.SecretVersion) bool { return a.Name == b.Name })) != len(got.Secrets) {
		t.Errorf("Secrets not sorted and unique: %v", got.Secrets)
	}
	if !slices.IsSorted(got.SecretKeys) {
		t.Errorf("SecretKeys not sorted: %q", got.SecretKeys)
	}
	for _, k := range got.SecretKeys {
		if _, ok := got.Metadata[k]; !ok {
			t.Errorf("SecretKeys has %q, not in the metadata", k)
		}
	}
	for k, v := range got.Metadata {
		// The spec holds no marker: a value with it came from a Secret.
		if strings.Contains(v, marker) && !slices.Contains(got.SecretKeys, k) {
			t.Errorf("metadata[%q] holds a Secret's value, not in SecretKeys %q", k, got.SecretKeys)
		}
		local := k
		if rest, ok := strings.CutPrefix(k, "source."); ok {
			if _, l, ok := strings.Cut(rest, "."); ok {
				local = l
			}
		}
		if strings.HasSuffix(k, "FromEnv") || strings.HasSuffix(k, "File") || local == "scalerAddress" || local == "scalerType" {
			t.Errorf("key %q reached the metadata", k)
		}
	}
}

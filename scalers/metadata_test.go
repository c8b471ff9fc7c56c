package scalers

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
)

type inner struct {
	Port int `meta:"port,default=6379,min=1,max=65535"`
}

type sample struct {
	Name      string            `meta:"listName"`
	Length    int64             `meta:"listLength,default=5,gt=0"`
	Act       float64           `meta:"activationListLength,default=0,min=0"`
	Mode      string            `meta:"mode,default=QueueLength,enum=QueueLength|MessageRate"`
	TLS       bool              `meta:"enableTLS,optional"`
	Hosts     []string          `meta:"addresses|address,optional"`
	Parts     []int             `meta:"partitions,optional,min=0"`
	Headers   map[string]string `meta:"customHeaders,optional"`
	Timeout   time.Duration     `meta:"timeout,default=3000,unit=ms"`
	Window    *int              `meta:"pendingEntriesCount,optional"`
	Password  Secret            `meta:"password,secret,optional"`
	Skipped   string            `meta:"-"`
	Untouched string
	inner
}

func TestParseMetadata(t *testing.T) {
	three := 3
	tests := []struct {
		name    string
		md      map[string]string
		want    sample
		wantErr []string // the message of each field error, in field order
	}{
		{
			name: "defaults",
			md:   map[string]string{"listName": "jobs"},
			want: sample{Name: "jobs", Length: 5, Mode: "QueueLength", Timeout: 3 * time.Second, inner: inner{Port: 6379}},
		},
		{
			name: "every kind",
			md: map[string]string{
				"listName": " jobs ", "listLength": "10", "activationListLength": "2.5", "mode": "MessageRate",
				"enableTLS": "TRUE", "address": "a:1, b:2,", "partitions": "1,2", "customHeaders": "X-A=1,X-B = two",
				"timeout": "2s", "pendingEntriesCount": "3", "port": "7000", "scalerAddress": "ignored:9443",
			},
			want: sample{
				Name: "jobs", Length: 10, Act: 2.5, Mode: "MessageRate", TLS: true, Hosts: []string{"a:1", "b:2"},
				Parts: []int{1, 2}, Headers: map[string]string{"X-A": "1", "X-B": "two"}, Timeout: 2 * time.Second,
				Window: &three, inner: inner{Port: 7000},
			},
		},
		{
			name: "empty value counts as absent",
			md:   map[string]string{"listName": "jobs", "listLength": "  "},
			want: sample{Name: "jobs", Length: 5, Mode: "QueueLength", Timeout: 3 * time.Second, inner: inner{Port: 6379}},
		},
		{
			name: "all errors collected",
			md: map[string]string{
				"listLength": "abc", "activationListLength": "-1", "mode": "Fast", "enableTLS": "yes please",
				"partitions": "1,x", "customHeaders": "novalue", "timeout": "soon", "port": "70000",
			},
			wantErr: []string{
				`listName: required key is missing`,
				`listLength "abc": not an integer`,
				`activationListLength "-1": must be >= 0`,
				`mode "Fast": expected one of QueueLength, MessageRate`,
				`enableTLS "yes please": not a boolean (true or false)`,
				`partitions "x": not an integer`,
				`customHeaders "novalue": expected key=value pairs separated by ","`,
				`timeout "soon": not a duration (e.g. "30s" or a number of milliseconds)`,
				`port "70000": must be <= 65535`,
			},
		},
		{
			name:    "exclusive bound",
			md:      map[string]string{"listName": "a", "listLength": "0"},
			wantErr: []string{`listLength "0": must be > 0`},
		},
		{
			name:    "integer overflow",
			md:      map[string]string{"listName": "a", "listLength": "99999999999999999999"},
			wantErr: []string{`listLength "99999999999999999999": integer out of range`},
		},
		{
			name:    "NaN is not a number",
			md:      map[string]string{"listName": "a", "activationListLength": "NaN"},
			wantErr: []string{`activationListLength "NaN": not a number`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got sample
			err := ParseMetadata(tc.md, &got)
			if len(tc.wantErr) > 0 {
				var me *MetadataError
				if !errors.As(err, &me) || !errors.Is(err, ErrInvalidConfig) {
					t.Fatalf("want *MetadataError wrapping ErrInvalidConfig, got %v", err)
				}
				want := "invalid metadata: " + strings.Join(tc.wantErr, "; ")
				scalertest.CheckMessage(t, err, want)
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(sample{}), cmpopts.IgnoreFields(sample{}, "Password")); diff != "" {
				t.Errorf("parsed (-want +got):\n%s", diff)
			}
		})
	}
}

type secretSample struct {
	Password Secret `meta:"password,secret"`
	Token    Secret `meta:"token,secret,optional"`
}

func TestParseMetadataSecrets(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		md   map[string]string
		want string
	}{
		{"inline", map[string]string{"password": "inline-pw"}, "inline-pw"},
		{"resolved by KEDA from env", map[string]string{"passwordFromEnv": "env-pw"}, "env-pw"},
		{"file", map[string]string{"passwordFile": file}, "from-file"},
		{"inline wins", map[string]string{"password": "a-pw", "passwordFromEnv": "b-pw"}, "a-pw"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var s secretSample
			if err := ParseMetadata(tc.md, &s, allowDirs(t, dir)); err != nil {
				t.Fatal(err)
			}
			v, err := s.Password.Value()
			if err != nil || v != tc.want {
				t.Errorf("got %q, %v; want %q", v, err, tc.want)
			}
			if s.Token.IsSet() {
				t.Error("token should be unset")
			}
		})
	}

	t.Run("missing names the ways to give it", func(t *testing.T) {
		err := ParseMetadata(map[string]string{}, &secretSample{})
		want := "invalid metadata: password: required key is missing (set password, passwordFromEnv or passwordFile)"
		scalertest.CheckMessage(t, err, want)
	})
	t.Run("unreadable file names the key and path once", func(t *testing.T) {
		nope := filepath.Join(dir, "nope")
		err := ParseMetadata(map[string]string{"passwordFile": nope}, &secretSample{}, allowDirs(t, dir))
		want := `invalid metadata: passwordFile "` + nope + `": cannot read: no such file or directory`
		scalertest.CheckMessage(t, err, want)
	})
	t.Run("bad secret value is redacted in errors", func(t *testing.T) {
		type num struct {
			N Secret `meta:"n,secret"`
		}
		var v num
		if err := ParseMetadata(map[string]string{"n": "hunter2"}, &v); err != nil {
			t.Fatal(err)
		}
		fe := &FieldError{Key: "n", Value: "hunter2", Msg: "bad", Secret: true}
		if diff := cmp.Diff("n (secret, not shown): bad", fe.Error()); diff != "" {
			t.Errorf("message (-want +got):\n%s", diff)
		}
	})
}

func TestFileSecretReloads(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "pw")
	if err := os.WriteFile(file, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := NewFileSecret(file, allowDirs(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if v, err := s.Value(); err != nil || v != "one" {
		t.Fatalf("got %q, %v; want %q", v, err, "one")
	}
	// Kubernetes swaps the file; a different size or mtime is noticed.
	if err := os.WriteFile(file, []byte("second"), 0o600); err != nil {
		t.Fatal(err)
	}
	future := time.Now().Add(time.Hour)
	if err := os.Chtimes(file, future, future); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Value(); err != nil || v != "second" {
		t.Fatalf("after rotation: got %q, %v; want %q", v, err, "second")
	}
	// A same-size rewrite with the same mtime, swapped in as a new file (as
	// the kubelet does), is noticed by its inode.
	tmp := file + ".new"
	if err := os.WriteFile(tmp, []byte("thirds"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(tmp, future, future); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Value(); err != nil || v != "thirds" {
		t.Fatalf("after same-size swap: got %q, %v; want %q", v, err, "thirds")
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	_, err = s.Value()
	if err == nil {
		t.Fatal("got no error for a removed file")
	}
	scalertest.CheckMessage(t, err, "read secret file "+file+": no such file or directory")
}

func TestFileSecretRefusesSpecialAndHugeFiles(t *testing.T) {
	dir := t.TempDir()
	big := filepath.Join(dir, "big")
	if err := os.WriteFile(big, make([]byte, maxSecretFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	// /dev allowed, so that what refuses /dev/zero is its kind.
	files := allowDirs(t, dir, "/dev")
	for path, want := range map[string]string{
		"/dev/zero": "read secret file /dev/zero: not a regular file",
		big:         "read secret file " + big + ": larger than 1048576 bytes",
	} {
		_, err := NewFileSecret(path, files)
		if err == nil {
			t.Errorf("%s: got no error, want %q", path, want)
			continue
		}
		scalertest.CheckMessage(t, err, want)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	s := NewSecret("hunter2")
	b, err := s.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	got := []string{s.String(), s.GoString(), s.LogValue().String(), string(b)}
	if diff := cmp.Diff([]string{"[redacted]", "[redacted]", "[redacted]", `"[redacted]"`}, got); diff != "" {
		t.Errorf("String, GoString, LogValue, JSON (-want +got):\n%s", diff)
	}
	r := NewRedactor(s)
	r.AddURL("amqp://user:s3cr%21t@host/vh")
	err = r.Error(Unavailable("dial", errors.New("auth failed for hunter2 at amqp://user:s3cr!t@host")))
	scalertest.CheckMessage(t, err, "dial: auth failed for [redacted] at amqp://user:[redacted]@host")
	if !errors.Is(err, ErrUnavailable) {
		t.Error("redacted error lost ErrUnavailable")
	}
	if diff := cmp.Diff("http://u:xxxxx@h:1/x", RedactURL("http://u:pw@h:1/x")); diff != "" {
		t.Errorf("RedactURL (-want +got):\n%s", diff)
	}
}

type validated struct {
	Min int `meta:"min,default=0"`
	Max int `meta:"max,default=10"`
}

func (v *validated) Validate() error {
	if v.Min > v.Max {
		return NewFieldError("min", "", "must not exceed max")
	}
	return nil
}

func TestParseMetadataValidate(t *testing.T) {
	err := ParseMetadata(map[string]string{"min": "20"}, &validated{})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("got %v, want an ErrInvalidConfig", err)
	}
	scalertest.CheckMessage(t, err, `invalid metadata: min "": must not exceed max`)
}

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	f := func(_ context.Context, _ Config) (Scaler, error) { return nil, nil }
	if err := r.Register("redis", f); err != nil {
		t.Fatal(err)
	}
	if err := r.Register("redis", f); err == nil {
		t.Fatal("duplicate registration accepted")
	}
	r.MustRegister("kafka", f)
	_, err := r.New(t.Context(), Config{Type: "nats"})
	if !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("got %v, want an ErrInvalidConfig", err)
	}
	scalertest.CheckMessage(t, err, `invalid metadata: scalerType "nats": unknown scaler type, expected one of: kafka, redis`)
}

func FuzzParseMetadata(f *testing.F) {
	f.Add("listName", "jobs", "listLength", "10", "timeout", "2s")
	f.Add("customHeaders", "a=b,c", "partitions", "1,-2", "passwordFile", "/nonexistent")
	f.Add("listLength", "1e400", "activationListLength", "-0", "pendingEntriesCount", "99999999999999999999")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, k3, v3 string) {
		md := map[string]string{k1: v1, k2: v2, k3: v3}
		var s sample
		err := ParseMetadata(md, &s)
		if err != nil && !errors.Is(err, ErrInvalidConfig) {
			t.Fatalf("error not ErrInvalidConfig: %v", err)
		}
	})
}

func TestMetricName(t *testing.T) {
	tests := []struct {
		parts []string
		want  string
	}{
		{[]string{"redis", "jobs"}, "redis-jobs"},
		{[]string{"kafka", "My.Topic", "", "group/1"}, "kafka-my-topic-group-1"},
		{[]string{"prometheus", "sum(rate(x[1m]))"}, "prometheus-sum-rate-x-1m"},
		{[]string{"rabbitmq", "^jobs-.*$"}, "rabbitmq-jobs"},
	}
	for _, tc := range tests {
		if got := MetricName(tc.parts...); got != tc.want {
			t.Errorf("MetricName(%q) = %q, want %q", tc.parts, got, tc.want)
		}
	}
}

func TestInvalidKeepsEveryJoinedError(t *testing.T) {
	err := Invalid(errors.Join(NewFieldError("a", "1", "bad"), NewFieldError("b", "2", "worse")), nil, errors.New("other"))
	var me *MetadataError
	if !errors.As(err, &me) {
		t.Fatalf("got %T", err)
	}
	scalertest.CheckMessage(t, err, `invalid metadata: a "1": bad; b "2": worse; other`)
	if len(me.Errs) != 2 || len(me.Other) != 1 {
		t.Fatalf("got %d field errors and %d others, want 2 and 1: %v", len(me.Errs), len(me.Other), err)
	}
	if Invalid(nil, nil) != nil {
		t.Error("Invalid(nil) is not nil")
	}
}

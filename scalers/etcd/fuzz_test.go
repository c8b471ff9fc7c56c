package etcd

import (
	"errors"
	"log/slog"
	"math"
	"strings"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// FuzzParseMetadata: any metadata is accepted with endpoints the client
// can dial, or refused with an ErrInvalidConfig that never shows the
// password; what ParseMetadata accepts New builds.
func FuzzParseMetadata(f *testing.F) {
	for _, seed := range []string{
		"endpoints=172.0.0.1:2379,172.0.0.2:2379\nwatchKey=length\nvalue=5.5\nactivationValue=0.5\nwatchProgressNotifyInterval=600",
		"endpoints=https://e:2379\nwatchKey=/a/b\nvalue=1\ntls=enable\nusername=u\npassword=pw-secret",
		"endpoints=e\nwatchKey=k\nvalue=0\npassword=pw-secret",
		"endpoints=http://u:pw-secret@e:1\nwatchKey=k\nvalue=NaN\nwatchProgressNotifyInterval=-1\ntimeout=100",
		"endpoints=,\nwatchKey= \nvalue=1e400\ntls=yes",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		md := scalertest.LinesToMap(in)
		m, err := ParseMetadata(md)
		if err != nil {
			if !errors.Is(err, scalers.ErrInvalidConfig) {
				t.Fatalf("error %v does not wrap ErrInvalidConfig", err)
			}
			if strings.Contains(err.Error(), "pw-secret") && !inPlainKey(md, "pw-secret") {
				t.Fatalf("error shows the password: %v", err)
			}
			return
		}
		if len(m.Endpoints) == 0 || m.WatchKey == "" || !(m.Value > 0) || math.IsInf(m.Value, 0) || m.WatchProgressNotifyInterval <= 0 ||
			(m.Username == "") != !m.Password.IsSet() || (m.TLS != TLSEnable && m.TLS != TLSDisable) {
			t.Fatalf("accepted invalid metadata: %+v", m)
		}
		for _, ep := range m.Endpoints {
			if checkEndpoint(ep) != "" || ep == "" {
				t.Fatalf("accepted endpoint %q", ep)
			}
		}
		if m.TLS == TLSEnable {
			return // the placeholder material may not be PEM: New refuses it
		}
		s, err := New(t.Context(), scalers.Config{Metadata: md})
		if err != nil {
			if !errors.Is(err, scalers.ErrInvalidConfig) || !strings.Contains(err.Error(), "endpoints") {
				t.Fatalf("ParseMetadata accepted what New refuses: %v", err)
			}
			return
		}
		_ = s.Close()
	})
}

// inPlainKey reports whether marker is in a key name or in the value of a
// key that is not a secret.
func inPlainKey(md map[string]string, marker string) bool {
	for k, v := range md {
		if strings.Contains(k, marker) {
			return true
		}
		switch k {
		case "password", "passwordFromEnv", "keyPassword", "keyPasswordFromEnv", "ca", "cert", "Cert", "key", "caFromEnv", "certFromEnv", "keyFromEnv":
			continue
		}
		if strings.Contains(v, marker) {
			return true
		}
	}
	return false
}

// FuzzParseValue: any stored value is a finite number or an ErrValue that
// is also ErrNoData, never a panic.
func FuzzParseValue(f *testing.F) {
	for _, seed := range []string{"5", " 5.5\n", "NaN", "Inf", "1e999", "", "abc", "0x1p4", "-0", strings.Repeat("1", 600)} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := ParseValue(b)
		if err != nil {
			if !errors.Is(err, ErrValue) || !errors.Is(err, scalers.ErrNoData) {
				t.Fatalf("error %v does not wrap ErrValue and ErrNoData", err)
			}
			if len(err.Error()) > 1024 {
				t.Fatalf("error of %d bytes", len(err.Error()))
			}
			return
		}
		if math.IsNaN(v) || math.IsInf(v, 0) {
			t.Fatalf("ParseValue = %v", v)
		}
	})
}

// secretKeys are the keys that carry a secret.
var secretKeys = append(scalertest.SecretKeys("", "password", "keyPassword"),
	scalertest.SecretKeys("", "ca", "cert", "key")...)

// FuzzSecretNeverShown: whatever the metadata, no error of New or of a
// call to an endpoint that refuses connections, and no log line, shows a
// secret.
func FuzzSecretNeverShown(f *testing.F) {
	for pos := range secretKeys {
		f.Add(pos, "", "|")
	}
	for _, seed := range []struct{ in, wrap string }{
		{"tls=enable", "|"},
		{"tls=enable\nca=x\ncert=y\nkey=z", "-----BEGIN CERTIFICATE-----\n|"},
		{"username=u", "a|b"},
		{"username=u\ntimeout=1", "|\n"},
		{"endpoints=http://S3CRqT9zkW@e:1", "|"},
	} {
		for pos := range secretKeys {
			f.Add(pos, seed.in, seed.wrap)
		}
	}
	base := map[string]string{"endpoints": "127.0.0.1:1", "watchKey": "k", "value": "1", "timeout": "30", "username": "u", "password": "p"}
	f.Fuzz(func(t *testing.T, pos int, in, wrap string) {
		md := scalertest.SecretMetadata(base, secretKeys, pos, in, wrap)
		logs := &scalertest.LogLines{}
		s, err := New(t.Context(), scalers.Config{Metadata: md, Logger: slog.New(logs), Timeouts: scalers.Timeouts{Max: 100 * 1e6}})
		if err == nil {
			_, err = s.Metrics(t.Context())
			_ = s.Close()
		}
		scalertest.CheckNoSecret(t, err, logs)
	})
}

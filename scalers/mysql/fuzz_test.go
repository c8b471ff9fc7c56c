package mysql

import (
	"errors"
	"math"
	"strings"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// FuzzParseMetadata: parsed settings the factory builds, or an
// ErrInvalidConfig that shows no password given as a secret.
func FuzzParseMetadata(f *testing.F) {
	for _, seed := range []string{
		"query=SELECT 1\nqueryValue=5\nconnectionString=u:pw-secret@tcp(localhost:3306)/db",
		"query=q\nqueryValue=5\nhost=h\nport=3306\nusername=u\ndbName=d\npassword=pw-secret",
		"query=q\nqueryValue=5\nhost=h(\nport=0\nusername=u\ndbName=d/x",
		"query=q\nqueryValue=1\nconnectionString=pw-secret@tcp(h:3306\nactivationQueryValue=NaN\ntimeout=-1",
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
			if strings.Contains(err.Error(), "pw-secret") && !plainHas(md, "pw-secret") {
				t.Fatalf("error shows the password: %v", err)
			}
			return
		}
		if m.cfg == nil || !(m.QueryValue > 0) || m.Query == "" || m.metric == "" {
			t.Fatalf("accepted invalid metadata: %+v", m)
		}
		s, err := New(t.Context(), scalers.Config{Metadata: md})
		if err != nil {
			t.Fatalf("ParseMetadata accepted what New refuses: %v", err)
		}
		_ = s.Close()
	})
}

// plainHas reports whether marker is in a key or a non-secret value.
func plainHas(md map[string]string, marker string) bool {
	for k, v := range md {
		secret := k == "connectionString" || k == "connectionStringFromEnv" || k == "password" || k == "passwordFromEnv"
		if strings.Contains(k, marker) || (!secret && strings.Contains(v, marker)) {
			return true
		}
	}
	return false
}

// FuzzNumber: any answer gives a finite number or an ErrNoData.
func FuzzNumber(f *testing.F) {
	f.Add(1, 1, "DECIMAL", []byte("1.5"), false)
	f.Add(1, 2, "VARCHAR", []byte("x"), false)
	f.Add(1, 1, "BIGINT", []byte(nil), true)
	f.Fuzz(func(t *testing.T, cols, rows int, typ string, v []byte, null bool) {
		a := Answer{Columns: cols % 4, Type: typ, Rows: rows % 4}
		if null {
			v = nil
		}
		for range a.Rows {
			a.Values = append(a.Values, v)
		}
		got, err := Number(a)
		if err != nil {
			if !errors.Is(err, scalers.ErrNoData) {
				t.Fatalf("error %v does not wrap ErrNoData", err)
			}
			return
		}
		if math.IsNaN(got) || math.IsInf(got, 0) {
			t.Fatalf("Number = %v", got)
		}
	})
}

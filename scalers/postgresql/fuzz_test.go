package postgresql

import (
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5/pgtype"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// FuzzParseMetadata: any metadata parses into settings pgx accepts, or is
// refused with an ErrInvalidConfig that never shows a password; what
// ParseMetadata accepts the factory builds.
func FuzzParseMetadata(f *testing.F) {
	for _, seed := range []string{
		"query=SELECT 1\ntargetQueryValue=5\nconnection=postgres://u:pw-secret@localhost:5432/db",
		"query=q\ntargetQueryValue=5\nhost=h\nport=5432\nuserName=u\ndbName=d\nsslmode=disable\npassword=pw-secret",
		"query=q\ntargetQueryValue=5\nhost=h1,h2\nport=1,2\nuserName=u u\ndbName=d'\\\nsslmode=verify-full\ntimeout=100",
		"query=q\ntargetQueryValue=-1\nhost=test_host\nport=test_port\nsslmode=test_ssl_mode",
		"query=q\ntargetQueryValue=1\nconnection=host=h password=pw-secret port=x",
		"query=q\ntargetQueryValue=1\nconnectionFromEnv=postgres://%zz\nactivationTargetQueryValue=NaN",
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
		if m.conn == nil || !(m.TargetQueryValue > 0) || m.Query == "" || m.Timeout < 0 {
			t.Fatalf("accepted invalid metadata: %+v", m)
		}
		s, err := New(t.Context(), scalers.Config{Metadata: md})
		if err != nil {
			t.Fatalf("ParseMetadata accepted what New refuses: %v", err)
		}
		_ = s.Close()
	})
}

// inPlainKey reports whether marker is in a key name or in the value of
// a key that is not a secret (whose errors may show it).
func inPlainKey(md map[string]string, marker string) bool {
	for k, v := range md {
		if strings.Contains(k, marker) {
			return true
		}
		switch k {
		case "connection", "connectionFromEnv", "password", "passwordFromEnv":
			continue
		}
		if strings.Contains(v, marker) {
			return true
		}
	}
	return false
}

// FuzzNumber feeds arbitrary values of each kind pgx decodes through
// Number: never a panic, a finite number or an ErrNoData.
func FuzzNumber(f *testing.F) {
	f.Add(uint8(0), "12", int64(0), int32(0), 1, 1)
	f.Add(uint8(1), "", int64(12345), int32(-2), 1, 1)
	f.Add(uint8(2), "NaN", int64(0), int32(0), 2, 1)
	f.Add(uint8(3), "", int64(1), int32(1000), 1, 3)
	f.Add(uint8(4), "", int64(0), int32(0), 1, 0)
	f.Fuzz(func(t *testing.T, kind uint8, text string, i int64, exp int32, cols, rows int) {
		var v any
		switch kind % 7 {
		case 0:
			v = text
		case 1:
			v = pgtype.Numeric{Int: big.NewInt(i), Exp: exp, Valid: true}
		case 2:
			v = math.Float64frombits(uint64(i))
		case 3:
			v = i
		case 4:
			v = nil
		case 5:
			v = []byte(text)
		case 6:
			v = pgtype.Numeric{NaN: exp%2 == 0, InfinityModifier: pgtype.InfinityModifier(exp % 3), Valid: i%2 == 0}
		}
		a := Answer{Columns: cols % 4, Column: text}
		for range rows % 4 {
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

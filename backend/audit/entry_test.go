package audit

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPrepare(t *testing.T) {
	ok := Entry{Time: t0, Tenant: "acme", Actor: "tok_1", Kind: "scaler.update", Subject: "scalers/a/b", Payload: map[string]int{"replicas": 3}}
	tests := []struct {
		name string
		edit func(*Entry)
		errs []string // each in the error; none for ok
	}{
		{name: "ok", edit: func(*Entry) {}},
		{name: "system tenant, no subject, nil payload", edit: func(e *Entry) { e.Tenant, e.Subject, e.Payload = "", "", nil }},
		{name: "zero time", edit: func(e *Entry) { e.Time = time.Time{} }, errs: []string{"time: zero"}},
		{name: "year 10000", edit: func(e *Entry) { e.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC) }, errs: []string{"year outside"}},
		{name: "no actor", edit: func(e *Entry) { e.Actor = "" }, errs: []string{"actor: empty"}},
		{name: "actor not echoed", edit: func(e *Entry) { e.Actor = "secret-token\x00" }, errs: []string{"actor (13 bytes, not shown): control character U+0000"}},
		{name: "kind", edit: func(e *Entry) { e.Kind = "Scaler Update" }, errs: []string{`kind "Scaler Update": want lower-case`}},
		{name: "no kind", edit: func(e *Entry) { e.Kind = "" }, errs: []string{`kind "": empty`}},
		{name: "tenant NUL", edit: func(e *Entry) { e.Tenant = "a\x00" }, errs: []string{"tenant", "control character U+0000"}},
		{name: "subject invalid UTF-8", edit: func(e *Entry) { e.Subject = "\xff" }, errs: []string{"subject", "invalid UTF-8"}},
		{name: "subject too long", edit: func(e *Entry) { e.Subject = strings.Repeat("s", 1025) }, errs: []string{"1025 bytes, want at most 1024"}},
		{name: "float payload", edit: func(e *Entry) { e.Payload = map[string]any{"costEUR": 1.25} }, errs: []string{"payload: costEUR: float64 1.25"}},
		{name: "huge payload", edit: func(e *Entry) { e.Payload = strings.Repeat("x", MaxPayloadBytes) }, errs: []string{"want at most 1048576"}},
		{name: "every problem at once", edit: func(e *Entry) { e.Actor, e.Kind, e.Payload = "", "", 0.5 }, errs: []string{"actor: empty", "kind \"\": empty", "payload:"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := ok
			tc.edit(&e)
			p, err := Prepare(e)
			if len(tc.errs) == 0 {
				if err != nil {
					t.Fatal(err)
				}
				if p.kind != e.Kind || p.time.Location() != time.UTC || p.time.Nanosecond()%1000 != 0 {
					t.Fatalf("prepared %+v", p)
				}
				return
			}
			if !errors.Is(err, ErrInvalidEntry) {
				t.Fatalf("error %v, want ErrInvalidEntry", err)
			}
			for _, want := range tc.errs {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if strings.Contains(err.Error(), "secret-token") {
				t.Error("error shows the actor")
			}
		})
	}
}

// The body is canonical JSON, and Canonicalize agrees with appendBody.
func TestBodyIsCanonical(t *testing.T) {
	for i := range 50 {
		p := entry(t, i)
		p.subject = "ünï \"code\"\n\t\\ \u2028 😀"
		body := appendBody(nil, int64(i+1), &p)
		if err := CheckCanonical(body); err != nil {
			t.Fatalf("%s: %v", body, err)
		}
	}
}

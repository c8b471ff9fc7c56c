package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestCanonicalize(t *testing.T) {
	tests := []struct {
		name, in, want string
		err            error
		errText        string // in the error message
	}{
		{name: "sorted members, no whitespace", in: ` { "b" : 1 , "a" : [ true , false , null ] } `, want: `{"a":[true,false,null],"b":1}`},
		{name: "nested", in: `{"z":{"y":{},"x":[]},"a":""}`, want: `{"a":"","z":{"x":[],"y":{}}}`},
		{name: "integers", in: `[0,-1,9007199254740991,-9007199254740991,-0]`, want: `[0,-1,9007199254740991,-9007199254740991,0]`},
		{name: "string escapes as JCS", in: `"\u0041\/\b\f\n\r\t\"\\\u0001\u001f\u007f\u00e9\u2028<>&"`, want: "\"A/\\b\\f\\n\\r\\t\\\"\\\\\\u0001\\u001f\u007fé\u2028<>&\""},
		{name: "surrogate pair", in: `"\ud83d\ude00"`, want: `"😀"`},
		{name: "raw UTF-8 kept", in: `"€ 😀"`, want: `"€ 😀"`},
		// U+FB33 (one UTF-16 unit, 0xFB33) sorts after U+1F600 (first
		// unit 0xD83D) in UTF-16 order although its code point is lower.
		{name: "UTF-16 member order", in: `{"ﬓ":1,"😀":2,"a":3}`, want: `{"a":3,"😀":2,"ﬓ":1}`},
		{name: "float", in: `{"price":{"amount":1.5}}`, err: ErrNotInteger, errText: "price.amount: 1.5"},
		{name: "whole float", in: `[1,2.0]`, err: ErrNotInteger, errText: "[1]: 2.0"},
		{name: "exponent", in: `{"a":[{"b":1e3}]}`, err: ErrNotInteger, errText: "a[0].b: 1e3"},
		{name: "beyond 2^53-1", in: `9007199254740992`, err: ErrIntegerRange},
		{name: "huge", in: `-123456789012345678901234567890`, err: ErrIntegerRange},
		{name: "leading zero", in: `01`, err: ErrInvalidJSON},
		{name: "duplicate member", in: `{"a":1,"a":2}`, err: ErrInvalidJSON, errText: `duplicate member "a"`},
		{name: "duplicate by escape", in: `{"a":1,"\u0061":2}`, err: ErrInvalidJSON},
		{name: "lone high surrogate", in: `"\ud800"`, err: ErrInvalidJSON},
		{name: "lone low surrogate", in: `"\udc00x"`, err: ErrInvalidJSON},
		{name: "invalid UTF-8", in: "\"\xff\"", err: ErrInvalidJSON},
		{name: "raw control character", in: "\"a\nb\"", err: ErrInvalidJSON},
		{name: "trailing data", in: `{} {}`, err: ErrInvalidJSON},
		{name: "trailing comma", in: `[1,]`, err: ErrInvalidJSON},
		{name: "empty", in: ``, err: ErrInvalidJSON},
		{name: "bare word", in: `nul`, err: ErrInvalidJSON},
		{name: "too deep", in: strings.Repeat("[", 65) + strings.Repeat("]", 65), err: ErrInvalidJSON, errText: "deeper than 64"},
		{name: "deep enough", in: strings.Repeat("[", 64) + strings.Repeat("]", 64), want: strings.Repeat("[", 64) + strings.Repeat("]", 64)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonicalize([]byte(tc.in))
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("error %v, want %v", err, tc.err)
				}
				if !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("error %q does not say %q", err, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
			if err := CheckCanonical(got); err != nil {
				t.Fatalf("output not canonical: %v", err)
			}
		})
	}
	if err := CheckCanonical([]byte(`{"b":1,"a":2}`)); !errors.Is(err, ErrNotCanonical) {
		t.Fatalf("CheckCanonical of unsorted members: %v", err)
	}
}

type money struct {
	AmountMinor int64  `json:"amountMinor"`
	Currency    string `json:"currency"`
}

type withFloat struct {
	Name  string `json:"name"`
	Ratio float64
	Skip  float64 `json:"-"`
}

// ptrMarshaler marshals itself only when addressable; a value of it is
// encoded field by field, and its float field is found.
type ptrMarshaler struct{ F float64 }

func (p *ptrMarshaler) MarshalJSON() ([]byte, error) { return []byte(`"custom"`), nil }

type embedded struct {
	money
	Load float32 `json:"load,omitempty"`
}

func TestCanonicalGoValues(t *testing.T) {
	tests := []struct {
		name    string
		in      any
		want    string
		errText string
	}{
		{name: "nil", in: nil, want: `null`},
		{name: "struct with tags", in: money{AmountMinor: 1999, Currency: "EUR"}, want: `{"amountMinor":1999,"currency":"EUR"}`},
		{name: "time is an RFC 3339 string", in: map[string]any{"at": time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)}, want: `{"at":"2025-01-02T03:04:05Z"}`},
		{name: "raw message canonicalised", in: json.RawMessage(` {"b":2, "a":1} `), want: `{"a":1,"b":2}`},
		{name: "raw message inside", in: map[string]any{"x": json.RawMessage(`[3, 2]`)}, want: `{"x":[3,2]}`},
		{name: "bytes as base64", in: []byte{1, 2, 3}, want: `"AQID"`},
		{name: "no HTML escaping", in: "<a&b>", want: `"<a&b>"`},
		{name: "float field named even when whole", in: withFloat{Name: "x", Ratio: 2}, errText: "Ratio: float64 2"},
		{name: "float in a map", in: map[string]any{"cost": map[string]any{"eur": 1.0}}, errText: "cost.eur: float64 1"},
		{name: "float in a slice", in: []any{1, int64(2), 3.5}, errText: "[2]: float64 3.5"},
		{name: "float of an embedded struct", in: embedded{money: money{1, "EUR"}, Load: 0.5}, errText: "load: float32 0.5"},
		{name: "float behind a pointer", in: &struct{ P *float64 }{P: new(float64)}, errText: "P: float64 0"},
		{name: "float in raw message", in: json.RawMessage(`{"a":0.1}`), errText: "a: 0.1"},
		{name: "pointer-receiver marshaler, by value", in: ptrMarshaler{F: 2}, errText: "F: float64 2"},
		{name: "pointer-receiver marshaler, by pointer", in: &ptrMarshaler{F: 2}, want: `"custom"`},
		{name: "pointer-receiver marshaler, addressable field", in: &struct{ P ptrMarshaler }{}, want: `{"P":"custom"}`},
		{name: "ignored float field", in: struct {
			A    int
			Skip float64 `json:"-"`
		}{A: 1, Skip: 0.5}, want: `{"A":1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Canonical(tc.in)
			if tc.errText != "" {
				if !errors.Is(err, ErrNotInteger) || !strings.Contains(err.Error(), tc.errText) {
					t.Fatalf("error %v, want ErrNotInteger saying %q", err, tc.errText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Fatalf("got %s, want %s", got, tc.want)
			}
		})
	}
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{
		`{}`, `[]`, `{"b":1,"a":[true,false,null,"x"]}`, `1.5`, `-0`, `1e2`, `"\ud83d\ude00"`,
		`{"a":{"b":{"c":[1,2,{"d":"\u0000"}]}}}`, `"\u2028"`, `9007199254740992`, `{"a":1,"a":1}`,
		"\"\xff\"", `[` + strings.Repeat(`[`, 70),
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		out, err := Canonicalize(in)
		if err != nil {
			if out != nil {
				t.Fatal("output with an error")
			}
			return
		}
		again, err := Canonicalize(out)
		if err != nil {
			t.Fatalf("canonical output refused: %v\nin  %q\nout %q", err, in, out)
		}
		if !bytes.Equal(out, again) {
			t.Fatalf("not stable:\nonce  %q\ntwice %q", out, again)
		}
		if !utf8.Valid(out) {
			t.Fatalf("invalid UTF-8 out: %q", out)
		}
		// What was accepted is JSON with the same meaning and no
		// number but integers.
		var a, b any
		da := json.NewDecoder(bytes.NewReader(in))
		da.UseNumber()
		db := json.NewDecoder(bytes.NewReader(out))
		db.UseNumber()
		if err := da.Decode(&a); err != nil {
			t.Fatalf("accepted what encoding/json refuses: %q: %v", in, err)
		}
		if err := db.Decode(&b); err != nil {
			t.Fatalf("output refused by encoding/json: %q: %v", out, err)
		}
		ja, _ := json.Marshal(normalizeNumbers(a))
		jb, _ := json.Marshal(normalizeNumbers(b))
		if !bytes.Equal(ja, jb) {
			t.Fatalf("meaning changed:\nin  %s\nout %s", ja, jb)
		}
		if bytes.ContainsAny(stripStrings(out), ".eE") {
			t.Fatalf("a non-integer number accepted: %q", out)
		}
	})
}

// normalizeNumbers turns json.Number "-0" into "0" so meanings compare.
func normalizeNumbers(v any) any {
	switch x := v.(type) {
	case json.Number:
		if x == "-0" {
			return json.Number("0")
		}
		return x
	case []any:
		for i := range x {
			x[i] = normalizeNumbers(x[i])
		}
	case map[string]any:
		for k := range x {
			x[k] = normalizeNumbers(x[k])
		}
	}
	return v
}

// stripStrings removes string literals (and true/false/null) from
// canonical JSON, leaving the numbers and punctuation.
func stripStrings(b []byte) []byte {
	var out []byte
	in := false
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case in && c == '\\':
			i++
		case c == '"':
			in = !in
		case !in:
			out = append(out, c)
		}
	}
	out = bytes.ReplaceAll(out, []byte("true"), nil)
	out = bytes.ReplaceAll(out, []byte("false"), nil)
	return bytes.ReplaceAll(out, []byte("null"), nil)
}

package scalers

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
)

func TestQuote(t *testing.T) {
	long := strings.Repeat("sum(rate(x[1m])) + ", 60000)[:1<<20]
	tests := []struct {
		name, in, want string
	}{
		{"short", "up", `"up"`},
		{"exactly the bound", strings.Repeat("a", MaxQuotedBytes), strconv.Quote(strings.Repeat("a", MaxQuotedBytes))},
		{"one byte over", strings.Repeat("a", MaxQuotedBytes+1), `"` + strings.Repeat("a", MaxQuotedBytes) + `…" (121 bytes)`},
		{"1 MiB", long, strconv.Quote(long[:MaxQuotedBytes])[:MaxQuotedBytes+1] + `…" (1048576 bytes)`},
		// "é" is 2 bytes: 119 a's and an é would end at byte 121, so the é
		// is left out rather than cut in half.
		{"cut at a character boundary", strings.Repeat("a", MaxQuotedBytes-1) + "ééé", `"` + strings.Repeat("a", MaxQuotedBytes-1) + `…" (125 bytes)`},
		{"control characters escaped", "a\r\nb", `"a\r\nb"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Quote(tc.in)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Quote (-want +got):\n%s", diff)
			}
			if !utf8.ValidString(got) {
				t.Errorf("Quote gave invalid UTF-8: %q", got)
			}
		})
	}
}

func TestExcerpt(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"short", "parse error", "parse error"},
		{"long", strings.Repeat("x", 1000), strings.Repeat("x", MaxExcerptBytes) + "… (1000 bytes)"},
		{"invalid UTF-8 replaced", "bad \xff byte", "bad \uFFFD byte"},
		{"cut in a character", strings.Repeat("x", MaxExcerptBytes-1) + "€", strings.Repeat("x", MaxExcerptBytes-1) + "… (258 bytes)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, Excerpt(tc.in)); diff != "" {
				t.Errorf("Excerpt (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFieldErrorBounded: a huge value, key or message gives a message of
// bounded size that still says what it was about.
func TestFieldErrorBounded(t *testing.T) {
	mib := strings.Repeat("q", 1<<20)
	tests := []struct {
		name string
		err  *FieldError
		want string
	}{
		{"value", NewFieldError("query", mib, "rejected"),
			`query "` + mib[:MaxQuotedBytes] + `…" (1048576 bytes): rejected`},
		{"key", &FieldError{Key: "source." + mib, Missing: true, Msg: "malformed key"},
			"source." + mib[:MaxQuotedBytes-len("source.")] + "…: malformed key"},
		{"message", &FieldError{Key: "k", Secret: true, Msg: mib},
			"k (secret, not shown): " + mib[:1024] + "… (1048576 bytes)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			scalertest.CheckMessage(t, tc.err, tc.want)
		})
	}
}

func TestMetadataErrorListsAtMost20(t *testing.T) {
	var errs []error
	for i := range 25 {
		errs = append(errs, &FieldError{Key: "k" + strconv.Itoa(i), Missing: true, Msg: "bad"})
	}
	errs = append(errs, errors.New("other"))
	var want []string
	for i := range 20 {
		want = append(want, "k"+strconv.Itoa(i)+": bad")
	}
	want = append(want, "and 6 more")
	scalertest.CheckMessage(t, Invalid(errs...), "invalid metadata: "+strings.Join(want, "; "))
}

func TestRedactURL(t *testing.T) {
	tests := []struct {
		name, raw, want string
	}{
		{"no user info", "http://prom:9090/x?a=b", "http://prom:9090/x?a=b"},
		{"password", "http://u:pw@h:1/x", "http://u:xxxxx@h:1/x"},
		{"escaped password", "http://admin:p%40ss@h", "http://admin:xxxxx@h"},
		{"user name alone, often a token", "https://ghp_token123@api.example", "https://xxxxx@api.example"},
		{"does not parse", "http://user:S3CR3T@[::1", "http://xxxxx@[::1"},
		{"a password with a slash", "http://u:12/ss@host", "http://xxxxx@host"},
		{"a password with an @", "http://u:p@ss@host:80/", "http://u:xxxxx@host:80/"},
		{"an @ in the path: hidden to be safe", "http://h/u:S3CR3T@x", "http://xxxxx@x"},
		{"no scheme", "u:S3CR3T@prom:9090", "xxxxx@prom:9090"},
		{"// after the @", "u:S3CR3T@host//x", "xxxxx@host//x"},
		{"// between two @", "u:S3CR3T@//h@x", "xxxxx@x"},
		{"empty", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, RedactURL(tc.raw)); diff != "" {
				t.Errorf("RedactURL(%q) (-want +got):\n%s", tc.raw, diff)
			}
		})
	}
}

func TestRedactorAddURL(t *testing.T) {
	tests := []struct {
		name, raw, text, want string
	}{
		{"password, as written and escaped", "http://u:p@ss!@h", "a p@ss! b p%40ss%21 c", "a [redacted] b [redacted] c"},
		{"user name alone", "http://tok-123@h", "sent tok-123", "sent [redacted]"},
		{"does not parse: the user info and the password", "http://user:S3CR3T@[::1", "user:S3CR3T and S3CR3T", "[redacted] and [redacted]"},
		{"no user info", "http://h", "h is h", "h is h"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRedactor()
			r.AddURL(tc.raw)
			if diff := cmp.Diff(tc.want, r.String(tc.text)); diff != "" {
				t.Errorf("redacted (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRedactorForms(t *testing.T) {
	tests := []struct {
		name, secret, text, want string
	}{
		{"query-escaped", "a b&c", "form: x=a+b%26c", "form: x=[redacted]"},
		{"trimmed, as sent", " tok-123\n", "Bearer tok-123", "Bearer [redacted]"},
		{"invalid UTF-8 as an echo shows it", "\xfftok-123", "got \uFFFDtok-123", "got [redacted]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRedactor(NewSecret(tc.secret))
			if diff := cmp.Diff(tc.want, r.String(tc.text)); diff != "" {
				t.Errorf("redacted (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("a short value inside a long one", func(t *testing.T) {
		r := NewRedactor(NewSecret("\xdc")) // shown as U+FFFD, 3 bytes
		r.AddLongValues("\xe4long-token-1") // escaped %E4..., which holds no U+FFFD
		r.AddLongValues("short")            // under MinTokenBytes: kept
		got := r.String("x=%E4long-token-1 \uFFFDlong-token-1 short")
		if diff := cmp.Diff("x=[redacted] [redacted] short", got); diff != "" {
			t.Errorf("redacted (-want +got):\n%s", diff)
		}
	})
}

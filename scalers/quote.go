package scalers

import (
	"strconv"
	"unicode/utf8"
)

// Bounds of what an error message repeats. Metadata values and answers come
// from outside: a 1 MiB value must not become a 1 MiB gRPC status message
// or log line.
const (
	// MaxQuotedBytes bounds a value quoted in an error (a metadata value, a
	// key, a name taken from an answer).
	MaxQuotedBytes = 120
	// MaxExcerptBytes bounds text a source answered (an error message, a
	// status line) repeated in an error.
	MaxExcerptBytes = 256
	// maxMsgBytes bounds the message of a FieldError, which scalers may
	// build from values.
	maxMsgBytes = 1024
	// maxListedErrors bounds the problems a MetadataError lists.
	maxListedErrors = 20
)

// Quote returns s quoted as strconv.Quote does. A value longer than
// MaxQuotedBytes is cut at a character boundary, ends with "…" inside the
// quotes and is followed by its length: "sum(rate(…" (1048576 bytes).
func Quote(s string) string {
	if len(s) <= MaxQuotedBytes {
		return strconv.Quote(s)
	}
	q := strconv.Quote(cut(s, MaxQuotedBytes))
	return q[:len(q)-1] + "…\" (" + strconv.Itoa(len(s)) + " bytes)"
}

// Excerpt returns text a source sent (an error message of its answer),
// cut to MaxExcerptBytes with "… (N bytes)" after it when it is longer,
// and with invalid UTF-8 replaced, for an error message.
func Excerpt(s string) string { return excerpt(s, MaxExcerptBytes) }

func excerpt(s string, max int) string {
	if len(s) <= max {
		return validUTF8(s)
	}
	return validUTF8(cut(s, max)) + "… (" + strconv.Itoa(len(s)) + " bytes)"
}

// shortKey cuts a key name (keys of a custom scaler's sources come from
// the metadata) without stating its length: keys are not values.
func shortKey(k string) string {
	if len(k) <= MaxQuotedBytes {
		return k
	}
	return validUTF8(cut(k, MaxQuotedBytes)) + "…"
}

// cut returns at most n bytes of s, ending at a character boundary.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	out := make([]rune, 0, len(s))
	for _, r := range s {
		out = append(out, r) // invalid bytes come as utf8.RuneError
	}
	return string(out)
}

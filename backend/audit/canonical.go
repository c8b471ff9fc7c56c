package audit

import (
	"bytes"
	"encoding"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Canonical JSON is the RFC 8785 (JCS) serialisation restricted to the
// values an audit record needs: object members sorted by the UTF-16 code
// units of their names, no insignificant whitespace, strings as UTF-8 with
// only the escapes JCS prescribes, and numbers only as integers within
// I-JSON's exact range (|n| <= 2^53-1), written in plain decimal. Money is
// integer minor units and times are RFC 3339 UTC strings, so a float in a
// payload is a bug: it is refused with the path of the field, never
// rounded. Within that subset the output is byte-for-byte what a JCS
// implementation writes for the same value.

// MaxSafeInteger is the largest magnitude of an integer in canonical JSON
// (2^53-1, I-JSON's exact range: every JSON reader, JavaScript's
// included, reads it back unchanged).
const MaxSafeInteger = 1<<53 - 1

// maxDepth bounds the nesting of arrays and objects (and of Go values
// walked for floats), so hostile input cannot exhaust the stack.
const maxDepth = 64

// Errors of canonical JSON. Each is wrapped with the path of the value
// ("payload.items[2].price") and what was found.
var (
	// ErrNotInteger: a number with a fraction or an exponent, or a Go
	// float field. Money is integer minor units; times are strings.
	ErrNotInteger = errors.New("not an integer (money is integer minor units, times are RFC 3339 strings)")
	// ErrIntegerRange: an integer beyond MaxSafeInteger in magnitude.
	ErrIntegerRange = errors.New("integer beyond 2^53-1 in magnitude")
	// ErrInvalidJSON: anything else that is not JSON as canonical JSON
	// takes it (syntax, invalid UTF-8, lone surrogates, duplicate names,
	// nesting deeper than 64).
	ErrInvalidJSON = errors.New("invalid JSON")
	// ErrNotCanonical: valid JSON whose bytes differ from their canonical
	// form (returned by CheckCanonical).
	ErrNotCanonical = errors.New("not canonical JSON")
)

// Canonical returns the canonical JSON of v. v is marshalled with
// encoding/json (struct tags, MarshalJSON and MarshalText apply), after a
// walk over v that refuses any float32 or float64 (naming the field by its
// JSON path), and the result is canonicalised: a json.RawMessage anywhere
// in v is re-serialised canonically, and a non-integer number in it is
// refused too.
func Canonical(v any) ([]byte, error) {
	if err := checkNoFloats(reflect.ValueOf(v), "", 0); err != nil {
		return nil, err
	}
	data, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("marshal: %w", err)
	}
	return Canonicalize(data)
}

// Canonicalize parses the JSON text data and returns its canonical form.
// It refuses non-integer numbers, integers beyond MaxSafeInteger, invalid
// UTF-8, lone surrogate escapes, duplicate member names, nesting deeper
// than 64 and trailing data. Canonicalize(Canonicalize(x)) equals
// Canonicalize(x).
func Canonicalize(data []byte) ([]byte, error) {
	p := canonParser{data: data}
	p.skipSpace()
	out, err := p.value(make([]byte, 0, len(data)), 0)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.data) {
		return nil, p.errorf(ErrInvalidJSON, "trailing data at offset %d", p.pos)
	}
	return out, nil
}

// CheckCanonical returns nil if data is canonical JSON, byte for byte.
func CheckCanonical(data []byte) error {
	c, err := Canonicalize(data)
	if err != nil {
		return err
	}
	if !bytes.Equal(c, data) {
		return fmt.Errorf("%w: %d bytes, canonical form has %d", ErrNotCanonical, len(data), len(c))
	}
	return nil
}

// canonParser is a recursive-descent JSON parser that writes the canonical
// form as it goes. path holds the member names and indexes down to the
// value being parsed, formatted only when an error is returned.
type canonParser struct {
	data []byte
	pos  int
	path []pathElem
}

type pathElem struct {
	name  string
	index int // -1 for a member name
}

func (p *canonParser) pathString() string {
	return formatPath(p.path)
}

func formatPath(path []pathElem) string {
	if len(path) == 0 {
		return "(top level)"
	}
	var b strings.Builder
	for i, e := range path {
		if e.index >= 0 {
			fmt.Fprintf(&b, "[%d]", e.index)
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(e.name)
	}
	return b.String()
}

func (p *canonParser) errorf(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", p.pathString(), fmt.Sprintf(format, args...), sentinel)
}

func (p *canonParser) skipSpace() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *canonParser) value(out []byte, depth int) ([]byte, error) {
	if p.pos >= len(p.data) {
		return nil, p.errorf(ErrInvalidJSON, "unexpected end of input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		if depth >= maxDepth {
			return nil, p.errorf(ErrInvalidJSON, "nested deeper than %d", maxDepth)
		}
		return p.object(out, depth+1)
	case c == '[':
		if depth >= maxDepth {
			return nil, p.errorf(ErrInvalidJSON, "nested deeper than %d", maxDepth)
		}
		return p.array(out, depth+1)
	case c == '"':
		s, err := p.str()
		if err != nil {
			return nil, err
		}
		return appendString(out, s), nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number(out)
	case bytes.HasPrefix(p.data[p.pos:], []byte("true")):
		p.pos += 4
		return append(out, "true"...), nil
	case bytes.HasPrefix(p.data[p.pos:], []byte("false")):
		p.pos += 5
		return append(out, "false"...), nil
	case bytes.HasPrefix(p.data[p.pos:], []byte("null")):
		p.pos += 4
		return append(out, "null"...), nil
	default:
		return nil, p.errorf(ErrInvalidJSON, "unexpected %q at offset %d", c, p.pos)
	}
}

type member struct {
	name  string
	value []byte
}

func (p *canonParser) object(out []byte, depth int) ([]byte, error) {
	p.pos++ // {
	p.skipSpace()
	var members []member
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return append(out, "{}"...), nil
	}
	for {
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errorf(ErrInvalidJSON, "want a member name at offset %d", p.pos)
		}
		name, err := p.str()
		if err != nil {
			return nil, err
		}
		p.skipSpace()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errorf(ErrInvalidJSON, "want ':' after member %q at offset %d", name, p.pos)
		}
		p.pos++
		p.skipSpace()
		p.path = append(p.path, pathElem{name: name, index: -1})
		v, err := p.value(nil, depth)
		if err != nil {
			return nil, err
		}
		p.path = p.path[:len(p.path)-1]
		members = append(members, member{name: name, value: v})
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf(ErrInvalidJSON, "unterminated object")
		}
		if p.data[p.pos] == ',' {
			p.pos++
			p.skipSpace()
			continue
		}
		if p.data[p.pos] == '}' {
			p.pos++
			break
		}
		return nil, p.errorf(ErrInvalidJSON, "want ',' or '}' at offset %d", p.pos)
	}
	// JCS orders members by the UTF-16 code units of their names (what
	// JavaScript's sort does), not by bytes or code points: the two differ
	// only for names with characters beyond U+FFFF next to U+E000..U+FFFF.
	slices.SortStableFunc(members, func(a, b member) int { return compareUTF16(a.name, b.name) })
	out = append(out, '{')
	for i, m := range members {
		if i > 0 {
			if m.name == members[i-1].name {
				return nil, p.errorf(ErrInvalidJSON, "duplicate member %q", m.name)
			}
			out = append(out, ',')
		}
		out = appendString(out, m.name)
		out = append(out, ':')
		out = append(out, m.value...)
	}
	return append(out, '}'), nil
}

func (p *canonParser) array(out []byte, depth int) ([]byte, error) {
	p.pos++ // [
	p.skipSpace()
	out = append(out, '[')
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return append(out, ']'), nil
	}
	for i := 0; ; i++ {
		p.path = append(p.path, pathElem{index: i})
		var err error
		out, err = p.value(out, depth)
		if err != nil {
			return nil, err
		}
		p.path = p.path[:len(p.path)-1]
		p.skipSpace()
		if p.pos >= len(p.data) {
			return nil, p.errorf(ErrInvalidJSON, "unterminated array")
		}
		if p.data[p.pos] == ',' {
			p.pos++
			p.skipSpace()
			out = append(out, ',')
			continue
		}
		if p.data[p.pos] == ']' {
			p.pos++
			return append(out, ']'), nil
		}
		return nil, p.errorf(ErrInvalidJSON, "want ',' or ']' at offset %d", p.pos)
	}
}

// number accepts the JSON number grammar, then refuses what is not an
// integer: the grammar first, so that "1.5" is named a float and not a
// syntax error.
func (p *canonParser) number(out []byte) ([]byte, error) {
	start := p.pos
	d := p.data
	i := p.pos
	if i < len(d) && d[i] == '-' {
		i++
	}
	digits := i
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	default:
		return nil, p.errorf(ErrInvalidJSON, "malformed number at offset %d", start)
	}
	intEnd := i
	isInt := true
	if i < len(d) && d[i] == '.' {
		isInt = false
		i++
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return nil, p.errorf(ErrInvalidJSON, "malformed number at offset %d", start)
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		isInt = false
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if i >= len(d) || d[i] < '0' || d[i] > '9' {
			return nil, p.errorf(ErrInvalidJSON, "malformed number at offset %d", start)
		}
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
	}
	p.pos = i
	text := d[start:i]
	if !isInt {
		return nil, p.errorf(ErrNotInteger, "%s", truncate(text))
	}
	// More than 16 digits is beyond 2^53-1 (9007199254740991) for sure;
	// the check keeps ParseInt from seeing absurd lengths.
	if intEnd-digits > 16 {
		return nil, p.errorf(ErrIntegerRange, "%s", truncate(text))
	}
	n, err := strconv.ParseInt(string(text), 10, 64)
	if err != nil || n > MaxSafeInteger || n < -MaxSafeInteger {
		return nil, p.errorf(ErrIntegerRange, "%s", truncate(text))
	}
	// "-0" is the integer 0, which JCS writes as "0".
	return strconv.AppendInt(out, n, 10), nil
}

func truncate(b []byte) string {
	if len(b) > 40 {
		return string(b[:40]) + "..."
	}
	return string(b)
}

// str parses a JSON string at p.pos and returns its value. It refuses
// control characters, invalid UTF-8 and unpaired surrogate escapes: each
// would make the value unrepresentable as the UTF-8 string JCS writes.
func (p *canonParser) str() (string, error) {
	start := p.pos
	p.pos++ // "
	d := p.data
	// Fast path: no escapes.
	i := p.pos
	for i < len(d) && d[i] != '"' && d[i] != '\\' && d[i] >= 0x20 {
		i++
	}
	if i < len(d) && d[i] == '"' {
		s := d[p.pos:i]
		if !utf8.Valid(s) {
			return "", p.errorf(ErrInvalidJSON, "invalid UTF-8 in string at offset %d", start)
		}
		p.pos = i + 1
		return string(s), nil
	}
	buf := append([]byte(nil), d[p.pos:i]...)
	for {
		if i >= len(d) {
			return "", p.errorf(ErrInvalidJSON, "unterminated string at offset %d", start)
		}
		c := d[i]
		switch {
		case c == '"':
			if !utf8.Valid(buf) {
				return "", p.errorf(ErrInvalidJSON, "invalid UTF-8 in string at offset %d", start)
			}
			p.pos = i + 1
			return string(buf), nil
		case c < 0x20:
			return "", p.errorf(ErrInvalidJSON, "control character %#02x in string at offset %d", c, i)
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		// An escape.
		if i+1 >= len(d) {
			return "", p.errorf(ErrInvalidJSON, "unterminated string at offset %d", start)
		}
		switch e := d[i+1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
			i += 2
		case 'b':
			buf = append(buf, '\b')
			i += 2
		case 'f':
			buf = append(buf, '\f')
			i += 2
		case 'n':
			buf = append(buf, '\n')
			i += 2
		case 'r':
			buf = append(buf, '\r')
			i += 2
		case 't':
			buf = append(buf, '\t')
			i += 2
		case 'u':
			r, ok := hex4(d, i+2)
			if !ok {
				return "", p.errorf(ErrInvalidJSON, "malformed \\u escape at offset %d", i)
			}
			i += 6
			if utf16.IsSurrogate(r) {
				// Only a high surrogate followed by an escaped low one
				// is a character; anything else has no UTF-8 form.
				var r2 rune = -1
				if r < 0xdc00 && i+1 < len(d) && d[i] == '\\' && d[i+1] == 'u' {
					r2, ok = hex4(d, i+2)
					if !ok {
						r2 = -1
					}
				}
				dec := utf16.DecodeRune(r, r2)
				if dec == utf8.RuneError {
					return "", p.errorf(ErrInvalidJSON, "unpaired surrogate \\u%04x at offset %d", r, i-6)
				}
				r = dec
				i += 6
			}
			buf = utf8.AppendRune(buf, r)
		default:
			return "", p.errorf(ErrInvalidJSON, "invalid escape \\%c at offset %d", e, i)
		}
	}
}

func hex4(d []byte, i int) (rune, bool) {
	if i+4 > len(d) {
		return 0, false
	}
	var r rune
	for _, c := range d[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			r = r<<4 | rune(c-'0')
		case c >= 'a' && c <= 'f':
			r = r<<4 | rune(c-'a'+10)
		case c >= 'A' && c <= 'F':
			r = r<<4 | rune(c-'A'+10)
		default:
			return 0, false
		}
	}
	return r, true
}

const hexDigits = "0123456789abcdef"

// appendString writes s (valid UTF-8) as JCS does (ECMAScript's
// JSON.stringify): '"' and '\' escaped, the control characters with a
// short escape as \b \t \n \f \r, the others as \u00xx in lower case, and
// everything else as itself, U+2028, U+2029 and '<' included.
func appendString(out []byte, s string) []byte {
	out = append(out, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		out = append(out, s[start:i]...)
		switch c {
		case '"':
			out = append(out, '\\', '"')
		case '\\':
			out = append(out, '\\', '\\')
		case '\b':
			out = append(out, '\\', 'b')
		case '\t':
			out = append(out, '\\', 't')
		case '\n':
			out = append(out, '\\', 'n')
		case '\f':
			out = append(out, '\\', 'f')
		case '\r':
			out = append(out, '\\', 'r')
		default:
			out = append(out, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	out = append(out, s[start:]...)
	return append(out, '"')
}

// compareUTF16 orders a and b (valid UTF-8) by their UTF-16 code units.
func compareUTF16(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			ua1, ua2 := utf16Units(ra)
			ub1, ub2 := utf16Units(rb)
			if ua1 != ub1 {
				return int(ua1) - int(ub1)
			}
			return int(ua2) - int(ub2)
		}
		a, b = a[na:], b[nb:]
	}
	return len(a) - len(b)
}

func utf16Units(r rune) (uint16, uint16) {
	if r < 0x10000 {
		return uint16(r), 0
	}
	r1, r2 := utf16.EncodeRune(r)
	return uint16(r1), uint16(r2)
}

var (
	jsonMarshaler = reflect.TypeFor[json.Marshaler]()
	textMarshaler = reflect.TypeFor[encoding.TextMarshaler]()
)

// checkNoFloats walks v as encoding/json would and refuses the first
// float32 or float64 it finds, whatever its value: a float field whose
// value happens to be whole would otherwise pass until the day it is not.
// Values that marshal themselves are left to Canonicalize, which refuses
// a non-integer in their output.
func checkNoFloats(v reflect.Value, path string, depth int) error {
	if !v.IsValid() {
		return nil
	}
	if depth > maxDepth {
		return fmt.Errorf("%s: nested deeper than %d: %w", pathOrTop(path), maxDepth, ErrInvalidJSON)
	}
	t := v.Type()
	// encoding/json calls a pointer-receiver method only on an
	// addressable value; otherwise it encodes the fields, which are
	// walked.
	if t.Kind() != reflect.Pointer && t.Kind() != reflect.Interface &&
		(t.Implements(jsonMarshaler) || t.Implements(textMarshaler) ||
			v.CanAddr() && (reflect.PointerTo(t).Implements(jsonMarshaler) || reflect.PointerTo(t).Implements(textMarshaler))) {
		return nil
	}
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		return fmt.Errorf("%s: %s %v: %w", pathOrTop(path), t, v.Float(), ErrNotInteger)
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return checkNoFloats(v.Elem(), path, depth+1)
	case reflect.Slice, reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return nil // bytes: a base64 string
		}
		for i := range v.Len() {
			if err := checkNoFloats(v.Index(i), fmt.Sprintf("%s[%d]", path, i), depth+1); err != nil {
				return err
			}
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			if err := checkNoFloats(iter.Value(), joinPath(path, fmt.Sprint(iter.Key().Interface())), depth+1); err != nil {
				return err
			}
		}
	case reflect.Struct:
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() && !f.Anonymous {
				continue
			}
			tag := f.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, opts, _ := strings.Cut(tag, ",")
			if strings.Contains(","+opts+",", ",string,") {
				continue // a number written as a string
			}
			fieldPath := path
			if !f.Anonymous || name != "" {
				if name == "" {
					name = f.Name
				}
				fieldPath = joinPath(path, name)
			}
			if err := checkNoFloats(v.Field(i), fieldPath, depth+1); err != nil {
				return err
			}
		}
	}
	return nil
}

func joinPath(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func pathOrTop(path string) string {
	if path == "" {
		return "(top level)"
	}
	return path
}

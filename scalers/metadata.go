package scalers

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// ParseMetadata fills the struct that dst points to from KEDA-style trigger
// metadata, as declared by `meta` struct tags, and returns every problem at
// once as a *MetadataError (which wraps ErrInvalidConfig).
//
// The tag is a comma-separated list; the first element is the key and its
// aliases separated by '|', the rest are options:
//
//	optional        the key may be absent (the field keeps its zero value;
//	                a pointer field stays nil)
//	default=V       the value used when the key is absent (implies optional)
//	enum=a|b|c      the value must be one of these (exact match)
//	min=N, max=N    inclusive bounds of a number (or of a duration)
//	gt=N, lt=N      exclusive bounds of a number
//	unit=ms|s|m     what a plain number means for a time.Duration field
//	                (default s); "1m30s" style strings are accepted too
//	sep=X           list separator for []string and map fields (default ",")
//	secret          a Secret field: the key itself, <key>FromEnv (KEDA has
//	                already put the resolved value there) or <key>File (a
//	                path, re-read when the file changes, allowed only by
//	                a FileAccess option: ParseMetadata(md, dst,
//	                cfg.SecretFiles))
//	hide            a plain field whose value may carry credentials (a map
//	                of headers): its errors say "(secret, not shown)" and
//	                name an item by its position, never show the value
//
// A key whose value is empty or only spaces counts as absent, as in KEDA.
// Untagged struct fields (and fields tagged "-") are skipped, except
// untagged embedded or named struct fields, whose tagged fields are parsed
// as if they belonged to the outer struct. Unknown keys in md are ignored
// (KEDA puts its own keys in the metadata too).
//
// Supported field types: string, bool, all int and uint kinds, float32/64,
// time.Duration, Secret, []string, []int, map[string]string ("k=v" pairs),
// and pointers to the scalar kinds (nil when absent).
//
// After the fields parse, a struct implementing Validate() error is asked to
// check relations between fields; its errors (FieldErrors or others) are
// added to the same MetadataError.
func ParseMetadata(md map[string]string, dst any, opts ...ParseOption) error {
	rv := reflect.ValueOf(dst)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("parse metadata: destination must be a non-nil pointer to a struct, got %T", dst)
	}
	p := parser{md: md}
	for _, o := range opts {
		o.applyParse(&p)
	}
	p.parseStruct(rv.Elem())
	if len(p.errs) == 0 {
		if v, ok := dst.(interface{ Validate() error }); ok {
			if err := v.Validate(); err != nil {
				p.add(err)
			}
		}
	}
	if len(p.errs) == 0 {
		return nil
	}
	return &MetadataError{Errs: p.errs}
}

// FieldError is one problem with one metadata key.
type FieldError struct {
	Key   string
	Value string
	// Msg says what was expected, e.g. "not a number".
	Msg string
	// Secret hides Value from the message: it says "(secret, not shown)".
	Secret bool
	// Missing marks an error about the key itself (a required key that is
	// absent, a malformed key name): Value is meaningless and not shown.
	Missing bool
}

// Error names the key and quotes the value (neither of a secret); a value
// longer than MaxQuotedBytes is cut and its length given (see Quote), and
// so are a long key and a long Msg, so a huge value never makes a huge
// message.
func (e *FieldError) Error() string {
	key, msg := shortKey(e.Key), excerpt(e.Msg, maxMsgBytes)
	switch {
	case e.Missing:
		return key + ": " + msg
	case e.Secret:
		return key + " (secret, not shown): " + msg
	default:
		return key + " " + Quote(e.Value) + ": " + msg
	}
}

// Is makes every FieldError an ErrInvalidConfig.
func (e *FieldError) Is(target error) bool { return target == ErrInvalidConfig }

// NewFieldError returns a FieldError; scalers use it in Validate.
func NewFieldError(key, value, msg string) *FieldError {
	return &FieldError{Key: key, Value: value, Msg: msg}
}

// MetadataError collects every FieldError of one parse.
type MetadataError struct {
	Errs []*FieldError
	// Other holds errors returned by Validate that are not FieldErrors.
	Other []error
}

// Error lists the problems, at most maxListedErrors of them (then how many
// more there are): metadata with thousands of bad keys gives a message of
// bounded size.
func (e *MetadataError) Error() string {
	n := len(e.Errs) + len(e.Other)
	parts := make([]string, 0, min(n, maxListedErrors+1))
	for _, fe := range e.Errs {
		if len(parts) == maxListedErrors {
			break
		}
		parts = append(parts, fe.Error())
	}
	for _, o := range e.Other {
		if len(parts) == maxListedErrors {
			break
		}
		// Other errors (an expression's compile errors, with their
		// snippets) get more room than one key's message.
		parts = append(parts, excerpt(o.Error(), 4*maxMsgBytes))
	}
	if n > maxListedErrors {
		parts = append(parts, "and "+strconv.Itoa(n-maxListedErrors)+" more")
	}
	return "invalid metadata: " + strings.Join(parts, "; ")
}

// Is makes a MetadataError an ErrInvalidConfig.
func (e *MetadataError) Is(target error) bool { return target == ErrInvalidConfig }

// Unwrap returns the individual errors.
func (e *MetadataError) Unwrap() []error {
	out := make([]error, 0, len(e.Errs)+len(e.Other))
	for _, fe := range e.Errs {
		out = append(out, fe)
	}
	return append(out, e.Other...)
}

// Invalid builds a *MetadataError from FieldErrors (or any errors, which are
// kept as they are); it returns nil when every argument is nil. Scalers use it
// for checks ParseMetadata cannot express.
func Invalid(errs ...error) error {
	p := parser{}
	for _, err := range errs {
		if err != nil {
			p.add(err)
		}
	}
	if len(p.errs) == 0 && len(p.other) == 0 {
		return nil
	}
	return &MetadataError{Errs: p.errs, Other: p.other}
}

type parser struct {
	md    map[string]string
	files FileAccess
	errs  []*FieldError
	other []error
}

// A ParseOption changes how ParseMetadata reads metadata. FileAccess is
// one: without it, every <key>File key is refused.
type ParseOption interface {
	applyParse(p *parser)
}

func (p *parser) add(err error) {
	// Look at the error itself first: errors.As on a joined error would
	// match only its first FieldError and drop the rest.
	switch e := err.(type) {
	case *MetadataError:
		p.errs = append(p.errs, e.Errs...)
		p.other = append(p.other, e.Other...)
		return
	case *FieldError:
		p.errs = append(p.errs, e)
		return
	case interface{ Unwrap() []error }:
		for _, inner := range e.Unwrap() {
			p.add(inner)
		}
		return
	}
	var me *MetadataError
	var fe *FieldError
	switch {
	case errors.As(err, &me):
		p.errs = append(p.errs, me.Errs...)
		p.other = append(p.other, me.Other...)
	case errors.As(err, &fe):
		p.errs = append(p.errs, fe)
	default:
		p.other = append(p.other, err)
	}
}

func (p *parser) fail(key, value, msg string, secret bool) {
	p.errs = append(p.errs, &FieldError{Key: key, Value: value, Msg: msg, Secret: secret})
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	secretType   = reflect.TypeFor[Secret]()
)

func (p *parser) parseStruct(v reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		tag, tagged := sf.Tag.Lookup("meta")
		if tag == "-" || (!sf.IsExported() && !sf.Anonymous) {
			continue
		}
		fv := v.Field(i)
		if !tagged {
			if sf.Type.Kind() == reflect.Struct && sf.Type != secretType {
				before := len(p.errs)
				p.parseStruct(fv)
				// Nested structs (e.g. TLSConfig) check their own relations.
				if v, ok := addrInterface(fv).(interface{ Validate() error }); ok && len(p.errs) == before {
					if err := v.Validate(); err != nil {
						p.add(err)
					}
				}
			}
			continue
		}
		opts, err := parseTag(tag)
		if err != nil {
			// A malformed tag is a bug in the scaler, not user input.
			panic(fmt.Sprintf("scalers: field %s.%s: %v", t.Name(), sf.Name, err))
		}
		p.parseField(fv, opts)
	}
}

type tagOpts struct {
	keys     []string
	optional bool
	def      *string
	enum     []string
	min, max *float64
	gt, lt   *float64
	unit     time.Duration
	sep      string
	secret   bool
	hide     bool
}

func parseTag(tag string) (tagOpts, error) {
	parts := strings.Split(tag, ",")
	o := tagOpts{unit: time.Second, sep: ","}
	for _, k := range strings.Split(strings.TrimSpace(parts[0]), "|") {
		if k = strings.TrimSpace(k); k != "" {
			o.keys = append(o.keys, k)
		}
	}
	if len(o.keys) == 0 {
		return o, errors.New("tag has no key name")
	}
	num := func(s string) (*float64, error) {
		f, err := strconv.ParseFloat(s, 64)
		return &f, err
	}
	for _, part := range parts[1:] {
		name, val, _ := strings.Cut(strings.TrimSpace(part), "=")
		var err error
		switch name {
		case "optional":
			o.optional = true
		case "secret":
			o.secret = true
		case "hide":
			o.hide = true
		case "default":
			o.def, o.optional = &val, true
		case "enum":
			o.enum = strings.Split(val, "|")
		case "min":
			o.min, err = num(val)
		case "max":
			o.max, err = num(val)
		case "gt":
			o.gt, err = num(val)
		case "lt":
			o.lt, err = num(val)
		case "sep":
			o.sep = val
		case "unit":
			switch val {
			case "ms":
				o.unit = time.Millisecond
			case "s":
				o.unit = time.Second
			case "m":
				o.unit = time.Minute
			default:
				err = fmt.Errorf("unknown unit %q", val)
			}
		case "":
		default:
			err = fmt.Errorf("unknown option %q", name)
		}
		if err != nil {
			return o, err
		}
	}
	return o, nil
}

// lookup finds the first key (or alias) with a non-empty value.
func (p *parser) lookup(keys []string) (key, val string, ok bool) {
	for _, k := range keys {
		if v, found := p.md[k]; found && strings.TrimSpace(v) != "" {
			return k, v, true
		}
	}
	return keys[0], "", false
}

func (p *parser) parseField(fv reflect.Value, o tagOpts) {
	if o.secret {
		if fv.Type() != secretType {
			panic(fmt.Sprintf("scalers: key %s: secret option on non-Secret field", o.keys[0]))
		}
		p.parseSecret(fv, o)
		return
	}
	key, raw, ok := p.lookup(o.keys)
	if !ok {
		switch {
		case o.def != nil:
			raw = *o.def
		case o.optional:
			return
		default:
			p.errs = append(p.errs, &FieldError{Key: key, Missing: true, Msg: "required key is missing"})
			return
		}
	}
	raw = strings.TrimSpace(raw)
	if len(o.enum) > 0 && !containsString(o.enum, raw) {
		p.fail(key, raw, "expected one of "+strings.Join(o.enum, ", "), o.hide)
		return
	}
	if fv.Kind() == reflect.Pointer {
		elem := reflect.New(fv.Type().Elem())
		if p.setValue(elem.Elem(), key, raw, o) {
			fv.Set(elem)
		}
		return
	}
	p.setValue(fv, key, raw, o)
}

func (p *parser) parseSecret(fv reflect.Value, o tagOpts) {
	var s Secret
	found := false
	for _, k := range o.keys {
		if v, ok := p.md[k]; ok && strings.TrimSpace(v) != "" {
			s, found = NewSecret(v), true
			break
		}
		if v, ok := p.md[k+"FromEnv"]; ok && v != "" {
			s, found = NewSecret(v), true
			break
		}
		if path, ok := p.md[k+"File"]; ok && strings.TrimSpace(path) != "" {
			fs, err := NewFileSecret(strings.TrimSpace(path), p.files)
			if err != nil {
				p.errs = append(p.errs, Secret{src: &secretSource{path: strings.TrimSpace(path)}}.ReadError(k, err))
				return
			}
			s, found = fs, true
			break
		}
	}
	if !found {
		if o.def != nil {
			s = NewSecret(*o.def)
		} else if !o.optional {
			p.errs = append(p.errs, &FieldError{Key: o.keys[0], Missing: true,
				Msg: "required key is missing (set " + o.keys[0] + ", " + o.keys[0] + "FromEnv or " + o.keys[0] + "File)"})
			return
		}
	}
	fv.Set(reflect.ValueOf(s))
}

// setValue parses raw into fv; it reports whether it succeeded.
func (p *parser) setValue(fv reflect.Value, key, raw string, o tagOpts) bool {
	bad := func(msg string) bool { p.fail(key, raw, msg, o.hide); return false }
	switch {
	case fv.Type() == durationType:
		d, err := parseDuration(raw, o.unit)
		if err != nil {
			return bad("not a duration (e.g. \"30s\" or a number of " + unitName(o.unit) + ")")
		}
		if !p.checkRange(key, raw, float64(d)/float64(o.unit), o) {
			return false
		}
		fv.SetInt(int64(d))
		return true
	}
	switch fv.Kind() {
	case reflect.String:
		fv.SetString(raw)
	case reflect.Bool:
		b, err := strconv.ParseBool(raw)
		if err != nil {
			return bad("not a boolean (true or false)")
		}
		fv.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(raw, 10, fv.Type().Bits())
		if err != nil {
			return bad(intMsg(err))
		}
		if !p.checkRange(key, raw, float64(n), o) {
			return false
		}
		fv.SetInt(n)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(raw, 10, fv.Type().Bits())
		if err != nil {
			return bad("not a non-negative integer")
		}
		if !p.checkRange(key, raw, float64(n), o) {
			return false
		}
		fv.SetUint(n)
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(raw, fv.Type().Bits())
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return bad("not a number")
		}
		if !p.checkRange(key, raw, f, o) {
			return false
		}
		fv.SetFloat(f)
	case reflect.Slice:
		items := splitList(raw, o.sep)
		out := reflect.MakeSlice(fv.Type(), 0, len(items))
		for _, it := range items {
			ev := reflect.New(fv.Type().Elem()).Elem()
			if !p.setValue(ev, key, it, tagOpts{unit: o.unit, sep: o.sep, min: o.min, max: o.max, gt: o.gt, lt: o.lt, hide: o.hide}) {
				return false
			}
			out = reflect.Append(out, ev)
		}
		fv.Set(out)
	case reflect.Map:
		if fv.Type().Key().Kind() != reflect.String || fv.Type().Elem().Kind() != reflect.String {
			panic("scalers: only map[string]string fields are supported")
		}
		m := reflect.MakeMap(fv.Type())
		for i, it := range splitList(raw, o.sep) {
			k, v, ok := strings.Cut(it, "=")
			k = strings.TrimSpace(k)
			if !ok || k == "" {
				if o.hide {
					return bad("item " + strconv.Itoa(i+1) + " is not a key=value pair (expected key=value pairs separated by " + strconv.Quote(o.sep) + ")")
				}
				return bad("expected key=value pairs separated by " + strconv.Quote(o.sep))
			}
			m.SetMapIndex(reflect.ValueOf(k), reflect.ValueOf(strings.TrimSpace(v)))
		}
		fv.Set(m)
	default:
		panic(fmt.Sprintf("scalers: key %s: unsupported field type %s", key, fv.Type()))
	}
	return true
}

func (p *parser) checkRange(key, raw string, f float64, o tagOpts) bool {
	var msg string
	switch {
	case o.min != nil && f < *o.min:
		msg = "must be >= " + fmtNum(*o.min)
	case o.max != nil && f > *o.max:
		msg = "must be <= " + fmtNum(*o.max)
	case o.gt != nil && f <= *o.gt:
		msg = "must be > " + fmtNum(*o.gt)
	case o.lt != nil && f >= *o.lt:
		msg = "must be < " + fmtNum(*o.lt)
	default:
		return true
	}
	p.fail(key, raw, msg, o.hide)
	return false
}

func parseDuration(raw string, unit time.Duration) (time.Duration, error) {
	if f, err := strconv.ParseFloat(raw, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f*float64(unit)) > math.MaxInt64 {
			return 0, errors.New("out of range")
		}
		return time.Duration(f * float64(unit)), nil
	}
	return time.ParseDuration(raw)
}

func unitName(u time.Duration) string {
	switch u {
	case time.Millisecond:
		return "milliseconds"
	case time.Minute:
		return "minutes"
	default:
		return "seconds"
	}
}

func intMsg(err error) string {
	if errors.Is(err, strconv.ErrRange) {
		return "integer out of range"
	}
	return "not an integer"
}

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func splitList(raw, sep string) []string {
	var out []string
	for _, s := range strings.Split(raw, sep) {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// addrInterface returns a pointer to v as an interface, or nil when v was
// reached through an unexported field (reflect refuses Interface there).
func addrInterface(v reflect.Value) any {
	if !v.CanAddr() || !v.Addr().CanInterface() {
		return nil
	}
	return v.Addr().Interface()
}

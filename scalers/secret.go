package scalers

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Secret is a credential from trigger metadata: given inline (or through
// <key>FromEnv, which KEDA resolves before it calls an external scaler) or as
// <key>File, a path to a file mounted into this server, which is re-read when
// it changes so rotated Kubernetes Secrets take effect without a restart. A
// file is read only if the FileAccess it was parsed with allows its path,
// checked again at every read (see FileAccess).
//
// A Secret never prints its value: String, GoString, JSON and slog all show
// "[redacted]". Read it only with Value, right where a client needs it.
// The zero Secret is unset. Secret is safe for concurrent use and cheap to
// copy.
type Secret struct {
	src *secretSource
}

type secretSource struct {
	inline string
	path   string
	files  FileAccess

	mu      sync.Mutex
	value   string
	modTime time.Time
	size    int64
	inode   uint64
}

// maxSecretFileSize bounds what a <key>File may hold: a credential or a PEM
// bundle, never megabytes. It also stops "passwordFile: /dev/zero".
const maxSecretFileSize = 1 << 20

// NewSecret returns a Secret holding an inline value.
func NewSecret(value string) Secret { return Secret{src: &secretSource{inline: value, value: value}} }

// NewFileSecret returns a Secret read from path, a file files allows (see
// FileAccess); it fails if the path is refused or the file cannot be read
// now (the error names the path, never the content).
func NewFileSecret(path string, files FileAccess) (Secret, error) {
	s := Secret{src: &secretSource{path: path, files: files}}
	if _, err := s.Value(); err != nil {
		return Secret{}, err
	}
	return s, nil
}

// IsSet reports whether the secret was given at all.
func (s Secret) IsSet() bool { return s.src != nil }

// Path is the file a <key>File secret is read from; "" for a secret given
// inline or through <key>FromEnv.
func (s Secret) Path() string {
	if s.src == nil {
		return ""
	}
	return s.src.path
}

// FieldError reports a problem with the secret given as key without showing
// it: a <key>File secret is named by its key and path (caFile
// "/etc/certs/ca.crt": ...), any other by its key and "(secret, not shown)".
// When err comes from reading the file, msg is followed by the reason.
func (s Secret) FieldError(key, msg string) *FieldError {
	if p := s.Path(); p != "" {
		return &FieldError{Key: key + "File", Value: p, Msg: msg}
	}
	return &FieldError{Key: key, Msg: msg, Secret: true}
}

// ReadError is the FieldError for a secret whose file cannot be read, or
// may not be: it names key<File>, the path and the reason once ("cannot
// read: ..." or why FileAccess refuses the path). Other errors are kept as
// the message.
func (s Secret) ReadError(key string, err error) *FieldError {
	var fe *fileError
	if errors.As(err, &fe) {
		if fe.denied {
			return s.FieldError(key, fe.reason)
		}
		return s.FieldError(key, "cannot read: "+fe.reason)
	}
	return s.FieldError(key, err.Error())
}

// ReadSecret reads s, the value of key, at run time (for a request, a
// connection, a token). A file that cannot be read is reported as ReadError
// words it (passwordFile "/p": cannot read: ...), but the error is not an
// ErrInvalidConfig: the file may be back at the next call. At parse time,
// where a missing file is a configuration error, use Value and ReadError.
func ReadSecret(key string, s Secret) (string, error) {
	v, err := s.Value()
	if err != nil {
		return "", errors.New(s.ReadError(key, err).Error())
	}
	return v, nil
}

// fileError is a secret file that cannot be read, or may not be (denied:
// FileAccess refuses its path).
type fileError struct {
	path, reason string
	denied       bool
	err          error
}

func (e *fileError) Error() string { return "read secret file " + e.path + ": " + e.reason }
func (e *fileError) Unwrap() error { return e.err }

func readErr(path string, err error) error {
	err = pathErr(err)
	return &fileError{path: path, reason: err.Error(), err: err}
}

func readErrMsg(path, reason string) error {
	return &fileError{path: path, reason: reason}
}

// Value returns the current value; for a file secret it re-reads the file
// when its size, modification time or inode changed. Each call checks the
// path against the secret's FileAccess again, its symlinks resolved anew.
// A trailing newline in a file is dropped (as kubectl create secret
// --from-file often leaves one).
func (s Secret) Value() (string, error) {
	if s.src == nil {
		return "", nil
	}
	if s.src.path == "" {
		return s.src.inline, nil
	}
	src := s.src
	target, root, fi, err := src.files.stat(src.path)
	if err != nil {
		return "", err
	}
	ino := fileInode(fi)
	src.mu.Lock()
	defer src.mu.Unlock()
	// Kubernetes rotates a mounted Secret by swapping a symlink to a new
	// file, so a new inode catches rewrites of the same size within one
	// timestamp tick; size and mtime catch in-place rewrites.
	if src.modTime != (time.Time{}) && fi.ModTime().Equal(src.modTime) && fi.Size() == src.size && ino == src.inode {
		return src.value, nil
	}
	b, fi, err := src.files.read(src.path, target, root, fi)
	if err != nil {
		return "", err
	}
	src.value = strings.TrimRight(string(b), "\r\n")
	src.modTime, src.size, src.inode = fi.ModTime(), fi.Size(), fileInode(fi)
	return src.value, nil
}

// fileInode returns the inode number where the platform has one.
func fileInode(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return st.Ino
	}
	return 0
}

// MustValue is Value for inline secrets and best effort for files: on a read
// error it returns the last value read.
func (s Secret) MustValue() string {
	v, err := s.Value()
	if err != nil && s.src != nil {
		s.src.mu.Lock()
		defer s.src.mu.Unlock()
		return s.src.value
	}
	return v
}

func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

const redacted = "[redacted]"

func (s Secret) String() string   { return redacted }
func (s Secret) GoString() string { return redacted }

// LogValue keeps the value out of slog output.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalJSON keeps the value out of JSON output.
func (s Secret) MarshalJSON() ([]byte, error) { return json.Marshal(redacted) }

// Redactor replaces known secret values in text. Build one per scaler with
// every secret (and secret-bearing URL) it holds; use it on every error that
// leaves the scaler.
type Redactor struct {
	secrets []Secret
	extra   []string
	dynamic []func() []string
}

// NewRedactor returns a Redactor for the given secrets (unset ones are
// ignored).
func NewRedactor(secrets ...Secret) *Redactor {
	r := &Redactor{}
	for _, s := range secrets {
		if s.IsSet() {
			r.secrets = append(r.secrets, s)
		}
	}
	return r
}

// AddValue adds a literal value to hide (for example a password parsed out
// of a connection URL). Values shorter than 3 bytes are ignored: replacing
// every "a" would mangle messages without hiding anything useful.
func (r *Redactor) AddValue(v string) {
	if len(v) >= 3 {
		r.extra = append(r.extra, v)
	}
}

// MinTokenBytes is the length from which AddLongValues hides a value: a
// token, not "true" or a tenant's name.
const MinTokenBytes = 8

// AddLongValues hides the values of keys that may carry a credential
// without being secrets (customHeaders, queryParameters, endpointParams)
// that are at least MinTokenBytes long: a server may echo them.
func (r *Redactor) AddLongValues(values ...string) {
	for _, v := range values {
		if len(v) >= MinTokenBytes {
			r.AddValue(v)
		}
	}
}

// AddFunc hides values that change while the scaler runs (an OAuth2 access
// token): f is called at every redaction, from any goroutine.
func (r *Redactor) AddFunc(f func() []string) { r.dynamic = append(r.dynamic, f) }

// AddURL hides the user info of a URL, the part RedactURL replaces: the
// password of a URL that parses (the user name when there is no password:
// it is often a token), and otherwise the whole user info and each piece
// of it between URL separators.
func (r *Redactor) AddURL(raw string) {
	info, start, ok := userInfo(raw)
	if !ok {
		return
	}
	if user, pass, hasPass, parsed := parsedUserInfo(raw, start, len(info)); parsed {
		if hasPass {
			r.AddValue(pass)
			return
		}
		r.AddValue(user)
		return
	}
	// Where a parser does not see the user info, a request may carry it
	// in its host or path, escaped: each piece between separators is
	// hidden too.
	r.AddValue(info)
	for _, piece := range strings.FieldsFunc(info, func(c rune) bool {
		return strings.ContainsRune(":/@?#%[] ", c) || c < ' ' || c == 0x7f
	}) {
		r.AddValue(piece)
	}
}

// String redacts s: every value as it is, trimmed of spaces (as
// credentials are sent), query-escaped (the form a form body or a query
// string gives it, which a server may echo) and with invalid UTF-8
// replaced. Longer values go first, so that a short secret inside a long
// one cannot leave the rest of the long one in the text.
func (r *Redactor) String(s string) string {
	if r == nil {
		return s
	}
	var all []string
	add := func(v string) {
		if len(v) < 3 {
			return
		}
		all = append(all, v)
		if e := url.QueryEscape(v); e != v {
			all = append(all, e)
		}
	}
	hide := func(v string) {
		add(v)
		if t := strings.TrimSpace(v); t != v {
			add(t)
		}
		// As an echo (and Excerpt) shows invalid UTF-8.
		if u := validUTF8(v); u != v {
			add(u)
			add(strings.TrimSpace(u))
		}
	}
	for _, sec := range r.secrets {
		hide(sec.MustValue())
	}
	for _, v := range r.extra {
		hide(v)
	}
	for _, f := range r.dynamic {
		for _, v := range f() {
			hide(v)
		}
	}
	slices.SortFunc(all, func(a, b string) int { return len(b) - len(a) })
	for _, v := range all {
		s = strings.ReplaceAll(s, v, redacted)
	}
	return s
}

// Error returns an error whose message is redacted. The result keeps the
// sentinel errors of this package and context cancellation (errors.Is works
// for them) but not the original chain, whose messages could hold a secret.
func (r *Redactor) Error(err error) error {
	if err == nil {
		return nil
	}
	msg := r.String(err.Error())
	var kinds []error
	for _, k := range []error{ErrInvalidConfig, ErrUnavailable, ErrNoData, ErrLimit, ErrClosed, contextCanceled, contextDeadline} {
		if errors.Is(err, k) {
			kinds = append(kinds, k)
		}
	}
	return &redactedError{msg: msg, kinds: kinds}
}

type redactedError struct {
	msg   string
	kinds []error
}

func (e *redactedError) Error() string   { return e.msg }
func (e *redactedError) Unwrap() []error { return e.kinds }

// redactedUserInfo replaces the user info of a URL in messages.
const redactedUserInfo = "xxxxx"

// RedactURL returns raw with its user info hidden, for errors, logs and
// metric names; it is the one rule for every value that may carry user
// info (serverAddress, url, oauthTokenURI, a custom source's url), whether
// it parses or not. The user info is everything between "//" (the start,
// when there is no "//" before the first "@") and the last "@": raw
// parsing would not find it in a value
// that does not parse, and a password holding "/", "?" or "#" moves the
// '@' out of what a parser calls the authority. When raw parses and its
// user info is exactly that span, the user name is kept before a password
// (http://admin:xxxxx@prom:9090); otherwise the whole span is replaced
// (http://xxxxx@prom:9090). A value without "@" is returned as it is.
func RedactURL(raw string) string {
	info, start, ok := userInfo(raw)
	if !ok {
		return raw
	}
	end := start + len(info)
	if _, _, hasPass, parsed := parsedUserInfo(raw, start, len(info)); parsed && hasPass {
		// The user name as written, before the first ':'.
		user, _, _ := strings.Cut(info, ":")
		return raw[:start] + user + ":" + redactedUserInfo + raw[end:]
	}
	return raw[:start] + redactedUserInfo + raw[end:]
}

// userInfo returns the span RedactURL hides and where it starts.
func userInfo(raw string) (info string, start int, ok bool) {
	at := strings.LastIndexByte(raw, '@')
	if at < 0 {
		return "", 0, false
	}
	// A "//" after an '@' is not the one before the user info.
	if i := strings.Index(raw, "//"); i >= 0 && i < strings.IndexByte(raw, '@') {
		start = i + 2
	}
	return raw[start:at], start, true
}

// parsedUserInfo reports whether raw parses as a URL whose user info is
// the n bytes at start, and returns its decoded user name and password.
func parsedUserInfo(raw string, start, n int) (user, pass string, hasPass, ok bool) {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil || start < 2 || raw[start-2:start] != "//" {
		return "", "", false, false
	}
	authority := raw[start:]
	if i := strings.IndexAny(authority, "/?#"); i >= 0 {
		authority = authority[:i]
	}
	if strings.LastIndexByte(authority, '@') != n {
		return "", "", false, false
	}
	pass, hasPass = u.User.Password()
	return u.User.Username(), pass, hasPass, true
}

package scalers

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// FileAccess is the rule for <key>File keys: which files of the server's pod
// trigger metadata may name. One server reads triggers of every namespace,
// so a path in metadata is chosen by whoever may create a ScaledObject; left
// open, "passwordFile: /var/run/secrets/kubernetes.io/serviceaccount/token"
// with an address of the user's own would make the server send its token
// (or another team's mounted Secret, or its TLS key) to that address as a
// password. A FileAccess therefore allows only files under directories the
// operator named (hpa-autoscaler serve --secret-file-dir), and the zero
// FileAccess allows none: every <key>File key is refused.
//
// A path is allowed when it is absolute, lies under an allowed directory
// once cleaned ("dir/../etc/passwd" does not), and still does once every
// symlink in it is resolved, at every read: a Kubernetes Secret volume's
// ..data symlinks inside the directory keep working, a symlink pointing out
// of it does not. Only regular files are read (never a FIFO, a device or a
// directory), and at most 1 MiB of them. Containment is decided on whole
// path components: /etc/secrets-evil is not under /etc/secrets.
//
// A FileAccess is immutable and safe for concurrent use. It is a
// ParseOption: ParseMetadata(md, dst, cfg.SecretFiles).
type FileAccess struct {
	dirs []fileDir
}

type fileDir struct {
	given    string // cleaned, as the operator named it (for messages)
	resolved string // with its symlinks resolved when it was allowed
}

// secretFileDirFlag is how messages name the setting that allows a
// directory, so a user refused knows what to ask the operator for.
const secretFileDirFlag = "--secret-file-dir"

// NewFileAccess allows the files under dirs. Each must be an absolute path
// of an existing directory; its symlinks are resolved now. The errors name
// every bad directory at once. No dirs gives the zero FileAccess.
func NewFileAccess(dirs ...string) (FileAccess, error) {
	var a FileAccess
	var errs []error
	for _, d := range dirs {
		if d == "" || !filepath.IsAbs(d) {
			errs = append(errs, fmt.Errorf("%s %q: not an absolute path", secretFileDirFlag, d))
			continue
		}
		given := filepath.Clean(d)
		resolved, err := filepath.EvalSymlinks(given)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %v", secretFileDirFlag, d, pathErr(err)))
			continue
		}
		fi, err := os.Stat(resolved)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %v", secretFileDirFlag, d, pathErr(err)))
			continue
		}
		if !fi.IsDir() {
			errs = append(errs, fmt.Errorf("%s %q: not a directory", secretFileDirFlag, d))
			continue
		}
		dup := false
		for _, o := range a.dirs {
			dup = dup || o.given == given
		}
		if !dup {
			a.dirs = append(a.dirs, fileDir{given: given, resolved: resolved})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return FileAccess{}, err
	}
	return a, nil
}

// Dirs returns the allowed directories, cleaned, in the order given; nil
// when none is.
func (a FileAccess) Dirs() []string {
	var out []string
	for _, d := range a.dirs {
		out = append(out, d.given)
	}
	return out
}

func (a FileAccess) applyParse(p *parser) { p.files = a }

// FileAccessOf returns the FileAccess among opts (the last one, if more
// are given; the zero FileAccess if none is): for a parser that reads other
// files a trigger names (an AMQP URI's cacertfile) under the same rule.
func FileAccessOf(opts ...ParseOption) FileAccess {
	var a FileAccess
	for _, o := range opts {
		if fa, ok := o.(FileAccess); ok {
			a = fa
		}
	}
	return a
}

// dirList is the allowed directories for messages.
func (a FileAccess) dirList() string {
	if len(a.dirs) == 0 {
		return "none set"
	}
	return strings.Join(a.Dirs(), ", ")
}

// resolve decides whether path may be read now. It returns the path with
// its symlinks resolved and the resolved allowed directory holding it.
//
// Whether path is under an allowed directory is decided on the path alone
// first, before the file system is touched: a refused path must not tell
// whether a file exists outside the allowed directories.
func (a FileAccess) resolve(path string) (target, root string, err error) {
	if len(a.dirs) == 0 {
		return "", "", deniedErr(path, "not under a "+secretFileDirFlag+" of the server (none set): reading files of the server's pod is off")
	}
	if !filepath.IsAbs(path) {
		return "", "", deniedErr(path, "not an absolute path")
	}
	clean := filepath.Clean(path)
	lexical := false
	for _, d := range a.dirs {
		lexical = lexical || within(d.given, clean) || within(d.resolved, clean)
	}
	if !lexical {
		return "", "", deniedErr(path, "not under a "+secretFileDirFlag+" of the server ("+a.dirList()+")")
	}
	// Resolved at every read: a symlink in the directory may be swapped
	// (Kubernetes rotates a Secret volume so), and what it points at
	// then is what counts.
	target, err = filepath.EvalSymlinks(clean)
	if err != nil {
		return "", "", readErr(path, err)
	}
	for _, d := range a.dirs {
		if within(d.resolved, target) {
			return target, d.resolved, nil
		}
	}
	return "", "", deniedErr(path, "resolves (through a symlink) outside every "+secretFileDirFlag+" of the server ("+a.dirList()+")")
}

// within reports whether p is dir or lies under it, comparing whole path
// components of two clean absolute paths.
func within(dir, p string) bool {
	if p == dir || dir == string(filepath.Separator) {
		return true
	}
	return strings.HasPrefix(p, dir+string(filepath.Separator))
}

// stat returns what path resolves to and its FileInfo, checked: allowed,
// a regular file, not over the size cap. It opens nothing, so a FIFO or a
// device is refused before anything could block on it or be set off by
// an open.
func (a FileAccess) stat(path string) (target, root string, fi fs.FileInfo, err error) {
	target, root, err = a.resolve(path)
	if err != nil {
		return "", "", nil, err
	}
	fi, err = os.Lstat(target)
	if err != nil {
		return "", "", nil, readErr(path, err)
	}
	if !fi.Mode().IsRegular() {
		return "", "", nil, readErrMsg(path, "not a regular file")
	}
	if fi.Size() > maxSecretFileSize {
		return "", "", nil, readErrMsg(path, fmt.Sprintf("larger than %d bytes", maxSecretFileSize))
	}
	return target, root, fi, nil
}

// read reads the file stat checked. It is opened inside its allowed
// directory through os.Root, without blocking (O_NONBLOCK): should a
// component be swapped for a symlink out of the directory, or the file
// for a FIFO, after stat, the open fails or the file is refused instead of
// being read; it must be the very file stat saw.
func (a FileAccess) read(path, target, root string, want fs.FileInfo) ([]byte, fs.FileInfo, error) {
	rel, err := filepath.Rel(root, target)
	if err != nil {
		return nil, nil, readErr(path, err)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return nil, nil, readErr(path, err)
	}
	defer r.Close()
	f, err := r.OpenFile(rel, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, readErr(path, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, readErr(path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, readErrMsg(path, "not a regular file")
	}
	if !os.SameFile(fi, want) {
		return nil, nil, readErrMsg(path, "changed while being read")
	}
	b, err := io.ReadAll(io.LimitReader(f, maxSecretFileSize+1))
	if err != nil {
		return nil, nil, readErr(path, err)
	}
	if len(b) > maxSecretFileSize {
		return nil, nil, readErrMsg(path, fmt.Sprintf("larger than %d bytes", maxSecretFileSize))
	}
	return b, fi, nil
}

// Check reports whether path may be read now and is a regular file of at
// most 1 MiB, as ReadFile would, without reading it.
func (a FileAccess) Check(path string) error {
	_, _, _, err := a.stat(path)
	return err
}

// ReadFile reads a file that trigger metadata names by a path that is not
// a <key>File key (an AMQP URI's cacertfile, for example) under the same
// rule as a <key>File secret: allowed, a regular file of at most 1 MiB.
// Errors name the path, never the content.
func (a FileAccess) ReadFile(path string) ([]byte, error) {
	target, root, fi, err := a.stat(path)
	if err != nil {
		return nil, err
	}
	b, _, err := a.read(path, target, root, fi)
	return b, err
}

func deniedErr(path, reason string) error {
	return &fileError{path: path, reason: reason, denied: true}
}

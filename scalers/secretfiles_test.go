package scalers

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
)

// allowDirs is NewFileAccess for tests.
func allowDirs(tb testing.TB, dirs ...string) FileAccess {
	tb.Helper()
	a, err := NewFileAccess(dirs...)
	if err != nil {
		tb.Fatal(err)
	}
	return a
}

// fileDirsOf allows the directories of every <key>File of md.
func fileDirsOf(tb testing.TB, md map[string]string) FileAccess {
	tb.Helper()
	var dirs []string
	for k, v := range md {
		if strings.HasSuffix(k, "File") && v != "" {
			dirs = append(dirs, filepath.Dir(v))
		}
	}
	return allowDirs(tb, dirs...)
}

func writeFile(tb testing.TB, path, content string) string {
	tb.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		tb.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

func symlink(tb testing.TB, target, link string) {
	tb.Helper()
	if err := os.Symlink(target, link); err != nil {
		tb.Fatal(err)
	}
}

// kubeSecretVolume lays out dir as the kubelet lays out a Secret volume:
// the files in a timestamped directory, ..data a symlink to it, and each
// key a symlink through ..data.
func kubeSecretVolume(tb testing.TB, dir, stamp, key, content string) {
	tb.Helper()
	writeFile(tb, filepath.Join(dir, stamp, key), content)
	symlink(tb, stamp, filepath.Join(dir, "..data"))
	symlink(tb, filepath.Join("..data", key), filepath.Join(dir, key))
}

// TestSecretFileAccess: a <key>File key is read only under an allowed
// directory, decided on the path cleaned and then on its symlinks
// resolved; everything else is refused as a configuration error naming
// the key, the path and how to allow it.
func TestSecretFileAccess(t *testing.T) {
	root := t.TempDir()
	secrets := filepath.Join(root, "secrets")
	writeFile(t, filepath.Join(secrets, "password"), "in-dir\n")
	outside := writeFile(t, filepath.Join(root, "outside", "token"), "server-token")
	// Its name begins with the allowed directory's.
	evil := writeFile(t, filepath.Join(root, "secrets-evil", "password"), "evil")
	symlink(t, outside, filepath.Join(secrets, "link-out"))
	symlink(t, filepath.Join(root, "outside"), filepath.Join(secrets, "dir-out"))
	writeFile(t, filepath.Join(secrets, "sub", "inner"), "inner")
	symlink(t, filepath.Join(secrets, "sub", "inner"), filepath.Join(secrets, "absolute-in"))
	kube := filepath.Join(root, "kube")
	kubeSecretVolume(t, kube, "..2026_01_01", "password", "kube-pw\n")
	fifo := filepath.Join(secrets, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	symlink(t, "fifo", filepath.Join(secrets, "to-fifo"))

	allowed := allowDirs(t, secrets, kube)
	dirs := secrets + ", " + kube
	notUnder := `: not under a --secret-file-dir of the server (` + dirs + `)`
	tests := []struct {
		name  string
		files FileAccess
		path  string
		want  string // the value, or with wantErr the whole message
		err   bool
	}{
		{name: "none allowed: refused by default", path: filepath.Join(secrets, "password"), err: true,
			want: `invalid metadata: passwordFile "` + filepath.Join(secrets, "password") + `": not under a --secret-file-dir of the server (none set): reading files of the server's pod is off`},
		{name: "the service account token, none allowed", path: "/var/run/secrets/kubernetes.io/serviceaccount/token", err: true,
			want: `invalid metadata: passwordFile "/var/run/secrets/kubernetes.io/serviceaccount/token": not under a --secret-file-dir of the server (none set): reading files of the server's pod is off`},
		{name: "under the directory", files: allowed, path: filepath.Join(secrets, "password"), want: "in-dir"},
		{name: "in a subdirectory", files: allowed, path: filepath.Join(secrets, "sub", "inner"), want: "inner"},
		{name: "an absolute symlink that stays inside", files: allowed, path: filepath.Join(secrets, "absolute-in"), want: "inner"},
		{name: "the Kubernetes ..data layout", files: allowed, path: filepath.Join(kube, "password"), want: "kube-pw"},
		{name: "traversal out of the directory", files: allowed, path: secrets + "/../outside/token", err: true,
			want: `invalid metadata: passwordFile "` + secrets + `/../outside/token"` + notUnder},
		{name: "traversal to /etc/passwd", files: allowed, path: secrets + "/../../../../../../etc/passwd", err: true,
			want: `invalid metadata: passwordFile "` + secrets + `/../../../../../../etc/passwd"` + notUnder},
		{name: "a sibling whose name starts with the directory's", files: allowed, path: evil, err: true,
			want: `invalid metadata: passwordFile "` + evil + `"` + notUnder},
		{name: "a symlink out of the directory", files: allowed, path: filepath.Join(secrets, "link-out"), err: true,
			want: `invalid metadata: passwordFile "` + filepath.Join(secrets, "link-out") + `": resolves (through a symlink) outside every --secret-file-dir of the server (` + dirs + `)`},
		{name: "through a symlinked directory out of it", files: allowed, path: filepath.Join(secrets, "dir-out", "token"), err: true,
			want: `invalid metadata: passwordFile "` + filepath.Join(secrets, "dir-out", "token") + `": resolves (through a symlink) outside every --secret-file-dir of the server (` + dirs + `)`},
		{name: "a relative path", files: allowed, path: "secrets/password", err: true,
			want: `invalid metadata: passwordFile "secrets/password": not an absolute path`},
		{name: "a FIFO is never opened", files: allowed, path: fifo, err: true,
			want: `invalid metadata: passwordFile "` + fifo + `": cannot read: not a regular file`},
		{name: "a symlink to a FIFO", files: allowed, path: filepath.Join(secrets, "to-fifo"), err: true,
			want: `invalid metadata: passwordFile "` + filepath.Join(secrets, "to-fifo") + `": cannot read: not a regular file`},
		{name: "the directory itself", files: allowed, path: secrets, err: true,
			want: `invalid metadata: passwordFile "` + secrets + `": cannot read: not a regular file`},
		{name: "missing under the directory", files: allowed, path: filepath.Join(secrets, "nope"), err: true,
			want: `invalid metadata: passwordFile "` + filepath.Join(secrets, "nope") + `": cannot read: no such file or directory`},
		// A refused path is refused before the file system is asked:
		// the message is the same whether the file exists or not.
		{name: "missing outside: no hint whether it exists", files: allowed, path: filepath.Join(root, "outside", "nope"), err: true,
			want: `invalid metadata: passwordFile "` + filepath.Join(root, "outside", "nope") + `"` + notUnder},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// ReturnsWithin: a FIFO opened for reading would block.
			var s secretSample
			var err error
			if rerr := scalertest.ReturnsWithin(t, time.Second, "ParseMetadata", func() error {
				err = ParseMetadata(map[string]string{"passwordFile": tc.path}, &s, tc.files)
				return nil
			}); rerr != nil {
				t.Fatal(rerr)
			}
			if tc.err {
				scalertest.CheckErr(t, err, ErrInvalidConfig)
				scalertest.CheckMessage(t, err, tc.want)
				return
			}
			if err != nil {
				t.Fatalf("ParseMetadata: %v", err)
			}
			if v, err := s.Password.Value(); err != nil || v != tc.want {
				t.Errorf("Value() = %q, %v; want %q", v, err, tc.want)
			}
		})
	}
}

// TestSecretFileAccessAtEveryRead: the rule holds at every read, not only
// when the metadata is parsed: a Kubernetes rotation (..data swapped to a
// new directory) is followed, a symlink swapped to point out of the
// directory is refused, and the file swapped for a FIFO is not opened.
func TestSecretFileAccessAtEveryRead(t *testing.T) {
	root := t.TempDir()
	kube := filepath.Join(root, "kube")
	kubeSecretVolume(t, kube, "..2026_01_01", "password", "first")
	outside := writeFile(t, filepath.Join(root, "outside", "password"), "server-token")
	s, err := NewFileSecret(filepath.Join(kube, "password"), allowDirs(t, kube))
	if err != nil {
		t.Fatal(err)
	}
	check := func(t *testing.T, want, wantErr string) {
		t.Helper()
		var v string
		if rerr := scalertest.ReturnsWithin(t, time.Second, "ReadSecret", func() error {
			v, err = ReadSecret("password", s)
			return nil
		}); rerr != nil {
			t.Fatal(rerr)
		}
		if wantErr != "" {
			scalertest.CheckMessage(t, err, wantErr)
			if v != "" {
				t.Errorf("got value %q with the error", v)
			}
			return
		}
		if err != nil || v != want {
			t.Errorf("got %q, %v; want %q", v, err, want)
		}
	}
	// swapData points ..data at target, atomically as the kubelet does.
	swapData := func(t *testing.T, target string) {
		t.Helper()
		tmp := filepath.Join(kube, "..data_tmp")
		symlink(t, target, tmp)
		if err := os.Rename(tmp, filepath.Join(kube, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(kube, "password")
	t.Run("first", func(t *testing.T) { check(t, "first", "") })
	t.Run("rotated by the kubelet", func(t *testing.T) {
		writeFile(t, filepath.Join(kube, "..2026_01_02", "password"), "second")
		swapData(t, "..2026_01_02")
		check(t, "second", "")
	})
	t.Run("..data swapped to point outside", func(t *testing.T) {
		swapData(t, filepath.Dir(outside))
		check(t, "", `passwordFile "`+path+`": resolves (through a symlink) outside every --secret-file-dir of the server (`+kube+`)`)
	})
	t.Run("swapped for a FIFO", func(t *testing.T) {
		dir := filepath.Join(kube, "..2026_01_03")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Mkfifo(filepath.Join(dir, "password"), 0o600); err != nil {
			t.Fatal(err)
		}
		swapData(t, "..2026_01_03")
		check(t, "", `passwordFile "`+path+`": cannot read: not a regular file`)
	})
	t.Run("back to a file", func(t *testing.T) {
		swapData(t, "..2026_01_02")
		check(t, "second", "")
	})
}

func TestNewFileAccess(t *testing.T) {
	dir := t.TempDir()
	file := writeFile(t, filepath.Join(dir, "f"), "x")
	link := filepath.Join(t.TempDir(), "link")
	symlink(t, dir, link)
	t.Run("errors name every bad directory", func(t *testing.T) {
		_, err := NewFileAccess("relative", filepath.Join(dir, "nope"), file, "")
		scalertest.CheckMessage(t, err, `--secret-file-dir "relative": not an absolute path`+"\n"+
			`--secret-file-dir "`+filepath.Join(dir, "nope")+`": no such file or directory`+"\n"+
			`--secret-file-dir "`+file+`": not a directory`+"\n"+
			`--secret-file-dir "": not an absolute path`)
	})
	t.Run("cleaned, duplicates dropped", func(t *testing.T) {
		a := allowDirs(t, dir+"/", dir, link)
		if diff := cmp.Diff([]string{dir, link}, a.Dirs()); diff != "" {
			t.Errorf("Dirs (-want +got):\n%s", diff)
		}
	})
	t.Run("a directory given through a symlink", func(t *testing.T) {
		// Both the path through the link and the one it resolves to
		// are under it.
		a := allowDirs(t, link)
		for _, p := range []string{filepath.Join(link, "f"), file} {
			if b, err := a.ReadFile(p); err != nil || string(b) != "x" {
				t.Errorf("ReadFile(%s) = %q, %v; want %q", p, b, err, "x")
			}
		}
	})
	t.Run("none", func(t *testing.T) {
		a := allowDirs(t)
		if a.Dirs() != nil {
			t.Errorf("Dirs() = %q, want nil", a.Dirs())
		}
		_, err := a.ReadFile(file)
		scalertest.CheckMessage(t, err, "read secret file "+file+": not under a --secret-file-dir of the server (none set): reading files of the server's pod is off")
	})
	t.Run("FileAccessOf", func(t *testing.T) {
		if got := FileAccessOf(allowDirs(t, dir)).Dirs(); !cmp.Equal(got, []string{dir}) {
			t.Errorf("FileAccessOf(a).Dirs() = %q, want [%s]", got, dir)
		}
		if got := FileAccessOf().Dirs(); got != nil {
			t.Errorf("FileAccessOf().Dirs() = %q, want nil", got)
		}
	})
	t.Run("root allows every path", func(t *testing.T) {
		if b, err := allowDirs(t, "/").ReadFile(file); err != nil || string(b) != "x" {
			t.Errorf("ReadFile = %q, %v; want %q", b, err, "x")
		}
	})
}

func TestWithin(t *testing.T) {
	for _, tc := range []struct {
		dir, p string
		want   bool
	}{
		{"/etc/secrets", "/etc/secrets", true},
		{"/etc/secrets", "/etc/secrets/a", true},
		{"/etc/secrets", "/etc/secrets/a/b", true},
		{"/etc/secrets", "/etc/secrets-evil", false},
		{"/etc/secrets", "/etc/secrets-evil/a", false},
		{"/etc/secrets", "/etc/secretsa", false},
		{"/etc/secrets", "/etc", false},
		{"/", "/etc", true},
	} {
		if got := within(tc.dir, tc.p); got != tc.want {
			t.Errorf("within(%q, %q) = %t, want %t", tc.dir, tc.p, got, tc.want)
		}
	}
}

// TestRegistrySetsSecretFiles: every build gets the registry's rule,
// replacing the caller's, sources of composites included.
func TestRegistrySetsSecretFiles(t *testing.T) {
	dir := t.TempDir()
	var got []FileAccess
	f := func(_ context.Context, cfg Config) (Scaler, error) {
		got = append(got, cfg.SecretFiles)
		return nil, nil
	}
	r := NewRegistry()
	r.MustRegister("t", f)
	if _, err := r.New(t.Context(), Config{Type: "t", SecretFiles: allowDirs(t, dir)}); err != nil {
		t.Fatal(err)
	}
	r.SetSecretFiles(allowDirs(t, dir))
	if _, err := r.New(t.Context(), Config{Type: "t"}); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([][]string{nil, {dir}}, [][]string{got[0].Dirs(), got[1].Dirs()}); diff != "" {
		t.Errorf("Config.SecretFiles.Dirs() of the builds (-want +got):\n%s", diff)
	}
}

package scalers

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestSecretIdentity(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pw")
	if err := os.WriteFile(path, []byte("one"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := func() Secret {
		s, err := NewFileSecret(path, allowDirs(t, dir))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	f1 := file()
	tests := []struct {
		name string
		a, b Secret
		same bool
	}{
		{"same inline value", NewSecret("hunter2"), NewSecret("hunter2"), true},
		{"other inline value", NewSecret("hunter2"), NewSecret("hunter3"), false},
		{"same file", f1, file(), true},
		{"file and inline with its content", f1, NewSecret("one"), false},
		{"unset", Secret{}, Secret{}, true},
		{"unset and empty inline", Secret{}, NewSecret(""), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.a.Identity() == tc.b.Identity(); got != tc.same {
				t.Errorf("identities %q and %q equal = %t, want %t", tc.a.Identity(), tc.b.Identity(), got, tc.same)
			}
		})
	}
	if err := os.WriteFile(path, []byte("rotated"), 0o600); err != nil {
		t.Fatal(err)
	}
	if f1.Identity() != file().Identity() {
		t.Errorf("a file secret's identity changed with its content")
	}
	if id := NewSecret("hunter2").Identity(); strings.Contains(id, "hunter2") {
		t.Errorf("identity %q holds the value", id)
	}
}

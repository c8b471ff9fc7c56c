package testenv

import (
	"testing"
)

func TestMariaDB(t *testing.T) {
	m := StartMariaDB(t)
	db := m.NewDatabase(t)
	if err := m.ExecIn(t.Context(), db, "CREATE TABLE t (n int); INSERT INTO t VALUES (1)"); err != nil {
		t.Fatal(err)
	}
	if err := m.Kill(); err != nil {
		t.Fatal(err)
	}
	if err := m.ExecIn(t.Context(), db, "SELECT 1"); err == nil {
		t.Fatal("a killed server answered")
	}
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	if err := m.ExecIn(t.Context(), db, "SELECT n FROM t"); err != nil {
		t.Fatal(err)
	}
}

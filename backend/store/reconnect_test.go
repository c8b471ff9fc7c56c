package store

import (
	"database/sql"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
)

// TestReadsAfterConnectionsDropped: when PostgreSQL drops every pooled
// connection (a restart, an administrator's pg_terminate_backend), the
// reads right after still answer: each dead connection is discarded on
// its first error and the read runs again on another (pgx pings a
// connection before reuse only after a second idle, so without the retry
// each dead connection costs one caller a 503).
func TestReadsAfterConnectionsDropped(t *testing.T) {
	t.Parallel()
	p := pg.Get(t)
	dsn := p.NewDatabase(t)
	u, err := url.Parse(dsn)
	if err != nil {
		t.Fatal(err)
	}
	dbName := strings.TrimPrefix(u.Path, "/")
	const conns = 8
	s := open(t, dsn, Options{ReadConns: conns})
	newTenant(t, s, "acme")
	ctx := testCtx(t)
	reader := s.(*sqlStore).c.reader
	for round := range 3 {
		// Every connection of the read pool in use once, then idle.
		var held []*sql.Conn
		for range conns {
			c, err := reader.Conn(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.PingContext(ctx); err != nil {
				t.Fatal(err)
			}
			held = append(held, c)
		}
		for _, c := range held {
			_ = c.Close()
		}
		if err := p.Exec(ctx, fmt.Sprintf(`SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity WHERE datname = '%s' AND pid <> pg_backend_pid()`, dbName)); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, 2*conns)
		for range conns {
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, err := s.Tenant(ctx, "acme")
				errs <- err
			}()
			go func() {
				defer wg.Done()
				_, err := s.Scalers(ctx, "acme", Page{})
				errs <- err
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Errorf("round %d: a read after the server dropped the pool's connections: %v", round, err)
			}
		}
	}
}

package api

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/audit"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// pg is the package's PostgreSQL server (a database per test).
var pg testenv.SharedPostgres

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(pg.Wrap(m),
		// database/sql's opener lives until its DB is closed (at cleanup).
		goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"))
}

// dbURL gives a test a fresh, empty database.
type dbURL func(testing.TB) string

func sqliteURL(t testing.TB) string { return "sqlite:" + filepath.Join(t.TempDir(), "store.db") }

func postgresURL(t testing.TB) string { return pg.Get(t).NewDatabase(t) }

// each runs fn against SQLite and PostgreSQL.
func each(t *testing.T, fn func(t *testing.T, db dbURL)) {
	t.Run("sqlite", func(t *testing.T) { fn(t, sqliteURL) })
	t.Run("postgres", func(t *testing.T) { fn(t, postgresURL) })
}

// fixture is a real SQLite store behind a real HTTP server, with two
// tenants (acme and globex, each with a cluster c1 and a scaler web) and
// tokens of every role.
type fixture struct {
	t      testing.TB
	url    string
	store  store.Store
	tokens map[string]string // "acme/viewer", "acme/operator", "acme/admin", "globex/admin", "root/system"
	now    time.Time
	key    *audit.Key
	h      *Handler
}

func newFixture(t testing.TB, db dbURL, o Options) *fixture {
	t.Helper()
	ctx := context.Background()
	f := &fixture{t: t, tokens: map[string]string{}, now: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)}
	s, err := store.Open(ctx, db(t), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	f.store = s
	for _, tenant := range []store.TenantID{"acme", "globex", "root"} {
		err := s.Update(ctx, tenant, "test", func(tx store.Tx) error {
			if _, err := tx.CreateTenant(string(tenant)); err != nil {
				return err
			}
			roles := map[string]store.Role{"viewer": store.RoleViewer, "operator": store.RoleOperator, "admin": store.RoleAdmin, "system": store.RoleAdmin}
			for name, role := range roles {
				if name == "system" && tenant != "root" || tenant == "root" && name != "system" {
					continue
				}
				g, err := auth.Generate(tenant)
				if err != nil {
					return err
				}
				if _, err := tx.CreateToken(store.Token{ID: g.ID, Name: name, Role: role, SecretHash: g.SecretHash, SystemAdmin: name == "system"}); err != nil {
					return err
				}
				f.tokens[string(tenant)+"/"+name] = g.Token
			}
			if tenant == "root" {
				return nil
			}
			if _, err := tx.CreateCluster(store.Cluster{ID: "c1", Name: "one"}); err != nil {
				return err
			}
			_, err := tx.CreateScaler(store.Scaler{Name: "web", Namespace: "prod", Cluster: "c1", Spec: validSpec()})
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	o.Store = s
	if o.Now == nil {
		o.Now = func() time.Time { return f.now }
	}
	h, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.h = h
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	f.url = srv.URL
	return f
}

func validSpec() v1.ScalerSpec {
	return v1.ScalerSpec{
		TargetRef: v1.TargetRef{Kind: "Deployment", Name: "web"},
		Scaling:   v1.Scaling{MaxReplicas: 5},
		ScalerSpec: &v1.TriggerSpec{Type: "redis", Metadata: map[string]string{"address": "redis:6379", "listName": "jobs", "listLength": "5"},
			SecretRefs: []v1.SecretRef{{Parameter: "password", Name: "redis", Key: "password"}}},
	}
}

// checkpoint signs a checkpoint of the whole log as it is.
func (f *fixture) checkpoint() {
	f.t.Helper()
	ctx := context.Background()
	origin, err := audit.Origin("test")
	if err != nil {
		f.t.Fatal(err)
	}
	if f.key == nil {
		if f.key, _, err = audit.LoadOrGenerateKey(filepath.Join(f.t.TempDir(), "key"), origin); err != nil {
			f.t.Fatal(err)
		}
	}
	key := f.key
	head, err := f.store.Admin().Head(ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	c, err := audit.TreeHead(origin, head.Seq, f.store.Admin().Hashes(ctx))
	if err != nil {
		f.t.Fatal(err)
	}
	note, err := audit.SignCheckpoint(c, key.Signer)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.store.Admin().AddCheckpoint(ctx, store.Checkpoint{TreeSize: head.Seq, Note: note, Time: f.now}); err != nil {
		f.t.Fatal(err)
	}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) err() Error {
	var e struct{ Error Error }
	_ = json.Unmarshal(r.body, &e)
	return e.Error
}

// do sends a request with token (as a bearer; "" none) and body (a
// string is sent as is, anything else as JSON).
func (f *fixture) do(method, path, token string, body any) response {
	f.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = bytes.NewReader([]byte(b))
	default:
		data, err := json.Marshal(b)
		if err != nil {
			f.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, f.url+path, rd)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		f.t.Fatal(err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: data}
}

func (f *fixture) want(r response, status int) {
	f.t.Helper()
	if r.status != status {
		f.t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
}

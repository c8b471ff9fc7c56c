package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/api"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/audit"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/history"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// Files serve creates next to a SQLite database (in the working directory
// for PostgreSQL).
const (
	auditKeyFileName   = "hpa-autoscaler-audit.key"
	adminTokenFileName = "hpa-autoscaler-admin.token"
	defaultTenant      = store.TenantID("default")
	// cliActor is the audit actor of the commands run from a shell.
	cliActor = "system"
)

// dbOpts is the --db flag every backend command shares.
type dbOpts struct {
	db string
}

func (o *dbOpts) addFlags(f *pflag.FlagSet) {
	f.StringVar(&o.db, "db", store.DefaultURL, "database: sqlite:PATH (embedded, created if missing) or postgres://...")
}

// dataDir is where the files that go with the database live: the
// directory of a SQLite file, else the working directory.
func (o *dbOpts) dataDir() string {
	if p, ok := strings.CutPrefix(o.db, "sqlite:"); ok {
		return filepath.Dir(p)
	}
	return "."
}

// backendOpts are serve's flags of the backend.
type backendOpts struct {
	dbOpts
	auditKeyFile  string
	auditInstance string
	readConns     int
	rateLimit     int
	rateBurst     int
	cost          costOpts
	history       historyOpts

	// config is what GET /api/v1/config shows and reloads (not a flag).
	config api.ConfigSource
}

func (o *backendOpts) addFlags(f *pflag.FlagSet) {
	o.dbOpts.addFlags(f)
	f.StringVar(&o.auditKeyFile, "audit-signing-key-file", "",
		"signing key of the audit log's checkpoints (default "+auditKeyFileName+" next to the database; generated with mode 0600 if absent)")
	f.StringVar(&o.auditInstance, "audit-instance", "local", "name of this installation in the audit log's origin (hpa-autoscaler/<instance>)")
	f.IntVar(&o.readConns, "db-max-connections", 0, "size of the database's read pool (0: 4 per CPU, at least 8); the writer holds one (SQLite) or two (PostgreSQL) more")
	f.IntVar(&o.rateLimit, "rate-limit", 600, "requests per minute of each API token (-1: no limit)")
	f.IntVar(&o.rateBurst, "rate-limit-burst", 60, "requests of one API token at once above --rate-limit")
	o.cost.addFlags(f)
	o.history.addFlags(f)
}

// validate checks the backend's flags.
func (o *backendOpts) validate() []error {
	var errs []error
	if o.readConns < 0 {
		errs = append(errs, fmt.Errorf("--db-max-connections %d: must not be negative", o.readConns))
	}
	if o.rateLimit == 0 || o.rateLimit < -1 {
		errs = append(errs, fmt.Errorf("--rate-limit %d: expected at least 1, or -1 (no limit)", o.rateLimit))
	}
	if o.rateBurst < 1 {
		errs = append(errs, fmt.Errorf("--rate-limit-burst %d: expected at least 1", o.rateBurst))
	}
	errs = append(errs, o.history.validate()...)
	return errs
}

func (o *backendOpts) keyFile() string {
	if o.auditKeyFile != "" {
		return o.auditKeyFile
	}
	return filepath.Join(o.dataDir(), auditKeyFileName)
}

// backend is the running REST backend: the store, its API handler and
// the checkpoint loop.
type backend struct {
	store   store.Store
	key     *audit.Key
	handler *api.Handler
	cost    *costRuntime     // prices, cost samples and budget caps
	history *history.Service // the metric history and its forecasts
	done    chan struct{}    // closed when the checkpoint loop returned
	front   <-chan error     // the front HTTP server's end, nil without one
	ctx     context.Context
	cancel  context.CancelFunc // ends ctx, the backend's work
}

// serveHTTP serves the API and the external scaler's endpoints on lis
// (with TLS when o.TLS is set) until serve's context ends (draining until
// deadline()), and returns the listener the external scaler's HTTP
// server must serve instead of lis.
func (b *backend) serveHTTP(lis net.Listener, deadline func() time.Time, o frontOptions) net.Listener {
	inner := newPipeListener(lis.Addr())
	if o.TLS != nil {
		lis = tls.NewListener(lis, o.TLS.httpConfig())
	}
	b.front = serveFront(b.ctx, lis, frontHandler(b.handler, inner, o), deadline, o.Logger)
	return inner
}

// startBackend opens the store (applying migrations), loads or generates
// the signing key, gives an empty database its first admin token, and
// starts the checkpoint loop until ctx ends.
func startBackend(parent context.Context, o *backendOpts, logger *slog.Logger) (*backend, error) {
	ctx, cancel := context.WithCancel(parent)
	b, err := openBackend(ctx, o, logger)
	if err != nil {
		cancel()
		return nil, err
	}
	b.ctx, b.cancel = ctx, cancel
	if b.cost, err = o.cost.start(ctx, b.store, logger); err != nil {
		cancel()
		_ = b.store.Close()
		return nil, err
	}
	go func() {
		defer close(b.done)
		if err := store.RunCheckpoints(ctx, b.store, store.CheckpointOptions{Key: b.key, Logger: logger}); err != nil {
			logger.Error("audit: checkpoints stopped", "err", err)
		}
	}()
	return b, nil
}

func openBackend(ctx context.Context, o *backendOpts, logger *slog.Logger) (*backend, error) {
	origin, err := audit.Origin(o.auditInstance)
	if err != nil {
		return nil, usagef("--audit-instance: %v", err)
	}
	key, generated, err := audit.LoadOrGenerateKey(o.keyFile(), origin)
	if err != nil {
		return nil, fmt.Errorf("--audit-signing-key-file: %w", err)
	}
	if generated {
		logger.Info("audit: generated the checkpoint signing key", "file", o.keyFile(), "publicKeyFile", o.keyFile()+".pub", "verifierKey", key.VerifierKey)
	} else {
		logger.Info("audit: checkpoint signing key", "file", o.keyFile())
	}
	s, err := store.Open(ctx, o.db, store.Options{Logger: logger, ReadConns: o.readConns})
	if err != nil {
		return nil, dbError(err)
	}
	if err := bootstrap(ctx, s, o.dataDir(), logger); err != nil {
		_ = s.Close()
		return nil, err
	}
	hs, err := startHistory(ctx, &o.history, s, logger)
	if err != nil {
		_ = s.Close()
		return nil, err
	}
	h, err := api.New(api.Options{Store: s, Logger: logger, Version: version,
		RequestsPerMinute: o.rateLimit, BurstSize: o.rateBurst, Config: o.config, Predictor: apiPredictor(hs), Cost: o.cost.source()})
	if err != nil {
		_ = hs.Close()
		_ = s.Close()
		return nil, err
	}
	logger.Info("backend: database open", "db", redactURL(o.db))
	return &backend{store: s, key: key, handler: h, history: hs, done: make(chan struct{})}, nil
}

// close stops the backend's work (when serve's context has not ended
// already), waits for the HTTP server's drain and the checkpoint loop,
// and closes the store, giving up at deadline.
func (b *backend) close(deadline time.Time, logger *slog.Logger) {
	b.cancel()
	closed := make(chan error, 1)
	go func() {
		if b.front != nil {
			if err := <-b.front; err != nil {
				logger.Warn("backend: HTTP server", "err", err)
			}
		}
		<-b.done
		b.cost.wait() // the Recorder's last samples
		// The history writes its last steps through the store.
		_ = b.history.Close()
		closed <- b.store.Close()
	}()
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case err := <-closed:
		if err != nil {
			logger.Warn("backend: closing the database", "err", err)
		}
	case <-t.C:
		logger.Warn("backend: database still closing at the end of the shutdown; not waiting")
	}
}

// dbError words a failure to open the database for the operator.
func dbError(err error) error {
	if errors.Is(err, store.ErrSchemaTooNew) {
		return fmt.Errorf("--db: %w: upgrade hpa-autoscaler (this binary's migrations are older than the database's)", err)
	}
	return fmt.Errorf("--db: %w", err)
}

// bootstrap gives a database without any token the tenant "default" and
// a system-admin token, written to a 0600 file in dir; the log names the
// file, never the token.
func bootstrap(ctx context.Context, s store.Store, dir string, logger *slog.Logger) error {
	any, err := anyToken(ctx, s)
	if err != nil || any {
		return err
	}
	_, err = s.Tenant(ctx, defaultTenant)
	newTenant := errors.Is(err, store.ErrNotFound)
	if err != nil && !newTenant {
		return fmt.Errorf("bootstrap: %w", err)
	}
	g, err := auth.Generate(defaultTenant)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	file := filepath.Join(dir, adminTokenFileName)
	// The file first: a token committed but never written down would
	// lock the operator out. Never over another: it may hold the token
	// of a serve starting at the same time on this database.
	if err := writeSecretFile(file, g.Token+"\n"); errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("bootstrap: the database has no token, but %s exists (from another database, or another serve starting now): remove it and start again", file)
	} else if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	err = s.Update(ctx, defaultTenant, cliActor, func(tx store.Tx) error {
		if newTenant {
			if _, err := tx.CreateTenant(string(defaultTenant)); err != nil {
				return err
			}
		}
		_, err := tx.CreateToken(store.Token{ID: g.ID, Name: "bootstrap-admin", Role: store.RoleAdmin, SystemAdmin: true, SecretHash: g.SecretHash})
		return err
	})
	if err != nil {
		_ = os.Remove(file)
		return fmt.Errorf("bootstrap: %w", err)
	}
	logger.Info("backend: empty database: created tenant default and a system-admin token; keep the file safe, or delete it once the token is stored elsewhere",
		"tenant", defaultTenant, "tokenFile", file)
	return nil
}

// anyToken reports whether some tenant has a token (revoked ones count:
// the database is not new).
func anyToken(ctx context.Context, s store.Store) (bool, error) {
	page := store.Page{Limit: store.MaxLimit}
	for {
		l, err := s.Admin().Tenants(ctx, page)
		if err != nil {
			return false, fmt.Errorf("bootstrap: list tenants: %w", err)
		}
		for _, t := range l.Items {
			toks, err := s.Tokens(ctx, t.ID, store.Page{Limit: 1})
			if err != nil {
				return false, fmt.Errorf("bootstrap: tokens of %s: %w", t.ID, err)
			}
			if len(toks.Items) > 0 {
				return true, nil
			}
		}
		if l.NextPageToken == "" {
			return false, nil
		}
		page.Token = l.NextPageToken
	}
}

// writeSecretFile writes content to a new file path with mode 0600,
// through a temporary file so that a reader never sees half of it; a
// file at path already is fs.ErrExist.
func writeSecretFile(path, content string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.WriteString(content)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		// Link fails on an existing path, where Rename would replace it.
		err = os.Link(tmp, path)
	}
	_ = os.Remove(tmp)
	return err
}

package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/audit"
)

// sqlStore is the Store over database/sql, for both dialects.
type sqlStore struct {
	c    *conns
	d    *dialect
	opts Options
	log  *slog.Logger

	// queue hands jobs to the writer. Unbuffered: a job is either taken
	// by the writer or not sent at all, so Close strands none.
	queue chan *job
	stop  chan struct{}
	done  chan struct{}
	once  sync.Once

	// hashes caches committed tlog stored hashes (immutable once
	// written), read and written by the writer goroutine only.
	hashes map[int64]tlog.Hash
	// stmts are the writer's prepared statements (dialect.prepare),
	// writer goroutine only.
	stmts      map[string]*sql.Stmt
	unprepared map[string]struct{}
	// readStmts are the read pool's prepared statements by query
	// (dialect.prepare), readStmtN how many: see readStmt.
	readStmts sync.Map
	readStmtN atomic.Int32
	// careful counts down the batches run with savepoints from the
	// start, after one had a failing job (writer goroutine only).
	careful int
	// notify gets a value (if it has room) after each commit that
	// appended audit records: RunCheckpoints waits on it.
	notify chan struct{}
	// commits counts the committed transactions (for tests: how well
	// the group commit groups).
	commits atomic.Int64
	// closed is set when Close starts: reads after it are ErrClosed.
	closed atomic.Bool
	// commitFault, for tests, replaces the error of each COMMIT (it
	// gets the real one): a lost answer to a COMMIT that succeeded.
	commitFault func(error) error
	// checkFault, for tests, fails batchCommitted's reading back.
	checkFault func() error
}

// readErr is the error of a read: ErrClosed once Close has started
// (database/sql's own "sql: database is closed" is no sentinel of ours,
// and the API would answer it with a 500), else err classified.
func (s *sqlStore) readErr(err error) error {
	if err == nil {
		return nil
	}
	if s.closed.Load() && !errors.Is(err, ErrClosed) {
		return fmt.Errorf("%w: %v", ErrClosed, err)
	}
	if _, ok := errorsAs[*dbError](err); ok {
		return err // classified already (scanErr, readHashes)
	}
	return s.d.classify(err)
}

// retryRead runs read again while it fails on a pooled connection the
// server dropped, at most once per connection of the read pool plus once:
// a restarted PostgreSQL leaves every pooled connection dead, pgx pings
// one before reuse only after a second idle, and database/sql discards
// each on its first error. A read changes nothing, so running it again is
// safe; a new connection that cannot connect (the server is down) ends
// the retries with its error, as does ctx.
func (s *sqlStore) retryRead(ctx context.Context, read func() error) error {
	for i := 0; ; i++ {
		err := read()
		if err == nil || s.d.brokenConn == nil || i > s.opts.ReadConns || ctx.Err() != nil || s.closed.Load() || !s.d.brokenConn(err) {
			return err
		}
	}
}

// checkOpen is ErrClosed after Close: a read does not reach the pool.
func (s *sqlStore) checkOpen() error {
	if s.closed.Load() {
		return ErrClosed
	}
	return nil
}

func (s *sqlStore) appended() <-chan struct{} { return s.notify }

// maxStmts bounds sqlStore.stmts (the multi-row inserts vary in size).
const maxStmts = 1024

// exec runs a statement of the writer in tx.
func (s *sqlStore) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) (sql.Result, error) {
	if st := s.stmt(q); st != nil {
		return tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return tx.ExecContext(ctx, s.d.q(q), args...)
}

func (s *sqlStore) queryRow(ctx context.Context, tx *sql.Tx, q string, args ...any) *sql.Row {
	if st := s.stmt(q); st != nil {
		return tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)
	}
	return tx.QueryRowContext(ctx, s.d.q(q), args...)
}

// stmt returns q prepared on the writer, or nil to run it unprepared. A
// statement is prepared after the transaction that first ran it (the
// SQLite writer's one connection is the transaction's until then), and
// from then on is reused by every transaction on that connection.
func (s *sqlStore) stmt(q string) *sql.Stmt {
	if !s.d.prepare {
		return nil
	}
	if st, ok := s.stmts[q]; ok {
		return st
	}
	if len(s.stmts)+len(s.unprepared) < maxStmts {
		s.unprepared[q] = struct{}{}
	}
	return nil
}

// readStmt returns q prepared on the read pool (database/sql prepares
// it again on each connection that runs it), or nil to run it
// unprepared: SQLite parses every unprepared statement, which was 40% of
// a token lookup. At most maxStmts queries are kept.
func (s *sqlStore) readStmt(ctx context.Context, q string) *sql.Stmt {
	if !s.d.prepare {
		return nil
	}
	if st, ok := s.readStmts.Load(q); ok {
		return st.(*sql.Stmt)
	}
	if s.readStmtN.Load() >= maxStmts {
		return nil
	}
	st, err := s.c.reader.PrepareContext(ctx, s.d.q(q))
	if err != nil {
		return nil
	}
	if old, loaded := s.readStmts.LoadOrStore(q, st); loaded {
		_ = st.Close()
		return old.(*sql.Stmt)
	}
	s.readStmtN.Add(1)
	return st
}

// readRow runs q through the read pool, prepared when it can be.
func (s *sqlStore) readRow(ctx context.Context, q string, args ...any) *sql.Row {
	if st := s.readStmt(ctx, q); st != nil {
		return st.QueryRowContext(ctx, args...)
	}
	return s.c.reader.QueryRowContext(ctx, s.d.q(q), args...)
}

// readRows is readRow for several rows.
func (s *sqlStore) readRows(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := s.readStmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return s.c.reader.QueryContext(ctx, s.d.q(q), args...)
}

// prepare prepares the statements run unprepared, with the writer's
// connection free. A statement that does not prepare stays unprepared.
func (s *sqlStore) prepare() {
	for q := range s.unprepared {
		delete(s.unprepared, q)
		ctx, cancel := context.WithTimeout(context.Background(), s.opts.WriteTimeout)
		st, err := s.c.writer.PrepareContext(ctx, s.d.q(q))
		cancel()
		if err != nil {
			continue
		}
		s.stmts[q] = st
	}
}

// maxCachedHashes bounds sqlStore.hashes; past it the cache starts over
// (an append needs at most 63 hashes, the frontier of the tree).
const maxCachedHashes = 1 << 16

// job is one Update (or TouchToken) waiting for the writer.
type job struct {
	ctx     context.Context
	tenant  TenantID
	actor   string
	fn      func(*wtx) error
	audited bool       // takes the audit head
	done    chan error // buffered, one result
}

func newSQLStore(c *conns, opts Options) *sqlStore {
	s := &sqlStore{
		c: c, d: c.d, opts: opts, log: opts.Logger,
		queue:      make(chan *job),
		stop:       make(chan struct{}),
		done:       make(chan struct{}),
		hashes:     make(map[int64]tlog.Hash),
		stmts:      make(map[string]*sql.Stmt),
		unprepared: make(map[string]struct{}),
		notify:     make(chan struct{}, 1),
	}
	go s.run()
	return s
}

var _ Store = (*sqlStore)(nil)

func (s *sqlStore) Close() error {
	s.once.Do(func() {
		s.closed.Store(true)
		close(s.stop)
		<-s.done
		s.readStmts.Range(func(_, st any) bool {
			_ = st.(*sql.Stmt).Close()
			return true
		})
		s.c.close()
	})
	return nil
}

// Update implements Store.
func (s *sqlStore) Update(ctx context.Context, tenant TenantID, actor string, fn func(Tx) error) error {
	if err := tenant.Validate(); err != nil {
		return err
	}
	if actor == "" {
		return fmt.Errorf("%w: actor: empty, want a token id, agent id or \"system\"", ErrInvalid)
	}
	return s.submit(ctx, &job{ctx: ctx, tenant: tenant, actor: actor, audited: true, fn: func(w *wtx) error { return fn(w) }})
}

// TouchToken implements Store.
func (s *sqlStore) TouchToken(ctx context.Context, tenant TenantID, id string, at time.Time) error {
	if err := tenant.Validate(); err != nil {
		return err
	}
	us := at.UTC().UnixMicro()
	return s.submit(ctx, &job{ctx: ctx, tenant: tenant, actor: "system", fn: func(w *wtx) error {
		_, err := w.exec(`UPDATE tokens SET last_used_us = ? WHERE tenant_id = ? AND token_id = ? AND last_used_us < ?`, us, w.tenant, id, us)
		return err
	}})
}

func (s *sqlStore) submit(ctx context.Context, j *job) error {
	j.done = make(chan error, 1)
	select {
	case s.queue <- j:
	case <-s.stop:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-j.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the writer: it takes a job, then every job already waiting (up
// to MaxBatch), and commits them together. There is no waiting for more:
// while one batch commits (its fsync), the next one queues up, so the
// batch grows with the load by itself and a lone Update pays one commit.
func (s *sqlStore) run() {
	defer close(s.done)
	batch := make([]*job, 0, s.opts.MaxBatch)
	for {
		batch = batch[:0]
		select {
		case j := <-s.queue:
			batch = append(batch, j)
		case <-s.stop:
			return
		}
	more:
		for len(batch) < s.opts.MaxBatch {
			select {
			case j := <-s.queue:
				batch = append(batch, j)
			default:
				break more
			}
		}
		s.commit(batch)
		if len(s.unprepared) > 0 {
			s.prepare()
		}
	}
}

// commit runs a batch and answers each of its jobs. A job whose caller
// gave up before is answered with its context's error and not run. When
// the batch fails as a whole, each job is retried in a transaction of its
// own: the decision (rather than failing them all with the error) costs
// one commit per job after a failure, and in return no caller is failed
// by another's change, and a transient failure (a lock timeout, a
// dropped connection) heals for each. Persistent failures (read-only,
// disk full) fail every job with ErrUnavailable, each from its own try.
func (s *sqlStore) commit(batch []*job) {
	live := batch[:0:0]
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.done <- err
			continue
		}
		live = append(live, j)
	}
	if len(live) == 0 {
		return
	}
	results, err := s.runBatch(live)
	if err == nil {
		for i, j := range live {
			j.done <- results[i]
		}
		return
	}
	if len(live) == 1 {
		live[0].done <- err
		return
	}
	var unknown *unknownOutcome
	if errors.As(err, &unknown) {
		s.log.Error("store: a batch's COMMIT failed and its outcome is unknown; its updates are answered unavailable, not retried", "updates", len(live), "err", err)
		for _, j := range live {
			j.done <- err
		}
		return
	}
	s.log.Warn("store: batch failed, retrying each update alone", "updates", len(live), "err", err)
	for _, j := range live {
		res, err := s.commitBatch([]*job{j}, false)
		if err != nil {
			j.done <- err
			continue
		}
		j.done <- res[0]
	}
}

// runBatch commits jobs together. It first tries without savepoints
// (two statements fewer per job; a PostgreSQL round trip each): if a job
// fails, that try is rolled back and the batch runs again with a
// savepoint per job, and so do the next batches for a while, since
// failures come in runs (a client retrying conflicts).
func (s *sqlStore) runBatch(jobs []*job) ([]error, error) {
	if len(jobs) > 1 && s.careful == 0 {
		results, err := s.commitBatch(jobs, false)
		if !errors.Is(err, errJobFailed) {
			return results, err
		}
		s.careful = 16
	}
	if s.careful > 0 {
		s.careful--
	}
	return s.commitBatch(jobs, len(jobs) > 1)
}

// errJobFailed: a job of a batch without savepoints failed; the batch
// was rolled back.
var errJobFailed = errors.New("a job of the batch failed")

// batchState is the audit log as a batch transaction changes it.
type batchState struct {
	head    audit.Head
	records []audit.Record
	hashes  []audit.StoredHash
	staged  map[int64]tlog.Hash // hashes, by index
}

type batchMark struct {
	head             audit.Head
	records, hashesN int
}

func (b *batchState) mark() batchMark {
	return batchMark{b.head, len(b.records), len(b.hashes)}
}

func (b *batchState) reset(m batchMark) {
	for _, h := range b.hashes[m.hashesN:] {
		delete(b.staged, h.Index)
	}
	b.head, b.records, b.hashes = m.head, b.records[:m.records], b.hashes[:m.hashesN]
}

// commitBatch runs jobs in one transaction and commits. With savepoints,
// each job runs in one and a failing job's changes are undone alone;
// without, a failing job fails the batch with errJobFailed (a lone job's
// error is its own: the transaction is its savepoint). It returns each
// job's own outcome, or an error of the batch as a whole (then nothing
// was committed).
func (s *sqlStore) commitBatch(jobs []*job, savepoints bool) ([]error, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.WriteTimeout)
	defer cancel()
	if !s.d.cancelStatements {
		ctx = context.WithoutCancel(ctx)
	}
	tx, err := s.c.writer.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin: %w", s.d.classify(err))
	}
	defer func() { _ = tx.Rollback() }()

	st := &batchState{staged: make(map[int64]tlog.Hash)}
	audited := false
	for _, j := range jobs {
		audited = audited || j.audited
	}
	if audited {
		// Lock the head first, always: one order of locks (head, then
		// rows) for every writer of the database, so that two backends
		// on one PostgreSQL never deadlock.
		var chain []byte
		if err := s.queryRow(ctx, tx, s.d.lockHead).Scan(&st.head.Seq, &chain); err != nil {
			return nil, fmt.Errorf("read audit head: %w", s.d.classify(err))
		}
		if len(chain) != tlog.HashSize {
			return nil, fmt.Errorf("read audit head: chain hash of %d bytes", len(chain))
		}
		copy(st.head.Chain[:], chain)
	}

	results := make([]error, len(jobs))
	single := len(jobs) == 1
	now := s.now()
	for i, j := range jobs {
		if savepoints {
			if _, err := s.exec(ctx, tx, "SAVEPOINT job"); err != nil {
				return nil, fmt.Errorf("savepoint: %w", s.d.classify(err))
			}
		}
		m := st.mark()
		w := &wtx{s: s, tx: tx, ctx: ctx, tenant: j.tenant, actor: j.actor, now: now, st: st}
		err := w.call(j.fn)
		if err == nil && savepoints {
			if _, rerr := s.exec(ctx, tx, "RELEASE SAVEPOINT job"); rerr != nil {
				return nil, fmt.Errorf("release savepoint: %w", s.d.classify(rerr))
			}
		}
		if err == nil {
			continue
		}
		if unavailable(err) || ctx.Err() != nil {
			return nil, err
		}
		if single {
			return []error{err}, nil
		}
		if !savepoints {
			return nil, errJobFailed
		}
		st.reset(m)
		if _, rerr := s.exec(ctx, tx, "ROLLBACK TO SAVEPOINT job"); rerr != nil {
			return nil, fmt.Errorf("rollback to savepoint: %w", s.d.classify(rerr))
		}
		if _, rerr := s.exec(ctx, tx, "RELEASE SAVEPOINT job"); rerr != nil {
			return nil, fmt.Errorf("release savepoint: %w", s.d.classify(rerr))
		}
		results[i] = err
	}
	if len(st.records) > 0 {
		if err := s.writeLog(ctx, tx, st); err != nil {
			return nil, err
		}
	}
	commitErr := tx.Commit()
	if s.commitFault != nil {
		commitErr = s.commitFault(commitErr)
	}
	if commitErr != nil {
		cerr := fmt.Errorf("commit: %w", s.d.classify(commitErr))
		if len(st.records) == 0 {
			// Nothing of the log: the batch's changes are idempotent
			// bookkeeping (token touches), safe to run again.
			return nil, cerr
		}
		// The answer to COMMIT is lost when the connection or the server
		// dies during it, and the transaction may have committed all the
		// same. Retrying it would apply it twice, answering it an error
		// would deny a durable write: the log says which it was.
		switch ok, err := s.batchCommitted(st); {
		case err != nil:
			return nil, &unknownOutcome{commit: cerr, check: err}
		case !ok:
			return nil, cerr
		}
		s.log.Warn("store: the answer to COMMIT was lost but the batch is in the database", "records", len(st.records), "err", cerr)
	}
	s.commits.Add(1)
	if len(s.hashes)+len(st.staged) > maxCachedHashes {
		s.hashes = make(map[int64]tlog.Hash)
	}
	for k, v := range st.staged {
		s.hashes[k] = v
	}
	if len(st.records) > 0 {
		select {
		case s.notify <- struct{}{}:
		default:
		}
	}
	return results, nil
}

// unknownOutcome is a batch whose COMMIT failed and whose outcome could
// not be read back: it may be durable. It is ErrUnavailable to every
// caller of the batch, and no caller is retried (that could apply it
// twice); a client resends with the same ids (events are idempotent by
// id) or re-reads.
type unknownOutcome struct {
	commit, check error
}

func (e *unknownOutcome) Error() string {
	return fmt.Sprintf("%v; whether it committed is unknown (reading the audit head back: %v)", e.commit, e.check)
}

func (e *unknownOutcome) Unwrap() error { return ErrUnavailable }

// commitCheckTimeout bounds batchCommitted's reading back.
const commitCheckTimeout = 5 * time.Second

// batchCommitted reads back, on the read pool (other connections than
// the writer's), whether the batch's last audit record is in the log
// with the batch's chain hash: the record and the batch's changes were
// in one transaction, so it committed exactly when the record did.
func (s *sqlStore) batchCommitted(st *batchState) (bool, error) {
	last := st.records[len(st.records)-1]
	if s.checkFault != nil {
		if err := s.checkFault(); err != nil {
			return false, err
		}
	}
	var err error
	for try := 0; try < 3; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), commitCheckTimeout)
		var chain []byte
		err = s.c.reader.QueryRowContext(ctx, s.d.q(`SELECT chain_hash FROM audit_records WHERE tenant_id = ? AND seq = ?`), last.Tenant, last.Seq).Scan(&chain)
		cancel()
		switch {
		case errors.Is(err, sql.ErrNoRows):
			return false, nil
		case err == nil:
			// Another backend on the same database may have taken the
			// seq after a rollback: the chain hash tells.
			return bytes.Equal(chain, last.ChainHash[:]), nil
		}
	}
	return false, s.d.classify(err)
}

func (s *sqlStore) now() time.Time { return s.opts.Now().UTC().Truncate(time.Microsecond) }

// writeLog inserts the batch's audit records and stored hashes (multi-row
// inserts, a few statements for the whole batch) and moves the head.
func (s *sqlStore) writeLog(ctx context.Context, tx *sql.Tx, st *batchState) error {
	const recordsInsert = `INSERT INTO audit_records (seq, tenant_id, at_us, actor, kind, subject, body, leaf_hash, chain_hash) VALUES `
	const recordRow = "(?, ?, ?, ?, ?, ?, ?, ?, ?)"
	const hashesInsert = `INSERT INTO tlog_hashes (idx, hash) VALUES `
	const headUpdate = `UPDATE audit_head SET seq = ?, chain_hash = ? WHERE id = 1`
	recordArgs := func(rs []audit.Record) []any {
		args := make([]any, 0, 9*len(rs))
		for i := range rs {
			r := &rs[i]
			args = append(args, r.Seq, r.Tenant, r.Time.UnixMicro(), r.Actor, r.Kind, r.Subject, r.Body, r.LeafHash[:], r.ChainHash[:])
		}
		return args
	}
	hashArgs := func(hs []audit.StoredHash) []any {
		args := make([]any, 0, 2*len(hs))
		for _, h := range hs {
			args = append(args, h.Index, h.Hash[:])
		}
		return args
	}
	if s.d.cte && 9*len(st.records)+2*len(st.hashes)+2 <= maxCTEParams {
		// One statement, one round trip, for the three writes.
		args := append(recordArgs(st.records), hashArgs(st.hashes)...)
		args = append(args, st.head.Seq, st.head.Chain[:])
		q := `WITH r AS (` + recordsInsert + rows(recordRow, len(st.records)) +
			`), h AS (` + hashesInsert + rows("(?, ?)", len(st.hashes)) + `) ` + headUpdate
		if _, err := s.exec(ctx, tx, q, args...); err != nil {
			return fmt.Errorf("append audit records: %w", s.d.classify(err))
		}
		return nil
	}
	for rs := range chunks(st.records, 200) {
		if _, err := s.exec(ctx, tx, recordsInsert+rows(recordRow, len(rs)), recordArgs(rs)...); err != nil {
			return fmt.Errorf("insert audit records: %w", s.d.classify(err))
		}
	}
	for hs := range chunks(st.hashes, 500) {
		if _, err := s.exec(ctx, tx, hashesInsert+rows("(?, ?)", len(hs)), hashArgs(hs)...); err != nil {
			return fmt.Errorf("insert tree hashes: %w", s.d.classify(err))
		}
	}
	if _, err := s.exec(ctx, tx, headUpdate, st.head.Seq, st.head.Chain[:]); err != nil {
		return fmt.Errorf("move audit head: %w", s.d.classify(err))
	}
	return nil
}

// maxCTEParams bounds the parameters of the one-statement log write
// (PostgreSQL takes at most 65535); a larger batch is written in chunks.
const maxCTEParams = 30000

func chunks[T any](s []T, n int) func(func([]T) bool) {
	return func(yield func([]T) bool) {
		for len(s) > 0 {
			k := min(n, len(s))
			if !yield(s[:k]) {
				return
			}
			s = s[k:]
		}
	}
}

func rows(row string, n int) string {
	var b strings.Builder
	b.Grow(n * (len(row) + 2))
	for i := range n {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(row)
	}
	return b.String()
}

// hashReader reads the tlog stored hashes for audit.AppendBatch: those of
// this batch, then the cache, then the transaction (committed by earlier
// batches, of this process or another).
type hashReader struct {
	w *wtx
}

func (h hashReader) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var missing []int64
	for i, idx := range indexes {
		if v, ok := h.w.st.staged[idx]; ok {
			out[i] = v
		} else if v, ok := h.w.s.hashes[idx]; ok {
			out[i] = v
		} else {
			missing = append(missing, idx)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	found, err := readHashes(h.w.ctx, h.w.s.d, h.w.tx, missing)
	if err != nil {
		return nil, err
	}
	for i, idx := range indexes {
		if v, ok := found[idx]; ok {
			out[i] = v
			h.w.s.hashes[idx] = v
		} else if _, ok := h.w.st.staged[idx]; !ok {
			if _, ok := h.w.s.hashes[idx]; !ok {
				return nil, fmt.Errorf("tree hash %d: %w", idx, audit.ErrHead)
			}
		}
	}
	return out, nil
}

type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func readHashes(ctx context.Context, d *dialect, q querier, indexes []int64) (map[int64]tlog.Hash, error) {
	found := make(map[int64]tlog.Hash, len(indexes))
	for part := range chunks(indexes, 500) {
		args := make([]any, len(part))
		for i, idx := range part {
			args[i] = idx
		}
		r, err := q.QueryContext(ctx, d.q(`SELECT idx, hash FROM tlog_hashes WHERE idx IN (`+strings.TrimSuffix(strings.Repeat("?, ", len(part)), ", ")+`)`), args...)
		if err != nil {
			return nil, fmt.Errorf("read tree hashes: %w", d.classify(err))
		}
		for r.Next() {
			var idx int64
			var b []byte
			if err := r.Scan(&idx, &b); err != nil {
				r.Close()
				return nil, fmt.Errorf("read tree hashes: %w", d.classify(err))
			}
			if len(b) != tlog.HashSize {
				r.Close()
				return nil, fmt.Errorf("read tree hashes: hash %d has %d bytes", idx, len(b))
			}
			found[idx] = tlog.Hash(b)
		}
		err = r.Err()
		r.Close()
		if err != nil {
			return nil, fmt.Errorf("read tree hashes: %w", d.classify(err))
		}
	}
	return found, nil
}

// errPanic wraps a panic of an Update's fn: the caller gets it as an
// error, the batch goes on.
var errPanic = errors.New("panic in update function")

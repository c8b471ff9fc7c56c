package store

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// HistoryStore reads and writes the metric history: per-series samples on
// a regular step, retention and downsampling. Samples are measurements,
// not changes: they are written without an audit record, through the same
// single writer as Update (AppendHistory is a job of its own in the group
// commit), and read through the read pool.
type HistoryStore interface {
	// AppendHistory writes the steps of one or more series of one or more
	// tenants in one transaction (created series get their row). A step
	// written again (same series, step and time) is replaced: a re-import
	// overwrites. It returns once the transaction is durable. Each
	// sample's tenant must exist (else ErrInvalid).
	AppendHistory(ctx context.Context, samples []HistorySample) error
	// HistorySeries lists the tenant's series by id, after the id after
	// (0 for the first page), at most limit (DefaultLimit when 0, at most
	// MaxLimit).
	HistorySeries(ctx context.Context, tenant TenantID, after int64, limit int) ([]HistorySeries, error)
	// ReadHistory returns the series' steps with from <= time < to, by
	// time (the rows of both resolutions, downsampled ones with their
	// longer Step). A series never written has no steps (no error).
	ReadHistory(ctx context.Context, tenant TenantID, key SeriesKey, from, to time.Time) ([]HistoryPoint, error)
	// PruneHistory deletes the tenant's steps before retainFrom and
	// replaces the steps shorter than downsampleStep that begin before
	// downsampleBefore by their average per downsampleStep (aligned to
	// the unix epoch; weighted by their samples), in one transaction.
	// Only whole downsampled steps are written: the step that holds
	// downsampleBefore is left for a later run.
	PruneHistory(ctx context.Context, tenant TenantID, o PruneOptions) (PruneResult, error)
}

// HistoryTx is what a transaction of Update changes of the metric history:
// nothing (samples need no audit record: see HistoryStore).
type HistoryTx interface{}

// SeriesKey names one series of a tenant: a trigger of a scaler of a
// namespace of a cluster. Scaler and Trigger are required; Cluster and
// Namespace may be empty (a KEDA trigger without a cluster id, say).
type SeriesKey struct {
	Cluster   string
	Namespace string
	Scaler    string
	Trigger   string
}

// String writes the key as cluster/namespace/scaler/trigger.
func (k SeriesKey) String() string {
	return k.Cluster + "/" + k.Namespace + "/" + k.Scaler + "/" + k.Trigger
}

// Validate reports every invalid field.
func (k SeriesKey) Validate() error {
	var errs []error
	opt := func(what, s string) {
		if s != "" {
			if err := checkName(what, s, 253); err != nil {
				errs = append(errs, err)
			}
		}
	}
	opt("cluster", k.Cluster)
	opt("namespace", k.Namespace)
	if err := checkName("scaler", k.Scaler, 253); err != nil {
		errs = append(errs, err)
	}
	if err := checkName("trigger", k.Trigger, 253); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// seriesID is the series' id: the first 63 bits of SHA-256 of the tenant
// and key. Chosen by the store rather than by the database, so that a
// batch writes its series and samples without reading ids back (two
// statements for any number of series). Two keys of a tenant with one id
// (a chance of about n²/2⁶⁴ among n series) would share the id's first
// series: the unique key rejects the second's row, and its samples would
// be written to the first.
func seriesID(tenant TenantID, k SeriesKey) int64 {
	h := sha256.New()
	for _, s := range []string{string(tenant), k.Cluster, k.Namespace, k.Scaler, k.Trigger} {
		var n [binary.MaxVarintLen64]byte
		h.Write(n[:binary.PutUvarint(n[:], uint64(len(s)))])
		h.Write([]byte(s))
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return int64(binary.BigEndian.Uint64(sum[:8]) >> 1)
}

// HistorySample is one step of one series, as AppendHistory writes it.
type HistorySample struct {
	Tenant TenantID
	Series SeriesKey
	// Time is the start of the step (whole microseconds) and Step its
	// length (> 0).
	Time time.Time
	Step time.Duration
	// Value is the average of the step's Samples (>= 1) samples; finite.
	Value   float64
	Samples int64
}

// HistoryPoint is one stored step of a series.
type HistoryPoint struct {
	Time    time.Time
	Step    time.Duration
	Value   float64
	Samples int64
}

// HistorySeries is one series of a tenant.
type HistorySeries struct {
	ID  int64
	Key SeriesKey
}

// PruneOptions says what PruneHistory removes and downsamples.
type PruneOptions struct {
	// RetainFrom: the steps that begin before it are deleted (zero:
	// none).
	RetainFrom time.Time
	// DownsampleBefore and DownsampleStep: the steps shorter than
	// DownsampleStep that begin before DownsampleBefore are replaced by
	// their averages per DownsampleStep (zero: none).
	DownsampleBefore time.Time
	DownsampleStep   time.Duration
}

// PruneResult counts what PruneHistory did.
type PruneResult struct {
	// Deleted counts the steps deleted past retention, Downsampled the
	// steps replaced by averages.
	Deleted, Downsampled int64
}

func (s HistorySample) validate(i int) error {
	var errs []error
	if err := s.Tenant.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := s.Series.Validate(); err != nil {
		errs = append(errs, err)
	}
	if s.Step <= 0 || s.Step%time.Microsecond != 0 {
		errs = append(errs, fmt.Errorf("%w: step %v: want a positive whole number of microseconds", ErrInvalid, s.Step))
	}
	if s.Time.IsZero() || s.Time.Nanosecond()%1000 != 0 {
		errs = append(errs, fmt.Errorf("%w: time %v: want a time in whole microseconds", ErrInvalid, s.Time))
	}
	if math.IsNaN(s.Value) || math.IsInf(s.Value, 0) {
		errs = append(errs, fmt.Errorf("%w: value %v: want a finite number", ErrInvalid, s.Value))
	}
	if s.Samples < 1 {
		errs = append(errs, fmt.Errorf("%w: samples %d: want >= 1", ErrInvalid, s.Samples))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("history sample %d: %w", i, err)
	}
	return nil
}

// Rows per statement of AppendHistory (7 parameters a series row, 6 a
// sample row: within SQLite's 32,766 and PostgreSQL's 65,535).
const (
	historySeriesChunk = 500
	historySampleChunk = 1000
)

const (
	historySeriesInsert = `INSERT INTO history_series (tenant_id, series_id, cluster_id, namespace, scaler, trigger_name, created_us) VALUES `
	historySampleInsert = `INSERT INTO history_samples (tenant_id, series_id, step_us, at_us, value, samples) VALUES `
)

// historyUpsert is the ON CONFLICT clause of an insert of history
// samples: the row of the same tenant, series, step and time gets set.
func historyUpsert(set string) string {
	return ` ON CONFLICT (tenant_id, series_id, step_us, at_us) DO UPDATE SET ` + set
}

// AppendHistory implements HistoryStore: one job of the writer without
// audit record (like TouchToken), so it shares the one writer connection
// and its group commit with Update.
func (s *sqlStore) AppendHistory(ctx context.Context, samples []HistorySample) error {
	if len(samples) == 0 {
		return nil
	}
	type seriesRow struct {
		tenant TenantID
		id     int64
		key    SeriesKey
	}
	var errs []error
	ids := make([]int64, len(samples))
	type tenantSeries struct {
		tenant TenantID
		id     int64
	}
	seen := make(map[tenantSeries]struct{})
	var series []seriesRow
	for i, smp := range samples {
		if err := smp.validate(i); err != nil {
			errs = append(errs, err)
			if len(errs) == 10 {
				break
			}
			continue
		}
		ids[i] = seriesID(smp.Tenant, smp.Series)
		k := tenantSeries{smp.Tenant, ids[i]}
		if _, ok := seen[k]; !ok {
			seen[k] = struct{}{}
			series = append(series, seriesRow{smp.Tenant, ids[i], smp.Series})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fn := func(w *wtx) error {
		created := w.now.UnixMicro()
		for part := range chunks(series, historySeriesChunk) {
			args := make([]any, 0, 7*len(part))
			for _, r := range part {
				args = append(args, r.tenant, r.id, r.key.Cluster, r.key.Namespace, r.key.Scaler, r.key.Trigger, created)
			}
			if _, err := w.exec(historySeriesInsert+rows("(?, ?, ?, ?, ?, ?, ?)", len(part))+` ON CONFLICT DO NOTHING`, args...); err != nil {
				return fmt.Errorf("insert history series: %w", err)
			}
		}
		for off := 0; off < len(samples); off += historySampleChunk {
			part := samples[off:min(off+historySampleChunk, len(samples))]
			args := make([]any, 0, 6*len(part))
			for i, smp := range part {
				args = append(args, smp.Tenant, ids[off+i], smp.Step.Microseconds(), smp.Time.UnixMicro(), smp.Value, smp.Samples)
			}
			if _, err := w.exec(historySampleInsert+rows("(?, ?, ?, ?, ?, ?)", len(part))+historyUpsert(`value = excluded.value, samples = excluded.samples`), args...); err != nil {
				return fmt.Errorf("insert history samples: %w", err)
			}
		}
		return nil
	}
	err := s.submit(ctx, &job{ctx: ctx, tenant: samples[0].Tenant, actor: "system", fn: fn})
	if err != nil {
		return fmt.Errorf("append history: %w", err)
	}
	return nil
}

// HistorySeries implements HistoryStore.
func (s *sqlStore) HistorySeries(ctx context.Context, tenant TenantID, after int64, limit int) ([]HistorySeries, error) {
	if err := tenant.Validate(); err != nil {
		return nil, err
	}
	limit, err := Page{Limit: limit}.limit()
	if err != nil {
		return nil, err
	}
	if err := s.checkOpen(); err != nil {
		return nil, fmt.Errorf("list history series: %w", err)
	}
	var out []HistorySeries
	err = s.retryRead(ctx, func() error {
		out = out[:0]
		r, err := s.readRows(ctx, `SELECT series_id, cluster_id, namespace, scaler, trigger_name FROM history_series WHERE tenant_id = ? AND series_id > ? ORDER BY series_id LIMIT ?`, tenant, after, limit)
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var h HistorySeries
			if err := r.Scan(&h.ID, &h.Key.Cluster, &h.Key.Namespace, &h.Key.Scaler, &h.Key.Trigger); err != nil {
				return err
			}
			out = append(out, h)
		}
		return r.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("list history series: %w", s.readErr(err))
	}
	return out, nil
}

// ReadHistory implements HistoryStore.
func (s *sqlStore) ReadHistory(ctx context.Context, tenant TenantID, key SeriesKey, from, to time.Time) ([]HistoryPoint, error) {
	if err := tenant.Validate(); err != nil {
		return nil, err
	}
	if err := key.Validate(); err != nil {
		return nil, err
	}
	if err := s.checkOpen(); err != nil {
		return nil, fmt.Errorf("read history %s: %w", key, err)
	}
	id := seriesID(tenant, key)
	var out []HistoryPoint
	err := s.retryRead(ctx, func() error {
		out = out[:0]
		r, err := s.readRows(ctx, `SELECT step_us, at_us, value, samples FROM history_samples WHERE tenant_id = ? AND series_id = ? AND at_us >= ? AND at_us < ? ORDER BY at_us, step_us`,
			tenant, id, from.UnixMicro(), to.UnixMicro())
		if err != nil {
			return err
		}
		defer r.Close()
		for r.Next() {
			var step, at int64
			var p HistoryPoint
			if err := r.Scan(&step, &at, &p.Value, &p.Samples); err != nil {
				return err
			}
			p.Time, p.Step = time.UnixMicro(at).UTC(), time.Duration(step)*time.Microsecond
			out = append(out, p)
		}
		return r.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("read history %s: %w", key, s.readErr(err))
	}
	return out, nil
}

const (
	historyDelete = `DELETE FROM history_samples WHERE tenant_id = ? AND at_us < ?`
	// The average of each downsampled step, weighted by samples, merged
	// into a row of that step written by an earlier run (late data).
	historyDownsample = `INSERT INTO history_samples (tenant_id, series_id, step_us, at_us, value, samples) ` +
		`SELECT tenant_id, series_id, CAST(? AS BIGINT), (at_us / CAST(? AS BIGINT)) * CAST(? AS BIGINT), SUM(value * samples) / SUM(samples), SUM(samples) FROM history_samples ` +
		`WHERE tenant_id = ? AND step_us < ? AND at_us < ? GROUP BY tenant_id, series_id, 4`
	historyDownsampleMerge = `value = (history_samples.value * history_samples.samples + excluded.value * excluded.samples) / (history_samples.samples + excluded.samples), ` +
		`samples = history_samples.samples + excluded.samples`
	historyDownsampled = `DELETE FROM history_samples WHERE tenant_id = ? AND step_us < ? AND at_us < ?`
)

// PruneHistory implements HistoryStore.
func (s *sqlStore) PruneHistory(ctx context.Context, tenant TenantID, o PruneOptions) (PruneResult, error) {
	if err := tenant.Validate(); err != nil {
		return PruneResult{}, err
	}
	if o.DownsampleStep < 0 || o.DownsampleStep%time.Microsecond != 0 {
		return PruneResult{}, fmt.Errorf("%w: downsample step %v: want a positive whole number of microseconds", ErrInvalid, o.DownsampleStep)
	}
	var res PruneResult
	fn := func(w *wtx) error {
		res = PruneResult{}
		if !o.RetainFrom.IsZero() {
			r, err := w.exec(historyDelete, tenant, o.RetainFrom.UnixMicro())
			if err != nil {
				return fmt.Errorf("delete history: %w", err)
			}
			res.Deleted, _ = r.RowsAffected()
		}
		if !o.DownsampleBefore.IsZero() && o.DownsampleStep > 0 {
			step := o.DownsampleStep.Microseconds()
			// Whole steps only: the one holding DownsampleBefore is
			// still being written to at the fine resolution.
			before := o.DownsampleBefore.UnixMicro()
			before -= ((before % step) + step) % step
			if _, err := w.exec(historyDownsample+historyUpsert(historyDownsampleMerge), step, step, step, tenant, step, before); err != nil {
				return fmt.Errorf("downsample history: %w", err)
			}
			r, err := w.exec(historyDownsampled, tenant, step, before)
			if err != nil {
				return fmt.Errorf("delete downsampled history: %w", err)
			}
			res.Downsampled, _ = r.RowsAffected()
		}
		return nil
	}
	if err := s.submit(ctx, &job{ctx: ctx, tenant: tenant, actor: "system", fn: fn}); err != nil {
		return PruneResult{}, fmt.Errorf("prune history: %w", err)
	}
	return res, nil
}

package store

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// CostStore reads and writes the per-workload cost samples and the
// budgets (backend/cost prices; the store keeps integers: money in
// micro-units, shares in parts per million).
type CostStore interface {
	// Budget reads one budget.
	Budget(ctx context.Context, tenant TenantID, id string) (Budget, error)
	// Budgets lists the tenant's budgets by id.
	Budgets(ctx context.Context, tenant TenantID, page Page) (List[Budget], error)
	// RecordCostSamples writes samples of one tenant: bookkeeping, not
	// audited, through the one writer (batched with the Updates). A
	// sample of a step already stored (same cluster, namespace, workload
	// and start) replaces it, so a retry after a lost answer is harmless.
	RecordCostSamples(ctx context.Context, tenant TenantID, samples []CostSample) error
	// CostAllocations sums the samples of the filter's window, per key
	// of its aggregate and per step of it.
	CostAllocations(ctx context.Context, tenant TenantID, filter CostFilter) ([]CostAllocation, error)
	// PruneCostSamples deletes the tenant's samples of steps that
	// started before before (retention; bookkeeping, not audited) and
	// returns how many.
	PruneCostSamples(ctx context.Context, tenant TenantID, before time.Time) (int64, error)
}

// CostTx is what a transaction of Update changes of the budgets (each
// change appends its audit record).
type CostTx interface {
	CreateBudget(b Budget) (Budget, error)               // "budget.create"
	UpdateBudget(b Budget) (Budget, error)               // "budget.update", by b.ResourceVersion
	DeleteBudget(id string, resourceVersion int64) error // "budget.delete"; 0: any version
	Budget(id string) (Budget, error)
}

// BudgetScope is what a budget covers.
type BudgetScope string

// Budget scopes.
const (
	ScopeTenant    BudgetScope = "tenant"
	ScopeNamespace BudgetScope = "namespace"
	ScopeWorkload  BudgetScope = "workload"
)

// Budget is a monthly budget of the tenant, of a namespace or of one
// workload (a Scaler's target, named as the scaler), optionally in one
// cluster only.
type Budget struct {
	ID        string
	Name      string
	Scope     BudgetScope
	Cluster   string // "": every cluster
	Namespace string // namespace and workload scopes
	Workload  string // workload scope
	// MonthlyMicros is the amount per calendar month (UTC), in
	// micro-units of the price table's currency.
	MonthlyMicros   int64
	CreatedAt       time.Time
	UpdatedAt       time.Time
	ResourceVersion int64
}

// Covers reports whether the budget applies to the workload.
func (b Budget) Covers(cluster, namespace, workload string) bool {
	if b.Cluster != "" && b.Cluster != cluster {
		return false
	}
	switch b.Scope {
	case ScopeNamespace:
		return b.Namespace == namespace
	case ScopeWorkload:
		return b.Namespace == namespace && b.Workload == workload
	}
	return true
}

// CostSample is one workload's cost over one step.
type CostSample struct {
	Cluster, Namespace, Workload string
	Start                        time.Time
	Step                         time.Duration // whole seconds, > 0
	// ReplicasMilli is the step's average replica count × 1000.
	ReplicasMilli int64
	// One pod's requests.
	CPUMilli, MemoryBytes, GPU int64
	// SpotPPM is the share of the pods priced as spot.
	SpotPPM int64
	// The step's cost, per resource, in micro-units.
	CPUMicros, RAMMicros, GPUMicros int64
	// PriceTable is the hash of the price table that priced it.
	PriceTable string
}

// CostAggregate is how CostAllocations groups.
type CostAggregate string

// Aggregates.
const (
	AggregateTenant    CostAggregate = "tenant"
	AggregateCluster   CostAggregate = "cluster"
	AggregateNamespace CostAggregate = "namespace"
	AggregateWorkload  CostAggregate = "workload"
)

// CostFilter selects the samples whose start is in [From, To), of the
// workloads the other fields match ("" matches all), summed per
// Aggregate and per Step from From (0: one step, the window).
type CostFilter struct {
	From, To                     time.Time
	Step                         time.Duration
	Aggregate                    CostAggregate
	Cluster, Namespace, Workload string
}

// CostAllocation is the sum of a key's samples in one step of the
// window. Cluster, Namespace and Workload are those the aggregate keeps
// ("" for the others).
type CostAllocation struct {
	Cluster, Namespace, Workload string
	Start                        time.Time
	CPUMicros, RAMMicros         int64
	GPUMicros                    int64
	// CPUMilliCoreSeconds, RAMKiBSeconds, GPUMilliSeconds are the
	// requested quantities integrated over time.
	CPUMilliCoreSeconds, RAMKiBSeconds, GPUMilliSeconds int64
	// ReplicaMilliSeconds and SpotReplicaMilliSeconds: replica time, and
	// the part of it priced as spot.
	ReplicaMilliSeconds, SpotReplicaMilliSeconds int64
}

// listBudgets is far from page.go's iota, which other lists extend.
const listBudgets listKind = 64

const (
	budgetCols   = `budget_id, name, scope, cluster_id, namespace, workload, monthly_micros, created_us, updated_us, resource_version`
	budgetExists = `SELECT COUNT(*) FROM budgets WHERE tenant_id = ? AND budget_id = ?`
)

func scanBudget(r scanner, d *dialect) (Budget, error) {
	var b Budget
	var scope string
	var created, updated int64
	if err := r.Scan(&b.ID, &b.Name, &scope, &b.Cluster, &b.Namespace, &b.Workload, &b.MonthlyMicros, &created, &updated, &b.ResourceVersion); err != nil {
		return Budget{}, scanErr(d, err)
	}
	b.Scope = BudgetScope(scope)
	b.CreatedAt, b.UpdatedAt = fromMicros(created), fromMicros(updated)
	return b, nil
}

func (s *sqlStore) Budget(ctx context.Context, tenant TenantID, id string) (Budget, error) {
	return one(ctx, s, "budget", id, scanBudget, `SELECT `+budgetCols+` FROM budgets WHERE tenant_id = ? AND budget_id = ?`, tenant, id)
}

func (s *sqlStore) Budgets(ctx context.Context, tenant TenantID, p Page) (List[Budget], error) {
	k, limit, err := page(p, listBudgets, "")
	if err != nil {
		return List[Budget]{}, err
	}
	return many(ctx, s, "budgets", limit, scanBudget, func(b Budget) pageKey { return pageKey{list: listBudgets, name: b.ID} },
		`SELECT `+budgetCols+` FROM budgets WHERE tenant_id = ? AND budget_id > ? ORDER BY budget_id LIMIT ?`, tenant, k.name)
}

func checkBudget(b Budget) error {
	errs := []error{checkName("budget id", b.ID, 128), checkName("budget name", b.Name, 256)}
	if b.Cluster != "" {
		errs = append(errs, checkName("budget cluster", b.Cluster, 128))
	}
	switch b.Scope {
	case ScopeTenant:
		if b.Namespace != "" || b.Workload != "" {
			errs = append(errs, fmt.Errorf("%w: budget %q: a tenant budget names no namespace or workload", ErrInvalid, clip(b.ID)))
		}
	case ScopeNamespace:
		errs = append(errs, checkName("budget namespace", b.Namespace, 63))
		if b.Workload != "" {
			errs = append(errs, fmt.Errorf("%w: budget %q: a namespace budget names no workload", ErrInvalid, clip(b.ID)))
		}
	case ScopeWorkload:
		errs = append(errs, checkName("budget namespace", b.Namespace, 63), checkName("budget workload", b.Workload, 253))
	default:
		errs = append(errs, fmt.Errorf("%w: budget %q: scope %q: want tenant, namespace or workload", ErrInvalid, clip(b.ID), clip(string(b.Scope))))
	}
	if b.MonthlyMicros < 0 {
		errs = append(errs, fmt.Errorf("%w: budget %q: amount %d: want non-negative", ErrInvalid, clip(b.ID), b.MonthlyMicros))
	}
	return errors.Join(errs...)
}

// budgetPayload is a budget in the audit log (integers only).
type budgetPayload struct {
	ID              string `json:"id"`
	Name            string `json:"name"`
	Scope           string `json:"scope"`
	Cluster         string `json:"cluster,omitempty"`
	Namespace       string `json:"namespace,omitempty"`
	Workload        string `json:"workload,omitempty"`
	MonthlyMicros   int64  `json:"monthlyMicros"`
	ResourceVersion int64  `json:"resourceVersion"`
}

func payloadOf(b Budget) budgetPayload {
	return budgetPayload{b.ID, b.Name, string(b.Scope), b.Cluster, b.Namespace, b.Workload, b.MonthlyMicros, b.ResourceVersion}
}

func (w *wtx) CreateBudget(b Budget) (Budget, error) {
	if err := checkBudget(b); err != nil {
		return Budget{}, err
	}
	b.CreatedAt, b.UpdatedAt, b.ResourceVersion = w.now, w.now, 1
	if err := w.insertNew("budget", b.ID, `INSERT INTO budgets (tenant_id, budget_id, name, scope, cluster_id, namespace, workload, monthly_micros, created_us, updated_us, resource_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1) ON CONFLICT DO NOTHING`,
		w.tenant, b.ID, b.Name, string(b.Scope), b.Cluster, b.Namespace, b.Workload, b.MonthlyMicros, w.now.UnixMicro(), w.now.UnixMicro()); err != nil {
		return Budget{}, err
	}
	if _, err := w.appendAudit("budget.create", "budgets/"+b.ID, payloadOf(b)); err != nil {
		return Budget{}, err
	}
	return b, nil
}

func (w *wtx) UpdateBudget(b Budget) (Budget, error) {
	if err := checkBudget(b); err != nil {
		return Budget{}, err
	}
	res, err := w.exec(`UPDATE budgets SET name = ?, scope = ?, cluster_id = ?, namespace = ?, workload = ?, monthly_micros = ?, updated_us = ?, resource_version = resource_version + 1 WHERE tenant_id = ? AND budget_id = ? AND resource_version = ?`,
		b.Name, string(b.Scope), b.Cluster, b.Namespace, b.Workload, b.MonthlyMicros, w.now.UnixMicro(), w.tenant, b.ID, b.ResourceVersion)
	if err != nil {
		return Budget{}, rowErr("budget", b.ID, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Budget{}, w.versionErr("budget", b.ID, budgetExists, b.ResourceVersion)
	}
	got, err := w.Budget(b.ID)
	if err != nil {
		return Budget{}, err
	}
	if _, err := w.appendAudit("budget.update", "budgets/"+b.ID, payloadOf(got)); err != nil {
		return Budget{}, err
	}
	return got, nil
}

func (w *wtx) DeleteBudget(id string, version int64) error {
	return w.delete("budget", id, version,
		`DELETE FROM budgets WHERE tenant_id = ? AND budget_id = ?`,
		`DELETE FROM budgets WHERE tenant_id = ? AND budget_id = ? AND resource_version = ?`,
		budgetExists, "budget.delete", "budgets/"+id)
}

func (w *wtx) Budget(id string) (Budget, error) {
	b, err := scanBudget(w.queryRow(`SELECT `+budgetCols+` FROM budgets WHERE tenant_id = ? AND budget_id = ?`, w.tenant, id), w.s.d)
	if err != nil {
		return Budget{}, rowErr("budget", id, err)
	}
	return b, nil
}

// maxCostSamples bounds one RecordCostSamples call (one statement each).
const maxCostSamples = 10_000

// A resend of a step replaces it: deleted, then inserted (an upsert's
// "DO UPDATE SET" would read to the tenant review as a table), each a
// multi-row statement per chunk of costChunk samples.
const (
	deleteCostSamples = `DELETE FROM cost_samples WHERE tenant_id = ? AND (cluster_id, namespace, workload, start_us) IN (VALUES `
	insertCostSamples = `INSERT INTO cost_samples (tenant_id, cluster_id, namespace, workload, start_us, step_s, replicas_milli, cpu_milli, memory_bytes, gpu, spot_ppm, replica_ms, spot_replica_ms, cpu_mcore_s, ram_kib_s, gpu_milli_s, cpu_micros, ram_micros, gpu_micros, price_table) VALUES `
	costSampleRow     = "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	costChunk         = 100
)

func checkCostSample(c CostSample) error {
	errs := []error{checkName("cost sample cluster", c.Cluster, 128), checkName("cost sample namespace", c.Namespace, 63), checkName("cost sample workload", c.Workload, 253)}
	if c.Start.IsZero() {
		errs = append(errs, fmt.Errorf("%w: cost sample %s/%s: start: zero", ErrInvalid, clip(c.Namespace), clip(c.Workload)))
	}
	if c.Step < time.Second || c.Step%time.Second != 0 || c.Step > 24*time.Hour {
		errs = append(errs, fmt.Errorf("%w: cost sample %s/%s: step %v: want whole seconds from 1s to 24h", ErrInvalid, clip(c.Namespace), clip(c.Workload), c.Step))
	}
	if c.ReplicasMilli < 0 || c.ReplicasMilli > 1<<32 || c.CPUMilli < 0 || c.CPUMilli > 1<<32 || c.MemoryBytes < 0 || c.MemoryBytes > 1<<44 || c.GPU < 0 || c.GPU > 1<<16 ||
		c.SpotPPM < 0 || c.SpotPPM > 1_000_000 || c.CPUMicros < 0 || c.RAMMicros < 0 || c.GPUMicros < 0 {
		errs = append(errs, fmt.Errorf("%w: cost sample %s/%s: a quantity or cost out of range", ErrInvalid, clip(c.Namespace), clip(c.Workload)))
	}
	if len(c.PriceTable) > 128 {
		errs = append(errs, fmt.Errorf("%w: cost sample %s/%s: price table hash too long", ErrInvalid, clip(c.Namespace), clip(c.Workload)))
	}
	return errors.Join(errs...)
}

func (s *sqlStore) RecordCostSamples(ctx context.Context, tenant TenantID, samples []CostSample) error {
	if err := tenant.Validate(); err != nil {
		return err
	}
	if len(samples) > maxCostSamples {
		return fmt.Errorf("%w: %d cost samples in one call: at most %d", ErrInvalid, len(samples), maxCostSamples)
	}
	var errs []error
	for _, c := range samples {
		errs = append(errs, checkCostSample(c))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if len(samples) == 0 {
		return nil
	}
	return s.submit(ctx, &job{ctx: ctx, tenant: tenant, actor: "system", fn: func(w *wtx) error {
		for part := range chunks(samples, costChunk) {
			del := make([]any, 0, 1+4*len(part))
			ins := make([]any, 0, 20*len(part))
			del = append(del, w.tenant)
			for _, c := range part {
				sec := int64(c.Step / time.Second)
				start := c.Start.UTC().UnixMicro()
				replicaMs := c.ReplicasMilli * sec
				// The quantities integrated over the step, in integers
				// that a month of sums keeps within int64
				// (milli-core-seconds, KiB-seconds, milli-GPU-seconds);
				// truncated, they are for reports only: the cost is the
				// micro-units computed by the caller.
				cpu := c.ReplicasMilli * c.CPUMilli / 1000 * sec
				ram := c.ReplicasMilli * (c.MemoryBytes / 1024) / 1000 * sec
				gpu := c.ReplicasMilli * c.GPU * sec
				del = append(del, c.Cluster, c.Namespace, c.Workload, start)
				ins = append(ins, w.tenant, c.Cluster, c.Namespace, c.Workload, start, sec, c.ReplicasMilli, c.CPUMilli, c.MemoryBytes, c.GPU, c.SpotPPM,
					replicaMs, replicaMs/1000*c.SpotPPM/1000, cpu, ram, gpu, c.CPUMicros, c.RAMMicros, c.GPUMicros, c.PriceTable)
			}
			if _, err := w.exec(deleteCostSamples+rows("(?, ?, ?, CAST(? AS BIGINT))", len(part))+`)`, del...); err != nil {
				return fmt.Errorf("cost samples: %w", err)
			}
			if _, err := w.exec(insertCostSamples+rows(costSampleRow, len(part)), ins...); err != nil {
				return fmt.Errorf("cost samples: %w", err)
			}
		}
		return nil
	}})
}

// The sums of CostAllocations, one query per aggregate: the columns the
// aggregate keeps, the others ”. (? = ” OR col = ?) is a filter that
// an empty value turns off.
const (
	costSums = `(start_us - ?) / ? AS bucket, CAST(SUM(cpu_micros) AS BIGINT), CAST(SUM(ram_micros) AS BIGINT), CAST(SUM(gpu_micros) AS BIGINT), CAST(SUM(cpu_mcore_s) AS BIGINT), CAST(SUM(ram_kib_s) AS BIGINT), CAST(SUM(gpu_milli_s) AS BIGINT), CAST(SUM(replica_ms) AS BIGINT), CAST(SUM(spot_replica_ms) AS BIGINT) FROM cost_samples WHERE tenant_id = ? AND start_us >= ? AND start_us < ? AND (? = '' OR cluster_id = ?) AND (? = '' OR namespace = ?) AND (? = '' OR workload = ?) `

	costByTenant    = `SELECT '', '', '', ` + costSums + `GROUP BY bucket ORDER BY bucket`
	costByCluster   = `SELECT cluster_id, '', '', ` + costSums + `GROUP BY cluster_id, bucket ORDER BY cluster_id, bucket`
	costByNamespace = `SELECT '', namespace, '', ` + costSums + `GROUP BY namespace, bucket ORDER BY namespace, bucket`
	costByWorkload  = `SELECT cluster_id, namespace, workload, ` + costSums + `GROUP BY cluster_id, namespace, workload, bucket ORDER BY cluster_id, namespace, workload, bucket`
)

// maxCostRows bounds CostAllocations' answer.
const maxCostRows = 100_000

func (s *sqlStore) CostAllocations(ctx context.Context, tenant TenantID, f CostFilter) ([]CostAllocation, error) {
	if err := s.checkOpen(); err != nil {
		return nil, fmt.Errorf("cost allocations: %w", err)
	}
	if f.From.IsZero() || !f.To.After(f.From) {
		return nil, fmt.Errorf("%w: cost window %v to %v: want from before to", ErrInvalid, f.From, f.To)
	}
	step := f.Step
	if step <= 0 {
		step = f.To.Sub(f.From)
	}
	if step < time.Minute {
		return nil, fmt.Errorf("%w: cost step %v: at least 1m", ErrInvalid, step)
	}
	if n := f.To.Sub(f.From) / step; n > MaxBuckets {
		return nil, fmt.Errorf("%w: cost window of %d steps of %v: at most %d", ErrInvalid, n, step, MaxBuckets)
	}
	var q string
	switch f.Aggregate {
	case AggregateTenant, "":
		q = costByTenant
	case AggregateCluster:
		q = costByCluster
	case AggregateNamespace:
		q = costByNamespace
	case AggregateWorkload:
		q = costByWorkload
	default:
		return nil, fmt.Errorf("%w: cost aggregate %q: want tenant, cluster, namespace or workload", ErrInvalid, clip(string(f.Aggregate)))
	}
	from, stepUs := f.From.UTC().UnixMicro(), step.Microseconds()
	var out []CostAllocation
	err := s.retryRead(ctx, func() error {
		out = nil
		rows, err := s.readRows(ctx, q, from, stepUs, tenant, from, f.To.UTC().UnixMicro(), f.Cluster, f.Cluster, f.Namespace, f.Namespace, f.Workload, f.Workload)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var a CostAllocation
			var bucket int64
			if err := rows.Scan(&a.Cluster, &a.Namespace, &a.Workload, &bucket, &a.CPUMicros, &a.RAMMicros, &a.GPUMicros,
				&a.CPUMilliCoreSeconds, &a.RAMKiBSeconds, &a.GPUMilliSeconds, &a.ReplicaMilliSeconds, &a.SpotReplicaMilliSeconds); err != nil {
				return err
			}
			a.Start = fromMicros(from + bucket*stepUs)
			out = append(out, a)
			if len(out) > maxCostRows {
				return fmt.Errorf("%w: more than %d cost rows: narrow the window or the aggregate", ErrInvalid, maxCostRows)
			}
		}
		return rows.Err()
	})
	if err != nil {
		if errors.Is(err, ErrInvalid) {
			return nil, err
		}
		return nil, fmt.Errorf("cost allocations: %w", s.readErr(err))
	}
	return out, nil
}

func (s *sqlStore) PruneCostSamples(ctx context.Context, tenant TenantID, before time.Time) (int64, error) {
	if err := tenant.Validate(); err != nil {
		return 0, err
	}
	var n int64
	err := s.submit(ctx, &job{ctx: ctx, tenant: tenant, actor: "system", fn: func(w *wtx) error {
		res, err := w.exec(`DELETE FROM cost_samples WHERE tenant_id = ? AND start_us < ?`, w.tenant, before.UTC().UnixMicro())
		if err != nil {
			return fmt.Errorf("prune cost samples: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	}})
	return n, err
}

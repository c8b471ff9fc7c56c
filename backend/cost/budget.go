package cost

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/big"
	"time"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

// Workload names a priced workload: a Scaler's target, named as the
// Scaler, in its tenant, cluster and namespace.
type Workload struct {
	Tenant    store.TenantID
	Cluster   string
	Namespace string
	Name      string
}

// Placement says where a workload's pods run, to find their pool: a pool
// by name, else the pool listing the instance type, else the table's
// default pool.
type Placement struct {
	Pool         string
	InstanceType string
}

// Cap is the budget cap of one Scaler: at most MaxReplicas replicas,
// because MaxCostPerHour / PricePerReplicaHour allows no more. Valid is
// false when no cap applies (none configured, or nothing priced).
type Cap struct {
	Valid               bool
	MaxReplicas         int32
	MaxCostPerHour      Micros
	PricePerReplicaHour Micros
	// TableHash is the hash of the price table that priced the replica.
	TableHash string
	// Source is what set the cap: "maxCostPerHour" (the Scaler's
	// costThresholds) or "budget/<id>" (a monthly budget).
	Source string
}

// Budget is the cap as the engine takes it (nil when !Valid): both
// amounts in micro-units (the engine only divides them).
func (c Cap) Budget() *scaling.Budget {
	if !c.Valid {
		return nil
	}
	return &scaling.Budget{MaxCostPerHour: float64(c.MaxCostPerHour), PricePerReplicaHour: float64(c.PricePerReplicaHour)}
}

// maxReplicas is floor(cap / price), exact, at most MaxInt32.
func maxReplicas(capPerHour, price Micros) int32 {
	if price <= 0 {
		return math.MaxInt32
	}
	if capPerHour <= 0 {
		return 0
	}
	return int32(min(int64(capPerHour)/int64(price), math.MaxInt32))
}

// BudgetStore is what the Capper reads: the tenant's budgets and their
// month's spend (store.Store implements it).
type BudgetStore interface {
	Budgets(ctx context.Context, tenant store.TenantID, page store.Page) (store.List[store.Budget], error)
	CostAllocations(ctx context.Context, tenant store.TenantID, filter store.CostFilter) ([]store.CostAllocation, error)
}

// RateSource gives the current hourly cost of the workloads a budget
// covers other than one (Recorder implements it), so that a namespace or
// tenant budget's hourly cap is shared: a workload may spend what the
// others leave.
type RateSource interface {
	CostPerHourExcept(tenant store.TenantID, b store.Budget, except Workload) Micros
}

// Capper computes budget caps. Store and Prices are required; Rates is
// optional (without it, a shared budget's whole hourly cap is each
// workload's). Safe for concurrent use.
type Capper struct {
	Store  BudgetStore
	Prices func() *Table
	Rates  RateSource
}

// CapInput is one Scaler as the Capper prices it: its spec (its
// costOptimization), one pod's requests (from the agent's inventory: the
// CRD states none) and its placement.
type CapInput struct {
	Workload
	Spec      *v1.ScalerSpec
	Requests  Requests
	Placement Placement
}

// ErrMaxCostPerHour: the Scaler's costThresholds.maxCostPerHour does not
// parse.
var ErrMaxCostPerHour = errors.New("costThresholds.maxCostPerHour")

// Cap returns the tightest cap of the Scaler at now: its spec's
// maxCostPerHour (when costOptimization is enabled) and each monthly
// budget covering the workload. A monthly budget's hourly cap is what is
// left of the month's amount (spent: the stored cost samples since the
// month began, UTC) spread evenly over the hours left in the month,
// less what the other covered workloads cost per hour now (Rates),
// floored to a micro-unit; an overspent budget caps at 0 (the engine
// keeps minReplicas). Replicas are priced at the spot share only with
// spotInstancesEnabled.
func (c *Capper) Cap(ctx context.Context, in CapInput, now time.Time) (Cap, error) {
	t := c.Prices()
	opt := (*v1.CostOptimization)(nil)
	if in.Spec != nil && in.Spec.Advanced != nil {
		opt = in.Spec.Advanced.CostOptimization
	}
	spot := opt != nil && opt.SpotInstancesEnabled
	rate := t.Pool(in.Placement.Pool, in.Placement.InstanceType).Rate(spot)
	price := rate.PerReplicaHour(in.Requests)
	out := Cap{PricePerReplicaHour: price, TableHash: t.Hash(), MaxReplicas: math.MaxInt32}
	if price == 0 {
		return out, nil // nothing priced: nothing to cap
	}
	consider := func(capPerHour Micros, source string) {
		n := maxReplicas(capPerHour, price)
		if !out.Valid || n < out.MaxReplicas || (n == out.MaxReplicas && capPerHour < out.MaxCostPerHour) {
			out.Valid, out.MaxReplicas, out.MaxCostPerHour, out.Source = true, n, capPerHour, source
		}
	}
	if opt != nil && opt.Enabled && opt.CostThresholds != nil && opt.CostThresholds.MaxCostPerHour != "" {
		m, err := ParseMicros(opt.CostThresholds.MaxCostPerHour)
		if err != nil {
			return Cap{}, fmt.Errorf("%w %v", ErrMaxCostPerHour, err)
		}
		consider(m, "maxCostPerHour")
	}
	p := store.Page{Limit: store.MaxLimit}
	for {
		l, err := c.Store.Budgets(ctx, in.Tenant, p)
		if err != nil {
			return Cap{}, fmt.Errorf("budgets: %w", err)
		}
		for _, b := range l.Items {
			if !b.Covers(in.Cluster, in.Namespace, in.Name) {
				continue
			}
			hourly, err := c.hourly(ctx, in, b, now)
			if err != nil {
				return Cap{}, err
			}
			consider(hourly, "budget/"+b.ID)
		}
		if l.NextPageToken == "" {
			break
		}
		p.Token = l.NextPageToken
	}
	return out, nil
}

// MonthBounds is the calendar month (UTC) of now: [start, end).
func MonthBounds(now time.Time) (start, end time.Time) {
	now = now.UTC()
	start = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	return start, start.AddDate(0, 1, 0)
}

// Spent is what the budget's scope cost in the month of now, from the
// stored samples.
func Spent(ctx context.Context, s BudgetStore, tenant store.TenantID, b store.Budget, now time.Time) (Micros, error) {
	start, end := MonthBounds(now)
	f := store.CostFilter{From: start, To: end, Aggregate: store.AggregateTenant, Cluster: b.Cluster}
	switch b.Scope {
	case store.ScopeNamespace:
		f.Namespace = b.Namespace
	case store.ScopeWorkload:
		f.Namespace, f.Workload = b.Namespace, b.Workload
	}
	rows, err := s.CostAllocations(ctx, tenant, f)
	if err != nil {
		return 0, fmt.Errorf("budget %q: spent: %w", b.ID, err)
	}
	var sum Micros
	for _, r := range rows {
		sum += Micros(r.CPUMicros + r.RAMMicros + r.GPUMicros)
	}
	return sum, nil
}

// HourlyCap is a monthly amount's hourly cap at now: (amount − spent) /
// the hours left in the month, floored to a micro-unit, 0 when spent.
func HourlyCap(amount, spent Micros, now time.Time) Micros {
	left := amount - spent
	_, end := MonthBounds(now)
	remaining := end.Sub(now.UTC())
	if left <= 0 {
		return 0
	}
	if remaining < time.Minute {
		remaining = time.Minute // the month's last minute spends the rest
	}
	num := new(big.Int).Mul(big.NewInt(int64(left)), big.NewInt(int64(time.Hour)))
	q := new(big.Int).Quo(num, big.NewInt(int64(remaining)))
	if !q.IsInt64() {
		return math.MaxInt64
	}
	return Micros(q.Int64())
}

func (c *Capper) hourly(ctx context.Context, in CapInput, b store.Budget, now time.Time) (Micros, error) {
	spent, err := Spent(ctx, c.Store, in.Tenant, b, now)
	if err != nil {
		return 0, err
	}
	h := HourlyCap(Micros(b.MonthlyMicros), spent, now)
	if c.Rates != nil && b.Scope != store.ScopeWorkload {
		h = max(h-c.Rates.CostPerHourExcept(in.Tenant, b, in.Workload), 0)
	}
	return h, nil
}

// DecisionBudget is the budget part of a decision's audit record: the
// cap the engine applied and the price table behind it. Integers only
// (the audit log's canonical JSON takes no floats).
type DecisionBudget struct {
	MaxReplicas               int32  `json:"maxReplicas"`
	MaxCostPerHourMicros      int64  `json:"maxCostPerHourMicros"`
	PricePerReplicaHourMicros int64  `json:"pricePerReplicaHourMicros"`
	PriceTableHash            string `json:"priceTableHash"`
	Source                    string `json:"source"`
}

// DecisionRecord is the payload of a decision's audit record
// (Tx.Append("decision", "scalers/<name>", payload)).
type DecisionRecord struct {
	ID                 string          `json:"id,omitempty"`
	Scaler             string          `json:"scaler"`
	Cluster            string          `json:"cluster,omitempty"`
	Namespace          string          `json:"namespace,omitempty"`
	Time               string          `json:"time"`
	Rule               string          `json:"rule"`
	CurrentReplicas    int32           `json:"currentReplicas"`
	DesiredReplicas    int32           `json:"desiredReplicas"`
	HPADesiredReplicas int32           `json:"hpaDesiredReplicas"`
	Budget             *DecisionBudget `json:"budget,omitempty"`
}

// DecisionPayload builds the audit payload of decision d of workload w
// (id: the decision's id, "" if none) made at now with cap c: a decision
// that had a budget cap (d.HasBudgetCap) carries c's price, cap and the
// price table's hash, whether or not the cap clamped it (rule
// BudgetCap).
func DecisionPayload(id string, w Workload, d *scaling.Decision, c Cap, now time.Time) DecisionRecord {
	r := DecisionRecord{ID: id, Scaler: w.Name, Cluster: w.Cluster, Namespace: w.Namespace, Time: now.UTC().Format(time.RFC3339Nano),
		Rule: string(d.Rule), CurrentReplicas: d.CurrentReplicas, DesiredReplicas: d.DesiredReplicas, HPADesiredReplicas: d.HPADesiredReplicas}
	if d.HasBudgetCap && c.Valid {
		r.Budget = &DecisionBudget{MaxReplicas: d.BudgetMaxReplicas, MaxCostPerHourMicros: int64(c.MaxCostPerHour),
			PricePerReplicaHourMicros: int64(c.PricePerReplicaHour), PriceTableHash: c.TableHash, Source: c.Source}
	}
	return r
}

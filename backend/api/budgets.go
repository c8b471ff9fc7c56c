package api

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/cost"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// BudgetBody is a monthly budget as clients send it. MonthlyAmount is a
// decimal string in the price table's currency, at most 6 decimal places
// ("1250.00"); the store keeps integer micro-units.
type BudgetBody struct {
	// ID is chosen by the client, or generated on create when absent.
	ID   string `json:"id,omitempty"`
	Name string `json:"name,omitempty"`
	// Scope is tenant, namespace or workload.
	Scope string `json:"scope"`
	// Cluster, when set, limits the budget to one cluster.
	Cluster         string `json:"cluster,omitempty"`
	Namespace       string `json:"namespace,omitempty"`
	Workload        string `json:"workload,omitempty"`
	MonthlyAmount   string `json:"monthlyAmount"`
	ResourceVersion int64  `json:"resourceVersion,omitempty"`
}

// Budget is a budget as the API answers it: the amount also in integer
// micro-units (1 unit = 1,000,000).
type Budget struct {
	BudgetBody
	MonthlyAmountMicros int64     `json:"monthlyAmountMicros"`
	CreatedAt           time.Time `json:"createdAt"`
	UpdatedAt           time.Time `json:"updatedAt"`
	// Month is this month's use of a single budget (GET of one budget
	// only; lists leave it out).
	Month *BudgetMonth `json:"month,omitempty"`
}

// BudgetMonth is a budget's calendar month (UTC) so far: what the stored
// cost samples of its scope add up to, what is left, and the hourly cap
// the engine gets from it (what is left over the hours left, before the
// other covered workloads' share).
type BudgetMonth struct {
	Start           time.Time `json:"start"`
	End             time.Time `json:"end"`
	Spent           string    `json:"spent"`
	SpentMicros     int64     `json:"spentMicros"`
	Remaining       string    `json:"remaining"`
	RemainingMicros int64     `json:"remainingMicros"`
	HourlyCap       string    `json:"hourlyCap"`
	HourlyCapMicros int64     `json:"hourlyCapMicros"`
}

func budgetOut(b store.Budget) Budget {
	return Budget{BudgetBody: BudgetBody{ID: b.ID, Name: b.Name, Scope: string(b.Scope), Cluster: b.Cluster, Namespace: b.Namespace, Workload: b.Workload,
		MonthlyAmount: cost.Micros(b.MonthlyMicros).String(), ResourceVersion: b.ResourceVersion},
		MonthlyAmountMicros: b.MonthlyMicros, CreatedAt: b.CreatedAt, UpdatedAt: b.UpdatedAt}
}

// budgetIn checks a body field by field (each error names its field).
func budgetIn(b BudgetBody) (store.Budget, error) {
	out := store.Budget{ID: b.ID, Name: b.Name, Scope: store.BudgetScope(b.Scope), Cluster: b.Cluster, Namespace: b.Namespace, Workload: b.Workload, ResourceVersion: b.ResourceVersion}
	if out.Name == "" {
		out.Name = out.ID
	}
	switch out.Scope {
	case store.ScopeTenant:
		if b.Namespace != "" {
			return out, invalid("namespace", "a tenant budget names no namespace")
		}
		if b.Workload != "" {
			return out, invalid("workload", "a tenant budget names no workload")
		}
	case store.ScopeNamespace:
		if b.Namespace == "" {
			return out, invalid("namespace", "required for scope namespace")
		}
		if b.Workload != "" {
			return out, invalid("workload", "a namespace budget names no workload")
		}
	case store.ScopeWorkload:
		if b.Namespace == "" {
			return out, invalid("namespace", "required for scope workload")
		}
		if b.Workload == "" {
			return out, invalid("workload", "required for scope workload")
		}
	case "":
		return out, invalid("scope", "required: tenant, namespace or workload")
	default:
		return out, invalid("scope", "%q: want tenant, namespace or workload", clip(b.Scope))
	}
	if b.MonthlyAmount == "" {
		return out, invalid("monthlyAmount", "required: a decimal like \"1250.00\"")
	}
	m, err := cost.ParseMicros(b.MonthlyAmount)
	if err != nil {
		return out, invalid("monthlyAmount", "%v", err)
	}
	out.MonthlyMicros = int64(m)
	return out, nil
}

func listBudgets(s *server, r *request) (int, any, error) {
	p, err := pageOf(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	l, err := s.o.Store.Budgets(r.Context(), r.tenant, p)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, listOut(l, budgetOut), nil
}

func getBudget(s *server, r *request) (int, any, error) {
	b, err := s.o.Store.Budget(r.Context(), r.tenant, r.PathValue("budget"))
	if err != nil {
		return 0, nil, err
	}
	now := s.o.Now()
	spent, err := cost.Spent(r.Context(), s.o.Store, r.tenant, b, now)
	if err != nil {
		return 0, nil, err
	}
	out := budgetOut(b)
	start, end := cost.MonthBounds(now)
	left := cost.Micros(b.MonthlyMicros) - spent
	hourly := cost.HourlyCap(cost.Micros(b.MonthlyMicros), spent, now)
	out.Month = &BudgetMonth{Start: start, End: end, Spent: spent.String(), SpentMicros: int64(spent), Remaining: left.String(), RemainingMicros: int64(left),
		HourlyCap: hourly.String(), HourlyCapMicros: int64(hourly)}
	return http.StatusOK, out, nil
}

func newBudgetID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return "b-" + hex.EncodeToString(b[:])
}

func createBudget(s *server, r *request) (int, any, error) {
	body, err := decode[BudgetBody](r.Request, s.o.MaxBodyBytes)
	if err != nil {
		return 0, nil, err
	}
	if body.ResourceVersion != 0 {
		return 0, nil, invalid("resourceVersion", "not on create")
	}
	if body.ID == "" {
		body.ID = newBudgetID() // before Update: its fn may run twice
	}
	b, err := budgetIn(body)
	if err != nil {
		return 0, nil, err
	}
	var out store.Budget
	err = s.o.Store.Update(r.Context(), r.tenant, r.actor(), func(tx store.Tx) error {
		var err error
		out, err = tx.CreateBudget(b)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, budgetOut(out), nil
}

func putBudget(s *server, r *request) (int, any, error) {
	id := r.PathValue("budget")
	body, err := decode[BudgetBody](r.Request, s.o.MaxBodyBytes)
	if err != nil {
		return 0, nil, err
	}
	if body.ID == "" {
		body.ID = id
	}
	if body.ID != id {
		return 0, nil, invalid("id", "%q is not the id of the path, %q", clip(body.ID), clip(id))
	}
	b, err := budgetIn(body)
	if err != nil {
		return 0, nil, err
	}
	var out store.Budget
	err = s.o.Store.Update(r.Context(), r.tenant, r.actor(), func(tx store.Tx) error {
		nb := b
		if nb.ResourceVersion == 0 {
			cur, err := tx.Budget(id)
			if err != nil {
				return err
			}
			nb.ResourceVersion = cur.ResourceVersion
		}
		var err error
		out, err = tx.UpdateBudget(nb)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, budgetOut(out), nil
}

func deleteBudget(s *server, r *request) (int, any, error) {
	rv, err := resourceVersionOf(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	err = s.o.Store.Update(r.Context(), r.tenant, r.actor(), func(tx store.Tx) error {
		return tx.DeleteBudget(r.PathValue("budget"), rv)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

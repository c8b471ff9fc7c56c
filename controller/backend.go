package controller

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/controller/backendlink"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

// Backend is the agent's link to the backend (*backendlink.Link). The
// reconciler hands it the inventory, metric values, decisions and
// scaling events, and takes from it the forecast floor and the budget cap
// of each Scaler. Every method is called from several reconciles at once
// and must not block (the link buffers; with the backend away the agent
// decides on its own).
type Backend interface {
	Report(d backendlink.Decision)
	Event(e backendlink.Event)
	Metrics(m backendlink.Metrics)
	// Changed says a Scaler changed (deleted: it is gone); the link
	// sends the inventory, which it lists through the function given to
	// SetInventory.
	Changed(namespace, name string, generation int64, deleted bool)
	SetInventory(f backendlink.InventoryFunc)
	// Advice is what the backend last said about a Scaler, as of now.
	Advice(namespace, name string, now time.Time) backendlink.Advice
	Forget(namespace, name string)
}

var _ Backend = (*backendlink.Link)(nil)

// inventory lists the Scalers (from the manager's cache) for the
// backend.
func (r *Reconciler) inventory(ctx context.Context) ([]backendlink.Scaler, error) {
	var list v1.ScalerList
	if err := r.o.Client.List(ctx, &list); err != nil {
		return nil, fmt.Errorf("list Scalers: %w", err)
	}
	out := make([]backendlink.Scaler, 0, len(list.Items))
	for i := range list.Items {
		s := &list.Items[i]
		if s.DeletionTimestamp != nil {
			continue
		}
		spec, err := json.Marshal(&s.Spec)
		if err != nil {
			return nil, fmt.Errorf("scaler %s/%s: spec: %w", s.Namespace, s.Name, err)
		}
		status, err := json.Marshal(&s.Status)
		if err != nil {
			return nil, fmt.Errorf("scaler %s/%s: status: %w", s.Namespace, s.Name, err)
		}
		bs := backendlink.Scaler{
			Namespace: s.Namespace, Name: s.Name, Generation: s.Generation, SpecJSON: spec, StatusJSON: status,
			CurrentReplicas: s.Status.CurrentReplicas, DesiredReplicas: s.Status.DesiredReplicas,
		}
		if req := r.podRequestsOf(types.NamespacedName{Namespace: s.Namespace, Name: s.Name}, s.UID); req != nil {
			bs.PodRequests = *req
		}
		out = append(out, bs)
	}
	return out, nil
}

// podRequestsOf is the last per-pod requests read for a Scaler (nil: not
// read). It takes r.mu only: a reconcile in progress holds its state's
// lock for its whole run.
func (r *Reconciler) podRequestsOf(key types.NamespacedName, uid types.UID) *backendlink.Requests {
	r.mu.Lock()
	st := r.states[key]
	r.mu.Unlock()
	if st == nil || st.uid != uid {
		return nil
	}
	return st.podRequests.Load()
}

// podRequestsPeriod is how often the requests of a target's pod are read
// again for the backend's inventory.
const podRequestsPeriod = 5 * time.Minute

// readPodRequests reads, at most every podRequestsPeriod, the requests of
// one pod of the target (a list of one pod by the /scale selector: the
// agent's role reads pods, not Deployments or their templates): the sum
// of its containers' CPU, memory and GPU requests. Without a pod or a
// selector nothing is known.
func (r *Reconciler) readPodRequests(ctx context.Context, ns string, st *scalerState, selector labels.Selector, now time.Time) {
	if r.o.Backend == nil || selector == nil || (!st.podReqAt.IsZero() && now.Sub(st.podReqAt) < podRequestsPeriod) {
		return
	}
	var pods corev1.PodList
	if err := r.o.APIReader.List(ctx, &pods, client.InNamespace(ns), client.MatchingLabelsSelector{Selector: selector}, client.Limit(1)); err != nil {
		return // read again at the next sync
	}
	st.podReqAt = now
	if len(pods.Items) == 0 {
		return
	}
	var req backendlink.Requests
	for _, c := range pods.Items[0].Spec.Containers {
		rs := c.Resources.Requests
		if q, ok := rs[corev1.ResourceCPU]; ok {
			req.CPUMillis += q.MilliValue()
		}
		if q, ok := rs[corev1.ResourceMemory]; ok {
			req.MemoryBytes += q.Value()
		}
		if q, ok := rs["nvidia.com/gpu"]; ok {
			req.GPUs += q.Value()
		}
	}
	st.podRequests.Store(&req)
}

// advice is the backend's word on s (zero without a backend).
func (r *Reconciler) advice(s *v1.Scaler, now time.Time) backendlink.Advice {
	if r.o.Backend == nil {
		return backendlink.Advice{}
	}
	return r.o.Backend.Advice(s.Namespace, s.Name, now)
}

// applyBudget gives the engine the backend's budget cap: at most
// a.BudgetMaxReplicas replicas (the engine's Budget in the backend's
// price per replica-hour, or 1 when it gave none: only the count
// matters). Scale-downs and minReplicas are never held by it (the
// engine's rule).
func applyBudget(st *scalerState, a backendlink.Advice) {
	if a.BudgetMaxReplicas <= 0 {
		return
	}
	price := float64(a.PricePerReplicaHourMicros) / 1e6
	if price <= 0 {
		price = 1
	}
	sp := *st.spec
	sp.Budget = &scaling.Budget{MaxCostPerHour: float64(a.BudgetMaxReplicas) * price, PricePerReplicaHour: price}
	st.auto.SetSpec(&sp)
	// Priced now: the reason no longer says the cap is not applied.
	st.pol.cost = false
}

// backendFloorNote says where a backend floor came from.
func backendFloorNote(a backendlink.Advice) string {
	note := fmt.Sprintf("backend forecast %s, confidence %.2f, until %s", decimal(a.Forecast), a.Confidence, a.ExpiresAt.UTC().Format(time.RFC3339))
	if a.Model != "" {
		note += ", model " + a.Model
	}
	if a.Floor <= 0 && a.FloorReason != "" {
		note = "backend: " + a.FloorReason
	}
	return note
}

// budgetNote explains a cap of the budget.
func budgetNote(d *scaling.Decision, a backendlink.Advice) string {
	if !d.HasBudgetCap || d.Rule != scaling.RuleBudgetCap {
		return ""
	}
	note := fmt.Sprintf("capped at %d by the budget (the backend's cap", d.BudgetMaxReplicas)
	if a.PriceTableHash != "" {
		h := a.PriceTableHash
		if len(h) > 12 {
			h = h[:12]
		}
		note += ", price table " + h
	}
	return note + ")"
}

// metricInputs are the triggers' values for the backend.
func metricInputs(st *scalerState, d *scaling.Decision) []backendlink.MetricValue {
	var out []backendlink.MetricValue
	first := 0
	for _, t := range st.triggers {
		for i, m := range t.metrics {
			mv := backendlink.MetricValue{Trigger: t.name, MetricType: t.metricType}
			if len(t.metrics) > 1 && i < len(t.names) {
				mv.Trigger = t.name + "/" + t.names[i]
			}
			if mv.MetricType == "" {
				mv.MetricType = "AverageValue"
			}
			switch m.Target {
			case scaling.UtilizationTarget:
				mv.Target, mv.MetricType = float64(m.TargetUtilization), "Utilization"
			default:
				mv.Target = float64(m.TargetMilli) / 1000
			}
			switch {
			case t.err != nil:
				mv.Error = t.scrub(t.err.Error())
			case !t.healthy:
				mv.Error = t.lastErr
			case t.resource != nil:
				if d != nil && d.MetricsComputed && first+i < len(d.Metrics) && d.Metrics[first+i].Valid {
					r := d.Metrics[first+i]
					if m.Target == scaling.UtilizationTarget {
						mv.Value = float64(r.Utilization)
					} else {
						mv.Value = float64(r.UsageMilli) / 1000
					}
				}
			case i < len(t.values):
				mv.Value = t.values[i]
			}
			out = append(out, mv)
		}
		first += len(t.metrics)
	}
	return out
}

// toBackend reports one decision's metrics, the decision when it differs
// from the last one reported (a steady state is one decision, not one per
// sync; the metric reports carry every sync's values) or scaled, and the
// scaling event of an applied one. The decision id is the Scaler's uid,
// generation and decision time with a digest of the result (two decisions
// at one time, as with a clock of coarse steps, differ by it): the same
// decision resent keeps it, and an agent restarted does not reuse it.
func (r *Reconciler) toBackend(s *v1.Scaler, st *scalerState, d *scaling.Decision, v verdict, dec *v1.Decision, a backendlink.Advice, applied bool, now time.Time) {
	b := r.o.Backend
	if b == nil {
		return
	}
	inputs := metricInputs(st, d)
	b.Metrics(backendlink.Metrics{Namespace: s.Namespace, Name: s.Name, Time: now, Values: inputs})
	if !applied && st.lastReported != nil && !decisionMoved(st.lastReported, dec) {
		return
	}
	st.lastReported = dec
	sum := sha256.Sum256(fmt.Appendf(nil, "%d|%d|%s|%v|%v|%s", v.current, v.desired, v.rule, applied, v.dryRun, v.reason))
	id := fmt.Sprintf("%s-%d-%d-%x", s.UID, s.Generation, now.UnixNano(), sum[:6])
	bd := backendlink.Decision{
		ID: id, Namespace: s.Namespace, Name: s.Name, Time: now, Current: v.current, Desired: v.desired,
		Rule: v.rule, Reason: v.reason, Inputs: inputs, ForecastFloor: d.ForecastFloor, DryRun: v.dryRun, Applied: applied,
	}
	if d.HasBudgetCap {
		bd.BudgetMaxReplicas, bd.PriceTableHash = d.BudgetMaxReplicas, a.PriceTableHash
	}
	b.Report(bd)
	if applied {
		b.Event(backendlink.Event{ID: id, Namespace: s.Namespace, Name: s.Name, Time: now, From: v.current, To: v.desired, Rule: v.rule, Reason: v.reason})
	}
}

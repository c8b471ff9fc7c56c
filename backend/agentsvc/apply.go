package agentsvc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/api"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/audit"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
	agentv1 "github.com/hpa-autoscaler/hpa-autoscaler/proto/agent/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling/scalerspec"
)

// payloadKind names a message's payload (for errors and metrics).
func payloadKind(m *agentv1.AgentMessage) string {
	switch m.GetPayload().(type) {
	case *agentv1.AgentMessage_Auth:
		return "auth"
	case *agentv1.AgentMessage_Status:
		return "status"
	case *agentv1.AgentMessage_Metrics:
		return "metrics"
	case *agentv1.AgentMessage_Result:
		return "result"
	case *agentv1.AgentMessage_Inventory:
		return "inventory"
	case *agentv1.AgentMessage_Event:
		return "event"
	case *agentv1.AgentMessage_Heartbeat:
		return "heartbeat"
	case *agentv1.AgentMessage_ConfigAck:
		return "config_ack"
	}
	return "no payload"
}

// errSeqApplied: the store had the message's seq applied already.
var errSeqApplied = errors.New("seq applied before")

// apply applies one message after auth. An error ends the stream.
func (st *stream) apply(ctx context.Context, m *agentv1.AgentMessage) error {
	if m.GetAck() > 0 {
		st.cs.acked(m.GetAck())
	}
	kind := payloadKind(m)
	st.s.m.messages.WithLabelValues(kind).Inc()
	switch m.GetPayload().(type) {
	case nil:
		return invalid("payload", "required")
	case *agentv1.AgentMessage_Auth:
		return status.Error(codes.FailedPrecondition, "auth: the stream is authenticated already")
	case *agentv1.AgentMessage_Heartbeat:
		return nil
	}
	if m.GetSeq() == 0 {
		return invalid("seq", "required on %s", kind)
	}
	if m.GetSeq() > math.MaxInt64 {
		return invalid("seq", "%d: above 2^63-1", m.GetSeq())
	}
	seq := int64(m.GetSeq())
	if seq <= st.applied {
		// A replay of what was applied: only the ack, again.
		st.s.m.duplicates.Inc()
		st.qmu.Lock()
		st.ackDirty = true
		st.qmu.Unlock()
		st.kick()
		return nil
	}
	if seq > st.applied+1 {
		// The agent shed what is between (metric reports only, by the
		// protocol): it is not waited for.
		st.s.m.gaps.Inc()
	}
	ctx, cancel := context.WithTimeout(ctx, st.s.o.RPCTimeout)
	defer cancel()
	switch p := m.GetPayload().(type) {
	case *agentv1.AgentMessage_Metrics:
		return st.applyMetrics(seq, m, p.Metrics)
	case *agentv1.AgentMessage_Status:
		b, err := protojson.Marshal(p.Status)
		if err != nil {
			return invalid("status", "%v", err)
		}
		invErrs := st.invErrs
		return st.durably(ctx, seq, func(tx store.Tx) error { return tx.SetAgentStatus(st.cluster, b, invErrs) }, func() { st.statusJSON = b })
	case *agentv1.AgentMessage_Inventory:
		return st.applyInventory(ctx, seq, p.Inventory)
	case *agentv1.AgentMessage_Result:
		return st.applyResult(ctx, seq, p.Result)
	case *agentv1.AgentMessage_Event:
		return st.applyEvent(ctx, seq, p.Event)
	case *agentv1.AgentMessage_ConfigAck:
		c := p.ConfigAck
		if len(c.GetError()) > 4096 {
			return invalid("config_ack.error", "longer than 4096 characters")
		}
		return st.durably(ctx, seq, func(tx store.Tx) error { return tx.AckAgentConfig(st.cluster, c.GetVersion(), c.GetError()) }, nil)
	}
	return invalid("payload", "unknown")
}

// durably applies fn and the seq in one transaction; after the commit,
// done runs and the seq is acknowledged.
func (st *stream) durably(ctx context.Context, seq int64, fn func(tx store.Tx) error, done func()) error {
	err := st.s.o.Store.Update(ctx, st.tenant, st.actor, func(tx store.Tx) error {
		if err := tx.AdvanceAgentSeq(st.cluster, seq); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return errSeqApplied
			}
			return err
		}
		return fn(tx)
	})
	switch {
	case errors.Is(err, errSeqApplied):
		// Applied by a stream before this one (a replay across a
		// reconnect): nothing again.
		st.s.m.duplicates.Inc()
	case err != nil:
		return grpcErr("apply seq "+strconv.FormatInt(seq, 10), err)
	case done != nil:
		done()
	}
	st.applied, st.durable = seq, seq
	st.setAck(uint64(seq))
	return nil
}

// known reports whether the inventory has the Scaler, asking for a
// resync once when not.
func (st *stream) known(ns, name string) (ScalerRef, bool) {
	ref := ScalerRef{Tenant: st.tenant, Cluster: st.cluster, Namespace: ns, Name: name}
	st.cs.mu.Lock()
	_, ok := st.cs.scalers[ref.StoreName()]
	st.cs.mu.Unlock()
	if !ok {
		st.askResync(fmt.Sprintf("scaler %s/%s is not in the inventory", clip(ns), clip(name)))
	}
	return ref, ok
}

const maxMetricsPerReport = 1000

func (st *stream) applyMetrics(seq int64, m *agentv1.AgentMessage, r *agentv1.MetricReport) error {
	if err := checkRef("metrics.namespace", "metrics.scaler_name", r.GetNamespace(), r.GetScalerName()); err != nil {
		return err
	}
	if len(r.GetMetrics()) > maxMetricsPerReport {
		return invalid("metrics.metrics", "%d values: at most %d", len(r.GetMetrics()), maxMetricsPerReport)
	}
	at := st.s.o.Clock.Now()
	switch {
	case r.GetTimestamp().IsValid():
		at = r.GetTimestamp().AsTime()
	case m.GetTimestamp().IsValid():
		at = m.GetTimestamp().AsTime()
	}
	ref, _ := st.known(r.GetNamespace(), r.GetScalerName())
	st.s.observe(observation{ref: ref, at: at, metrics: r.GetMetrics(), after: func() { st.markDirty(ref) }})
	// Applied in memory: the seq is made durable by the next flush or
	// the next durable message, and acknowledged then.
	st.applied = seq
	return nil
}

// decisionPayload is a decision in the audit log: floats as strings
// (canonical JSON has integers only).
type decisionPayload struct {
	ID                string         `json:"id"`
	Cluster           string         `json:"cluster"`
	Namespace         string         `json:"namespace"`
	Scaler            string         `json:"scaler"`
	Time              string         `json:"time"`
	CurrentReplicas   int32          `json:"currentReplicas"`
	DesiredReplicas   int32          `json:"desiredReplicas"`
	Rule              string         `json:"rule,omitempty"`
	Reason            string         `json:"reason,omitempty"`
	Inputs            []inputPayload `json:"inputs"`
	ForecastFloor     int32          `json:"forecastFloor,omitempty"`
	BudgetMaxReplicas int32          `json:"budgetMaxReplicas,omitempty"`
	PriceTableHash    string         `json:"priceTableHash,omitempty"`
	DryRun            bool           `json:"dryRun,omitempty"`
	Applied           bool           `json:"applied"`
}

type inputPayload struct {
	Trigger    string `json:"trigger"`
	Value      string `json:"value"`
	Target     string `json:"target,omitempty"`
	MetricType string `json:"metricType,omitempty"`
	Error      string `json:"error,omitempty"`
}

func fmtFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func checkResult(r *agentv1.ScalingResult) error {
	switch {
	case r.GetDecisionId() == "":
		return invalid("result.decision_id", "required")
	case len(r.GetDecisionId()) > 253:
		return invalid("result.decision_id", "longer than 253 characters")
	case !r.GetTime().IsValid():
		return invalid("result.time", "required")
	case r.GetCurrentReplicas() < 0:
		return invalid("result.current_replicas", "%d: want at least 0", r.GetCurrentReplicas())
	case r.GetDesiredReplicas() < 0:
		return invalid("result.desired_replicas", "%d: want at least 0", r.GetDesiredReplicas())
	case len(r.GetRule()) > 256:
		return invalid("result.rule", "longer than 256 characters")
	case len(r.GetReason()) > 4096:
		return invalid("result.reason", "longer than 4096 characters")
	case len(r.GetInputs()) > maxMetricsPerReport:
		return invalid("result.inputs", "%d inputs: at most %d", len(r.GetInputs()), maxMetricsPerReport)
	case len(r.GetPriceTableHash()) > 128:
		return invalid("result.price_table_hash", "longer than 128 characters")
	}
	for i, in := range r.GetInputs() {
		if len(in.GetTrigger()) > 253 || len(in.GetMetricType()) > 64 || len(in.GetError()) > 1024 {
			return invalid(fmt.Sprintf("result.inputs[%d]", i), "trigger, metric_type or error too long")
		}
	}
	return checkRef("result.namespace", "result.scaler_name", r.GetNamespace(), r.GetScalerName())
}

func (st *stream) applyResult(ctx context.Context, seq int64, r *agentv1.ScalingResult) error {
	if err := checkResult(r); err != nil {
		return err
	}
	st.known(r.GetNamespace(), r.GetScalerName())
	p := decisionPayload{ID: r.GetDecisionId(), Cluster: st.cluster, Namespace: r.GetNamespace(), Scaler: r.GetNamespace() + "." + r.GetScalerName(),
		Time: r.GetTime().AsTime().UTC().Format(audit.TimeLayout), CurrentReplicas: r.GetCurrentReplicas(), DesiredReplicas: r.GetDesiredReplicas(),
		Rule: r.GetRule(), Reason: r.GetReason(), Inputs: []inputPayload{}, ForecastFloor: r.GetForecastFloor(),
		BudgetMaxReplicas: r.GetBudgetMaxReplicas(), PriceTableHash: r.GetPriceTableHash(), DryRun: r.GetDryRun(), Applied: r.GetApplied()}
	for _, in := range r.GetInputs() {
		ip := inputPayload{Trigger: in.GetTrigger(), Value: fmtFloat(in.GetValue()), MetricType: in.GetMetricType(), Error: in.GetError()}
		if in.GetTarget() != 0 {
			ip.Target = fmtFloat(in.GetTarget())
		}
		p.Inputs = append(p.Inputs, ip)
	}
	d := store.Decision{ID: r.GetDecisionId(), Cluster: st.cluster, Scaler: p.Scaler}
	return st.durably(ctx, seq, func(tx store.Tx) error {
		_, _, err := tx.RecordDecision(d, p)
		return err
	}, nil)
}

func (st *stream) applyEvent(ctx context.Context, seq int64, e *agentv1.ScalingEvent) error {
	if err := checkEvent("event.", e); err != nil {
		return err
	}
	st.known(e.GetNamespace(), e.GetScalerName())
	want := storeEvent(e)
	var other string
	err := st.durably(ctx, seq, func(tx store.Tx) error {
		ev, created, err := tx.RecordEvent(want)
		other = ""
		if err == nil && !created && ev.Scaler != want.Scaler {
			other = ev.Scaler
		}
		return err
	}, nil)
	if other != "" {
		// A client's mistake, not a resend; the stream has no answer per
		// message, so it is logged.
		st.s.log.Warn("agent: event id already recorded for another scaler", "tenant", st.tenant, "cluster", st.cluster, "event", clip(want.ID), "scaler", clip(want.Scaler))
	}
	return err
}

// invItem is one Scaler of an inventory, checked.
type invItem struct {
	ref    ScalerRef
	info   *agentv1.ScalerInfo
	name   string
	spec   v1.ScalerSpec
	status *v1.ScalerStatus
	err    string
}

// decodeStrict decodes JSON as the REST API does: unknown fields and
// trailing data refused.
func decodeStrict(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}

// checkInventory checks each Scaler: its names, its spec (api/v1, as
// the REST API checks one: strict JSON, then scalerspec.Convert) and its
// status. A refused Scaler has err set.
func (st *stream) checkInventory(inv *agentv1.Inventory) []invItem {
	items := make([]invItem, 0, len(inv.GetScalers()))
	seen := map[string]bool{}
	for i, si := range inv.GetScalers() {
		it := invItem{ref: ScalerRef{Tenant: st.tenant, Cluster: st.cluster, Namespace: si.GetNamespace(), Name: si.GetName()}, info: si}
		it.name = it.ref.StoreName()
		field := fmt.Sprintf("inventory.scalers[%d]", i)
		refuse := func(format string, args ...any) {
			it.err = fmt.Sprintf("%s (%s/%s): %s", field, clip(si.GetNamespace()), clip(si.GetName()), fmt.Sprintf(format, args...))
		}
		if err := checkRef(field+".namespace", field+".name", si.GetNamespace(), si.GetName()); err != nil {
			it.err = status.Convert(err).Message()
		} else if seen[it.name] {
			refuse("listed twice")
		} else if len(si.GetSpecJson()) == 0 {
			refuse("spec_json: required")
		} else if err := decodeStrict(si.GetSpecJson(), &it.spec); err != nil {
			refuse("spec_json: %v", err)
		} else if _, err := scalerspec.Convert(&it.spec, scalerspec.Options{}); err != nil {
			refuse("spec_json: %s", strings.ReplaceAll(err.Error(), "\n", "; "))
		} else if err := api.InlineSecret(&it.spec); err != nil {
			// Secrets are never stored: the Scaler stays the agent's.
			refuse("spec_json: %v", err)
		} else if len(si.GetStatusJson()) > 0 {
			var s v1.ScalerStatus
			if err := decodeStrict(si.GetStatusJson(), &s); err != nil {
				refuse("status_json: %v", err)
			} else {
				it.status = &s
			}
		}
		seen[it.name] = true
		items = append(items, it)
	}
	return items
}

func sameJSON(a, b any) bool {
	x, err1 := json.Marshal(a)
	y, err2 := json.Marshal(b)
	return err1 == nil && err2 == nil && bytes.Equal(x, y)
}

func (st *stream) applyInventory(ctx context.Context, seq int64, inv *agentv1.Inventory) error {
	if n := len(inv.GetScalers()); n > st.s.o.MaxInventory {
		return invalid("inventory.scalers", "%d scalers: at most %d", n, st.s.o.MaxInventory)
	}
	items := st.checkInventory(inv)
	var errs []string
	var kept map[string]ScalerRef
	statusJSON := st.statusJSON
	return st.durably(ctx, seq, func(tx store.Tx) error {
		errs, kept = nil, map[string]ScalerRef{}
		existing := map[string]store.Scaler{}
		list, err := tx.ClusterScalers(st.cluster)
		if err != nil {
			return err
		}
		for _, sc := range list {
			existing[sc.Name] = sc
		}
		listed := map[string]bool{}
		for _, it := range items {
			listed[it.name] = true
			if it.err != "" {
				errs = append(errs, it.err)
				if _, ok := existing[it.name]; ok {
					kept[it.name] = it.ref // the stored spec stays
				}
				continue
			}
			refuse := func(err error) error {
				if errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrConflict) {
					errs = append(errs, fmt.Sprintf("%s/%s: %v", clip(it.ref.Namespace), clip(it.ref.Name), err))
					return nil
				}
				return err
			}
			ex, ok := existing[it.name]
			var cur store.Scaler
			switch {
			case ok && (ex.Namespace != it.ref.Namespace || !sameJSON(ex.Spec, it.spec)):
				cur, err = tx.UpdateScaler(store.Scaler{Name: it.name, Namespace: it.ref.Namespace, Cluster: st.cluster, Spec: it.spec, ResourceVersion: ex.ResourceVersion})
			case ok:
				cur = ex
			default:
				if tx.HasScaler(it.name) == nil {
					errs = append(errs, fmt.Sprintf("%s/%s: the scaler %s belongs to another cluster of the tenant", clip(it.ref.Namespace), clip(it.ref.Name), clip(it.name)))
					continue
				}
				cur, err = tx.CreateScaler(store.Scaler{Name: it.name, Namespace: it.ref.Namespace, Cluster: st.cluster, Spec: it.spec})
			}
			if err != nil {
				if err := refuse(err); err != nil {
					return err
				}
				continue
			}
			kept[it.name] = it.ref
			if it.status != nil && !sameJSON(cur.Status, *it.status) {
				if _, err := tx.UpdateScalerStatus(it.name, cur.ResourceVersion, *it.status); err != nil {
					if err := refuse(err); err != nil {
						return err
					}
				}
			}
		}
		// Full inventory: a Scaler of the cluster not in it was deleted.
		for name := range existing {
			if !listed[name] {
				if err := tx.DeleteScaler(name, 0); err != nil {
					return err
				}
			}
		}
		return tx.SetAgentStatus(st.cluster, statusJSON, errs)
	}, func() {
		st.invErrs = errs
		st.cs.mu.Lock()
		st.cs.scalers = kept
		st.cs.mu.Unlock()
		if len(errs) > 0 {
			st.s.m.refused.Add(float64(len(errs)))
			st.s.log.Warn("agent: inventory scalers refused", "tenant", st.tenant, "cluster", st.cluster, "refused", len(errs), "first", errs[0])
		}
		for _, ref := range kept {
			st.markDirty(ref)
		}
		if w := st.s.o.Workloads; w != nil {
			now := st.s.o.Clock.Now()
			for _, it := range items {
				if _, ok := kept[it.name]; ok && it.err == "" {
					r := it.info.GetPodRequests()
					w.ObserveWorkload(it.ref, now, Workload{CurrentReplicas: it.info.GetCurrentReplicas(), DesiredReplicas: it.info.GetDesiredReplicas(),
						CPUMillis: r.GetCpuMillis(), MemoryBytes: r.GetMemoryBytes(), GPUs: r.GetGpus()})
				}
			}
		}
	})
}

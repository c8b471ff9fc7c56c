package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/spf13/pflag"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/history"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
	"github.com/hpa-autoscaler/hpa-autoscaler/externalscaler"
)

// kedaHistoryOpts say whose history the external scaler's predictive
// triggers are: KEDA's calls carry no tenant or cluster, so one serve's
// external scaler records into one tenant and cluster.
type kedaHistoryOpts struct {
	tenant  string
	cluster string
}

// defaultKEDATenant is --keda-tenant's default: the tenant serve's first
// start makes.
const defaultKEDATenant = "default"

func (o *kedaHistoryOpts) addFlags(f *pflag.FlagSet) {
	f.StringVar(&o.tenant, "keda-tenant", defaultKEDATenant, "tenant whose metric history the external scaler's predictive triggers (predictive: \"true\") are recorded in and warm-started from")
	f.StringVar(&o.cluster, "keda-cluster", "", "cluster id of the external scaler's series in that history (empty: none, as for a KEDA trigger without a cluster)")
}

func (o *kedaHistoryOpts) validate() []error {
	if err := store.TenantID(o.tenant).Validate(); err != nil {
		return []error{fmt.Errorf("--keda-tenant: %w", err)}
	}
	return nil
}

// kedaHistory is the external scaler's HistorySink and HistorySource over
// the backend's history. The external scaler is made before the backend
// opens, so the history is set once it has (until then, and without a
// backend, values are not recorded and warm starts find nothing).
type kedaHistory struct {
	tenant  store.TenantID
	cluster string
	hs      atomic.Pointer[history.Service]
	st      atomic.Value // store.HistoryStore
}

var (
	_ externalscaler.HistorySink   = (*kedaHistory)(nil)
	_ externalscaler.HistorySource = (*kedaHistory)(nil)
)

func newKEDAHistory(o *kedaHistoryOpts) *kedaHistory {
	return &kedaHistory{tenant: store.TenantID(o.tenant), cluster: o.cluster}
}

// set makes hs (and its store) the history, after checking that the
// tenant exists (its series could not be written otherwise). A database
// without the default tenant (one whose first tokens were made by hand)
// keeps the predictive triggers' history in memory, with a warning; a
// tenant named by the flag must exist.
func (k *kedaHistory) set(ctx context.Context, hs *history.Service, s store.Store, logger *slog.Logger) error {
	if hs == nil {
		return nil
	}
	if _, err := s.Tenant(ctx, k.tenant); err != nil {
		if !errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("--keda-tenant %q: %w", k.tenant, err)
		}
		if k.tenant != defaultKEDATenant {
			return usagef("--keda-tenant %q: no such tenant (tenant create it, or name one that exists)", k.tenant)
		}
		logger.Warn("the external scaler's predictive triggers keep their history in memory only: there is no tenant " + defaultKEDATenant + " (--keda-tenant names the tenant to record them in)")
		return nil
	}
	k.st.Store(store.HistoryStore(s))
	k.hs.Store(hs)
	return nil
}

// key is the history's series of an external-scaler key: the
// ScaledObject is the scaler, under the store name <namespace>.<name>
// that the agents' Scalers have too, and its metric the trigger.
func (k *kedaHistory) key(h externalscaler.HistoryKey) store.SeriesKey {
	return store.SeriesKey{Cluster: k.cluster, Namespace: h.Namespace, Scaler: h.Namespace + "." + h.ScaledObject, Trigger: h.Metric}
}

// Observe records a fetched value (history.Service.Observe never blocks).
func (k *kedaHistory) Observe(h externalscaler.HistoryKey, t time.Time, v float64) {
	hs := k.hs.Load()
	if hs == nil {
		return
	}
	sk := k.key(h)
	hs.Observe(history.Key{Tenant: k.tenant, Cluster: sk.Cluster, Namespace: sk.Namespace, Scaler: sk.Scaler, Trigger: sk.Trigger}, t, v)
}

// History reads the stored steps of the series before until at the
// history's own step (downsampled older rows are left out: a warm start
// wants the resolution the live values come at), oldest first.
func (k *kedaHistory) History(ctx context.Context, h externalscaler.HistoryKey, until time.Time) ([]externalscaler.HistorySample, error) {
	hs := k.hs.Load()
	if hs == nil {
		return nil, nil
	}
	st, _ := k.st.Load().(store.HistoryStore)
	step := hs.Options().Step
	from := until.Add(-time.Duration(externalscaler.MaxWarmStartSamples) * step)
	pts, err := st.ReadHistory(ctx, k.tenant, k.key(h), from, until)
	if err != nil {
		return nil, err
	}
	out := make([]externalscaler.HistorySample, 0, len(pts))
	for _, p := range pts {
		if p.Step != step {
			continue
		}
		out = append(out, externalscaler.HistorySample{Time: p.Time, Value: p.Value})
	}
	return out, nil
}

package main

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/agentsvc"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/history"
)

// agentsvcOpts are serve's flags of the AgentService (docs/agentservice.md).
type agentsvcOpts struct {
	heartbeat         time.Duration
	authTimeout       time.Duration
	requireClientCert bool
}

func (o *agentsvcOpts) addFlags(f *pflag.FlagSet) {
	f.DurationVar(&o.heartbeat, "agent-heartbeat-interval", 10*time.Second, "heartbeat interval of the agents' Connect streams (sent to each agent); an agent silent for 3 intervals is marked offline")
	f.DurationVar(&o.authTimeout, "agent-auth-timeout", 10*time.Second, "time an agent has to send its AuthRequest after opening a Connect stream")
	f.BoolVar(&o.requireClientCert, "agent-require-client-cert", false, "refuse agents without a verified client certificate naming their cluster (needs --tls-client-ca)")
}

func (o *agentsvcOpts) validate() []error {
	var errs []error
	if o.heartbeat < time.Second {
		errs = append(errs, fmt.Errorf("--agent-heartbeat-interval %v: expected at least 1s", o.heartbeat))
	}
	if o.authTimeout < 100*time.Millisecond {
		errs = append(errs, fmt.Errorf("--agent-auth-timeout %v: expected at least 100ms", o.authTimeout))
	}
	return errs
}

// historyObserver gives the AgentService's metric reports to the
// history (agentsvc.Observer over history.Service).
type historyObserver struct{ h *history.Service }

func (o historyObserver) Observe(k agentsvc.SeriesKey, t time.Time, v float64) {
	o.h.Observe(history.Key{Tenant: k.Tenant, Cluster: k.Cluster, Namespace: k.Namespace, Scaler: k.Name, Trigger: k.Trigger}, t, v)
}

// startAgentService makes the AgentService of the backend: the store and
// its tokens, the history as Observer. The Recommender and Budgets are
// wired where they exist (see docs/agentservice.md).
func startAgentService(b *backend, o *agentsvcOpts, logger *slog.Logger, reg prometheus.Registerer) (*agentsvc.Service, error) {
	if errs := o.validate(); len(errs) > 0 {
		return nil, &usageError{err: errors.Join(errs...)}
	}
	so := agentsvc.Options{
		Store:             b.store,
		Auth:              &auth.Authenticator{Store: b.store, Logger: logger, CacheTTL: time.Second},
		Logger:            logger.With("component", "agentsvc"),
		Registerer:        reg,
		Version:           version,
		HeartbeatInterval: o.heartbeat,
		AuthTimeout:       o.authTimeout,
		RequireClientCert: o.requireClientCert,
	}
	if b.history != nil {
		so.Observer = historyObserver{b.history}
	}
	s, err := agentsvc.New(so)
	if err != nil {
		return nil, fmt.Errorf("agent service: %w", err)
	}
	return s, nil
}

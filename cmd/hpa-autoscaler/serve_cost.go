package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/api"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/cost"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// costOpts are serve's cost flags and what run hands the backend.
type costOpts struct {
	pricingFile string
	retention   time.Duration
	// pricing is the table in effect (load); nil: the backend runs with
	// the built-in table and the analysis unconfigured (tests).
	pricing *pricing
	// registerer gets the cost gauges (serve's registry).
	registerer prometheus.Registerer
}

func (o *costOpts) addFlags(f *pflag.FlagSet) {
	f.DurationVar(&o.retention, "cost-retention", cost.DefaultRetention, "how long the per-step cost samples are kept (-1s: for ever); the cost analysis and monthly budgets read them")
	f.StringVar(&o.pricingFile, "pricing", "", "price table (YAML, docs/cost.md): node pools, on-demand and spot prices, discounts; default OpenCost's default prices; re-read on POST /api/v1/config/reload and SIGHUP")
}

// load reads --pricing (a bad file is a usage error naming the key).
func (o *costOpts) load(logger *slog.Logger) error {
	p, err := newPricing(o.pricingFile)
	if err != nil {
		return usagef("--pricing: %v", err)
	}
	o.pricing = p
	t := p.Table()
	logger.Info("cost: price table", "source", t.Source(), "currency", t.Currency(), "pools", len(t.Pools()), "hash", t.Hash())
	return nil
}

// source is the API's CostSource (nil without a table loaded).
func (o *costOpts) source() api.CostSource {
	if o.pricing == nil {
		return nil
	}
	return o.pricing
}

// pricing is the price table in effect: --pricing or the built-in one,
// swapped whole by a reload (readers see the old or the new table).
type pricing struct {
	path string
	cur  atomic.Pointer[cost.Table]
}

func newPricing(path string) (*pricing, error) {
	p := &pricing{path: path}
	t := cost.DefaultTable()
	if path != "" {
		var err error
		if t, err = cost.ReadTable(path); err != nil {
			return nil, err
		}
	}
	p.cur.Store(t)
	return p, nil
}

// Table is the table in effect.
func (p *pricing) Table() *cost.Table { return p.cur.Load() }

// Currency implements api.CostSource.
func (p *pricing) Currency() string { return p.Table().Currency() }

// PriceTableHash implements api.CostSource.
func (p *pricing) PriceTableHash() string { return p.Table().Hash() }

// costRuntime is the backend's cost part: the Recorder (the wiring feeds
// it every workload's replicas and requests) and the Capper (budget caps
// per Scaler), over the store and the table in effect.
type costRuntime struct {
	Recorder *cost.Recorder
	Capper   *cost.Capper
	// Agents is the AgentService's WorkloadObserver and Budgets
	// (agentsvc.Options.Workloads and .Budgets).
	Agents *costAgents
	done   chan struct{}
}

// start starts the Recorder's loop until ctx ends.
func (o *costOpts) start(ctx context.Context, s store.Store, logger *slog.Logger) (*costRuntime, error) {
	table := cost.DefaultTable
	if o.pricing != nil {
		table = o.pricing.Table
	}
	retention := o.retention
	if retention == 0 {
		retention = cost.DefaultRetention // tests that set no flags
	}
	rec, err := cost.NewRecorder(cost.RecorderOptions{Store: s, Prices: table, Registerer: o.registerer, Logger: logger, Retention: retention})
	if err != nil {
		return nil, err
	}
	rt := &costRuntime{Recorder: rec, Capper: &cost.Capper{Store: s, Prices: table, Rates: rec}, done: make(chan struct{})}
	rt.Agents = newCostAgents(rt, s, table, logger)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		rt.Agents.Run(ctx)
	}()
	go func() {
		defer wg.Done()
		rec.Run(ctx)
	}()
	go func() {
		wg.Wait()
		close(rt.done)
	}()
	return rt, nil
}

// wait waits for the Recorder's last write (after ctx ended).
func (rt *costRuntime) wait() {
	if rt != nil {
		<-rt.done
	}
}

// costConfigSource is serve's configuration source with the price table:
// a reload re-reads --pricing too, and applies it with the file's keys or
// not at all (a bad price table, or a bad --config, changes nothing).
type costConfigSource struct {
	*serveConfigSource
	pricing *pricing
	mu      sync.Mutex // one reload at a time
}

// Reload implements api.ConfigSource.
func (c *costConfigSource) Reload(ctx context.Context) (api.ReloadResult, error) {
	if c.pricing == nil || c.pricing.path == "" {
		return c.serveConfigSource.Reload(ctx)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	next, err := cost.ReadTable(c.pricing.path)
	if err != nil {
		c.logger.Warn("configuration not reloaded; nothing changed", "pricing", c.pricing.path, "err", err)
		return api.ReloadResult{}, &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalid, Field: "pricing", Message: fmt.Sprintf("--pricing %v", err)}
	}
	var res api.ReloadResult
	if c.path != "" {
		// Without --config only the price table reloads.
		if res, err = c.serveConfigSource.Reload(ctx); err != nil {
			return res, err
		}
	}
	if res.Applied == nil {
		res.Applied = []string{}
	}
	if res.RestartRequired == nil {
		res.RestartRequired = []string{}
	}
	if old := c.pricing.Table(); old.Hash() != next.Hash() {
		c.pricing.cur.Store(next)
		res.Applied = append(res.Applied, "pricing")
		c.logger.Info("cost: price table reloaded", "pricing", c.pricing.path, "hash", next.Hash(), "previous", old.Hash())
	}
	return res, nil
}

// shownPricing is the price table in GET /api/v1/config.
type shownPricing struct {
	// File is --pricing ("": the built-in table).
	File     string `json:"file"`
	Source   string `json:"source"`
	Currency string `json:"currency"`
	Hash     string `json:"hash"`
	Pools    int    `json:"pools"`
}

// Current implements api.ConfigSource: the configuration and the price
// table in effect.
func (c *costConfigSource) Current() any {
	inner := c.serveConfigSource.Current()
	if c.pricing == nil {
		return inner
	}
	t := c.pricing.Table()
	return struct {
		shownConfig
		Pricing shownPricing `json:"pricing"`
	}{inner.(shownConfig), shownPricing{File: c.pricing.path, Source: t.Source(), Currency: t.Currency(), Hash: t.Hash(), Pools: len(t.Pools())}}
}

package main

import (
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	goredis "github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/hpa-autoscaler/hpa-autoscaler/controller"
	"github.com/hpa-autoscaler/hpa-autoscaler/controller/resource"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/redis"
)

type agentOpts struct {
	config               string
	kubeconfig           string
	namespace            string
	syncPeriod           time.Duration
	kubeQPS              float64
	kubeBurst            int
	metricsAddr          string
	healthAddr           string
	leaderElect          bool
	leaderElectNamespace string
	dryRun               bool
	sourceTimeout        time.Duration
	maxSourceTimeout     time.Duration
	workers              int
	maxScaleUpPercent    int32
	maxScaleDownPercent  int32
	respectPDBs          bool
	pdbMinAvailable      int32
	maxSourceConnections int
	maxListItems         int
	shutdownTimeout      time.Duration
	leaseDuration        time.Duration
	renewDeadline        time.Duration
	retryPeriod          time.Duration
	backend              agentBackendOpts
}

func newAgentCmd(g *globalOpts) *cobra.Command { return newAgentCmdWith(g, &agentOpts{}) }

// newAgentCmdWith is newAgentCmd with the options it fills (tests read
// them).
func newAgentCmdWith(g *globalOpts, o *agentOpts) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the in-cluster agent that reconciles Scaler objects",
		Long: `Run the in-cluster agent: it reconciles every Scaler (autoscaling.hpa-agent.io/v1)
every --sync-period and on change, measures its triggers with the scalers
serve uses, decides with the Kubernetes HPA algorithm and our additions,
patches the target's /scale, and explains each decision in status and
Events. See docs/agent.md.

--config reads the design's agent configuration (YAML under agent:);
flags and HPA_<FLAG> environment variables (dashes become underscores:
HPA_SYNC_PERIOD, HPA_LEADER_ELECT, ...) override it.`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("agent takes no arguments, got %q", args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd, g) },
	}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "agent configuration file (the design's YAML under agent:); flags and HPA_* variables override it")
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file (default: the in-cluster service account, then $KUBECONFIG or ~/.kube/config)")
	f.StringVar(&o.namespace, "namespace", "", "reconcile the Scalers of this namespace only (default: every namespace)")
	f.DurationVar(&o.syncPeriod, "sync-period", controller.DefaultSyncPeriod, "reconcile each Scaler this often (and on every change)")
	f.Float64Var(&o.kubeQPS, "kube-api-qps", 100, "requests per second to the Kubernetes API (client-go's own default, 5, holds 100 Scalers at about 20 s per pass)")
	f.IntVar(&o.kubeBurst, "kube-api-burst", 200, "burst of requests to the Kubernetes API above --kube-api-qps")
	f.StringVar(&o.metricsAddr, "metrics-addr", ":9092", `host:port of /metrics ("0" or "" turns it off)`)
	f.StringVar(&o.healthAddr, "health-addr", ":8081", `host:port of /healthz and /readyz ("0" or "" turns them off)`)
	f.BoolVar(&o.leaderElect, "leader-elect", false, "elect a leader through a Lease, so that only one of several agent replicas acts")
	f.StringVar(&o.leaderElectNamespace, "leader-elect-namespace", "", "namespace of the Lease (default: the agent's own, from its service account)")
	f.BoolVar(&o.dryRun, "dry-run", false, "compute and report every decision, never patch a target")
	f.DurationVar(&o.sourceTimeout, "source-timeout", scalers.DefaultSourceTimeout, "bound of a call to a source when the trigger sets no timeout of its own")
	f.DurationVar(&o.maxSourceTimeout, "max-source-timeout", scalers.DefaultMaxSourceTimeout, "cap on a timeout a trigger's metadata sets")
	f.IntVar(&o.workers, "workers", 4, "Scalers reconciled at once")
	f.Int32Var(&o.maxScaleUpPercent, "max-scale-up-percent", 0, "cap of one step up, percent of the current count, for Scalers that set none (0: no cap)")
	f.Int32Var(&o.maxScaleDownPercent, "max-scale-down-percent", 0, "cap of one step down, percent of the current count, for Scalers that set none (0: no cap)")
	f.BoolVar(&o.respectPDBs, "respect-pdbs", false, "never scale any target below what its PodDisruptionBudgets require (as every Scaler's enablePDBChecks)")
	f.Int32Var(&o.pdbMinAvailable, "pdb-min-available", 0, "with the PDB floor on, never scale a target below this count (0: none)")
	f.IntVar(&o.maxSourceConnections, "max-source-connections", defaultMaxSourceConnections, "most shared source clients (distinct Redis connection settings) open at once")
	f.IntVar(&o.maxListItems, "max-list-items", scalers.DefaultMaxListItems, "most items of a list in metadata")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGTERM, time given to reconciles in progress")
	f.DurationVar(&o.leaseDuration, "leader-elect-lease-duration", 15*time.Second, "how long a Lease holds without renewal")
	f.DurationVar(&o.renewDeadline, "leader-elect-renew-deadline", 10*time.Second, "how long the leader tries to renew before it stands down")
	f.DurationVar(&o.retryPeriod, "leader-elect-retry-period", 2*time.Second, "how often candidates try to take the Lease")
	o.backend.addFlags(f)
	return cmd
}

// applyConfigFile sets every flag the user did not give (on the command
// line or through HPA_*) from the file.
func (o *agentOpts) applyConfigFile(cmd *cobra.Command) error {
	if o.config == "" {
		return nil
	}
	c, err := readAgentConfig(o.config)
	if err != nil {
		return usagef("--config %s: %v", o.config, err)
	}
	var errs []error
	set := func(flag, value string) {
		if cmd.Flags().Changed(flag) {
			return
		}
		if err := cmd.Flags().Set(flag, value); err != nil {
			errs = append(errs, fmt.Errorf("--config %s: %s: %v", o.config, flag, err))
		}
	}
	if k := c.Kubernetes.Config; k != "" && k != "in-cluster" {
		set("kubeconfig", k)
	}
	m := c.Metrics
	if m.Interval != nil {
		set("sync-period", m.Interval.String())
	}
	if m.Timeout != nil {
		set("source-timeout", m.Timeout.String())
	}
	switch {
	case m.Enabled != nil && !*m.Enabled:
		set("metrics-addr", "0")
	case m.Port != nil:
		set("metrics-addr", ":"+strconv.Itoa(*m.Port))
	}
	s := c.Safety
	if s.DryRun != nil {
		set("dry-run", strconv.FormatBool(*s.DryRun))
	}
	if s.MaxScaleUpPercent != nil {
		set("max-scale-up-percent", strconv.Itoa(int(*s.MaxScaleUpPercent)))
	}
	if s.MaxScaleDownPercent != nil {
		set("max-scale-down-percent", strconv.Itoa(int(*s.MaxScaleDownPercent)))
	}
	if s.PDB.RespectPDBs != nil {
		set("respect-pdbs", strconv.FormatBool(*s.PDB.RespectPDBs))
	}
	if s.PDB.MinAvailable != nil {
		set("pdb-min-available", strconv.Itoa(int(*s.PDB.MinAvailable)))
	}
	if w := c.Performance.WorkerThreads; w != nil {
		set("workers", strconv.Itoa(*w))
	}
	if l := c.Logging.Level; l != "" {
		set("log-level", l)
	}
	if f, _ := logFormatOf(c.Logging.Format); f != "" {
		set("log-format", f)
	}
	o.backend.applyConfig(c, set)
	if err := errors.Join(errs...); err != nil {
		return &usageError{err: err}
	}
	return nil
}

func (o *agentOpts) validate() error {
	var errs []error
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"--sync-period", o.syncPeriod}, {"--source-timeout", o.sourceTimeout}, {"--max-source-timeout", o.maxSourceTimeout},
		{"--shutdown-timeout", o.shutdownTimeout}, {"--leader-elect-lease-duration", o.leaseDuration},
		{"--leader-elect-renew-deadline", o.renewDeadline}, {"--leader-elect-retry-period", o.retryPeriod},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s %v: must be > 0", d.flag, d.v))
		}
	}
	if o.kubeQPS <= 0 {
		errs = append(errs, fmt.Errorf("--kube-api-qps %v: must be > 0", o.kubeQPS))
	}
	if o.kubeBurst < 1 {
		errs = append(errs, fmt.Errorf("--kube-api-burst %d: must be at least 1", o.kubeBurst))
	}
	if o.sourceTimeout > 0 && o.maxSourceTimeout > 0 && o.sourceTimeout > o.maxSourceTimeout {
		errs = append(errs, fmt.Errorf("--source-timeout %v: more than --max-source-timeout %v", o.sourceTimeout, o.maxSourceTimeout))
	}
	if o.renewDeadline > 0 && o.leaseDuration > 0 && o.renewDeadline >= o.leaseDuration {
		errs = append(errs, fmt.Errorf("--leader-elect-renew-deadline %v: must be less than --leader-elect-lease-duration %v", o.renewDeadline, o.leaseDuration))
	}
	for _, a := range []struct{ flag, v string }{{"--metrics-addr", o.metricsAddr}, {"--health-addr", o.healthAddr}} {
		if a.v == "" || a.v == "0" {
			continue
		}
		if err := checkAddr(a.v); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %v", a.flag, a.v, err))
		}
	}
	if o.metricsAddr == o.healthAddr && o.metricsAddr != "" && o.metricsAddr != "0" {
		errs = append(errs, fmt.Errorf("--health-addr %q: same address as --metrics-addr", o.healthAddr))
	}
	for _, ns := range []struct{ flag, v string }{{"--namespace", o.namespace}, {"--leader-elect-namespace", o.leaderElectNamespace}} {
		if ns.v == "" {
			continue
		}
		if msgs := validation.IsDNS1123Label(ns.v); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("%s %q: not a namespace name: %s", ns.flag, ns.v, msgs[0]))
		}
	}
	for _, n := range []struct {
		flag string
		v    int
	}{{"--workers", o.workers}, {"--max-source-connections", o.maxSourceConnections}, {"--max-list-items", o.maxListItems}} {
		if n.v <= 0 {
			errs = append(errs, fmt.Errorf("%s %d: must be > 0", n.flag, n.v))
		}
	}
	d := controller.Defaults{MaxScaleUpPercent: o.maxScaleUpPercent, MaxScaleDownPercent: o.maxScaleDownPercent, PDBMinAvailable: o.pdbMinAvailable}
	if err := d.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("--max-scale-up-percent, --max-scale-down-percent, --pdb-min-available: %w", err))
	}
	errs = append(errs, o.backend.validate()...)
	if err := errors.Join(errs...); err != nil {
		return &usageError{err: err}
	}
	return nil
}

// restConfig is --kubeconfig, else the in-cluster service account, else
// $KUBECONFIG (or ~/.kube/config).
func (o *agentOpts) restConfig() (*rest.Config, error) {
	if o.kubeconfig != "" {
		cfg, err := clientcmd.BuildConfigFromFlags("", o.kubeconfig)
		if err != nil {
			return nil, usagef("--kubeconfig %s: %v", o.kubeconfig, err)
		}
		return cfg, nil
	}
	if cfg, err := rest.InClusterConfig(); err == nil {
		return cfg, nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, usagef("no Kubernetes configuration: not in a cluster, and $KUBECONFIG / ~/.kube/config: %v (use --kubeconfig)", err)
	}
	return cfg, nil
}

// newResourceMetrics measures resource triggers through metrics.k8s.io and
// the pods API (a list per read, not a watch of every pod).
func newResourceMetrics(cfg *rest.Config) (controller.ResourceMetrics, error) {
	scheme, err := controller.Scheme()
	if err != nil {
		return nil, err
	}
	pods, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, fmt.Errorf("pods client: %w", err)
	}
	mc, err := metricsclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("metrics.k8s.io client: %w", err)
	}
	return resource.New(resource.Options{Pods: pods, Metrics: mc.MetricsV1beta1()}), nil
}

func (o *agentOpts) run(cmd *cobra.Command, g *globalOpts) error {
	if err := o.applyConfigFile(cmd); err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	logger, err := g.logger(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	cfg, err := o.restConfig()
	if err != nil {
		return err
	}
	// One GET of /scale per Scaler per sync, a status write when
	// something changed: client-go's default 5/s would throttle a few
	// hundred Scalers far past the sync period.
	cfg.QPS, cfg.Burst = float32(o.kubeQPS), o.kubeBurst
	// controller-runtime's and client-go's own logs go to our logger.
	lr := logr.FromSlogHandler(logger.Handler())
	ctrllog.SetLogger(lr)
	klog.SetLogger(lr)
	// go-redis logs every failed dial on its own; each read already
	// reports the outage, so its lines go to our logger at debug.
	goredis.SetLogger(redis.GoRedisLogger(logger))

	registry, _ := newRegistry(registryOptions{maxSourceConnections: o.maxSourceConnections})
	resources, err := newResourceMetrics(cfg)
	if err != nil {
		return err
	}
	link, err := o.backend.newLink(cfg, crmetrics.Registry, logger)
	if err != nil {
		return err
	}
	ao := controller.AgentOptions{
		Options: controller.Options{
			Registry:         registry,
			ResourceMetrics:  resources,
			Registerer:       crmetrics.Registry,
			Logger:           logger,
			SyncPeriod:       o.syncPeriod,
			SourceTimeout:    o.sourceTimeout,
			MaxSourceTimeout: o.maxSourceTimeout,
			Limits:           scalers.Limits{MaxListItems: o.maxListItems},
			Defaults: controller.Defaults{
				DryRun:              o.dryRun,
				MaxScaleUpPercent:   o.maxScaleUpPercent,
				MaxScaleDownPercent: o.maxScaleDownPercent,
				RespectPDBs:         o.respectPDBs,
				PDBMinAvailable:     o.pdbMinAvailable,
			},
		},
		Namespace:               o.namespace,
		MetricsAddr:             o.metricsAddr,
		HealthAddr:              o.healthAddr,
		LeaderElection:          o.leaderElect,
		LeaderElectionNamespace: o.leaderElectNamespace,
		LeaseDuration:           o.leaseDuration,
		RenewDeadline:           o.renewDeadline,
		RetryPeriod:             o.retryPeriod,
		Workers:                 o.workers,
		ShutdownTimeout:         o.shutdownTimeout,
	}
	if link != nil {
		ao.Backend = link
	}
	agent, err := controller.NewAgent(cfg, ao)
	if err != nil {
		return err
	}
	if link != nil {
		// A Runnable that needs leader election: only the leader streams.
		if err := agent.Manager().Add(link); err != nil {
			return fmt.Errorf("agent: backend link: %w", err)
		}
		logger.Info("agent: backend link", "backend", o.backend.addr, "clusterID", o.backend.clusterID, "tls", o.backend.tlsOn(), "mtls", o.backend.tlsCert != "")
	}
	logger.Info("agent starting", "namespace", o.namespace, "syncPeriod", o.syncPeriod, "leaderElect", o.leaderElect, "dryRun", o.dryRun, "metricsAddr", o.metricsAddr, "healthAddr", o.healthAddr)
	return agent.Run(cmd.Context())
}

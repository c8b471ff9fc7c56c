package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	goredis "github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/agentsvc"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/api"
	"github.com/hpa-autoscaler/hpa-autoscaler/externalscaler"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/redis"
)

type serveOpts struct {
	config          string
	grpcAddr        string
	httpAddr        string
	tls             externalscaler.TLSFiles
	httpClientAuth  string
	metricsAddr     string
	metricsPath     string
	httpMetrics     bool
	grpc            grpcOpts
	idleTimeout     time.Duration
	pollInterval    time.Duration
	shutdownTimeout time.Duration

	sourceTimeout         time.Duration
	maxSourceTimeout      time.Duration
	maxMetadataBytes      int
	maxMetadataValueBytes int
	maxScalers            int
	maxSourceConnections  int
	maxListItems          int

	backend backendOpts
	agent   agentsvcOpts
	keda    kedaHistoryOpts

	secretFileDirs []string
	// secretFiles is secretFileDirs checked by validate.
	secretFiles scalers.FileAccess
}

// grpcOpts are the gRPC server's connection settings.
type grpcOpts struct {
	maxConcurrentStreams  int
	keepaliveTime         time.Duration
	keepaliveTimeout      time.Duration
	maxConnectionAge      time.Duration
	maxConnectionAgeGrace time.Duration
}

// serverOptions are the gRPC options of o.
func (o grpcOpts) serverOptions() []grpc.ServerOption {
	opts := []grpc.ServerOption{grpc.KeepaliveParams(keepalive.ServerParameters{
		Time:                  o.keepaliveTime,
		Timeout:               o.keepaliveTimeout,
		MaxConnectionAge:      o.maxConnectionAge,
		MaxConnectionAgeGrace: o.maxConnectionAgeGrace,
	})}
	if o.maxConcurrentStreams > 0 {
		opts = append(opts, grpc.MaxConcurrentStreams(uint32(min(o.maxConcurrentStreams, math.MaxUint32))))
	}
	return opts
}

// closeGrace is what the binary gives the scalers to close after the drain
// (--shutdown-timeout) has ended; then it exits whatever is still running.
const closeGrace = 500 * time.Millisecond

func newServeCmd(g *globalOpts) *cobra.Command {
	o := &serveOpts{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve KEDA's external scaler gRPC contract, with metrics and health endpoints",
		Long: `Serve KEDA's external scaler gRPC contract (externalscaler.ExternalScaler).

A ScaledObject trigger of type "external" points at this server with
scalerAddress and picks a scaler with the scalerType metadata key; every
other key is that scaler's KEDA metadata. See docs/external-scaler.md.

A <key>File trigger key names a file of this server's pod, and whoever can
create a ScaledObject in any namespace chooses it: such keys are refused
unless the file lies under a --secret-file-dir (none by default). Name only
directories that hold nothing but the triggers' own secrets.

--config reads the design's backend configuration (YAML under backend:,
see docs/backend.md); flags and HPA_* variables override it. SIGHUP, or
POST /api/v1/config/reload, re-reads it: the rate limit, the log level and
the TLS files change live, other changes are reported as needing a restart.

Every flag can also come from the environment as HPA_<FLAG> (dashes become
underscores): HPA_GRPC_ADDR, HPA_HTTP_ADDR, HPA_TLS_CERT, ...`,
		Args: func(_ *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("serve takes no arguments, got %q", args)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, _ []string) error {
			return o.run(cmd, g)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.config, "config", "", "backend configuration file (the design's YAML under backend:); flags and HPA_* variables override it; re-read on SIGHUP")
	o.addFileFlags(f)
	f.DurationVar(&o.idleTimeout, "idle-timeout", externalscaler.DefaultIdleTimeout, "close a ScaledObject's scaler after this long without calls")
	f.DurationVar(&o.pollInterval, "poll-interval", externalscaler.DefaultPollInterval, "stream re-check interval of triggers without a pollInterval key")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", externalscaler.DefaultShutdownTimeout,
		"on SIGTERM, time given to calls in flight before they are cut; the process exits about a second later whatever still runs (a second SIGTERM or SIGINT exits at once)")
	f.DurationVar(&o.sourceTimeout, "source-timeout", scalers.DefaultSourceTimeout, "bound of a call to a source when the trigger sets no timeout of its own")
	f.DurationVar(&o.maxSourceTimeout, "max-source-timeout", scalers.DefaultMaxSourceTimeout, "cap on a timeout a trigger's metadata sets")
	f.IntVar(&o.maxMetadataBytes, "max-metadata-bytes", externalscaler.DefaultMaxMetadataBytes, "most bytes of one trigger's metadata, keys and values together")
	f.IntVar(&o.maxMetadataValueBytes, "max-metadata-value-bytes", externalscaler.DefaultMaxMetadataValueBytes, "most bytes of one metadata value")
	f.IntVar(&o.maxScalers, "max-scalers", externalscaler.DefaultMaxScalers, "most scaler instances kept (one per ScaledObject trigger); idle ones are closed to make room")
	f.IntVar(&o.maxSourceConnections, "max-source-connections", defaultMaxSourceConnections, "most shared source clients (distinct Redis connection settings) open at once")
	f.IntVar(&o.maxListItems, "max-list-items", scalers.DefaultMaxListItems, "most items of a list in metadata (addresses, topics, partitions, queues, sources, headers)")
	f.StringSliceVar(&o.secretFileDirs, "secret-file-dir", nil,
		"directory whose files <key>File trigger keys may name (repeatable or comma-separated; each must exist); none by default: every <key>File key is refused")
	o.backend.addFlags(f)
	o.agent.addFlags(f)
	o.keda.addFlags(f)
	return cmd
}

// addFileFlags defines the flags of serve that --config can set too
// (fileFlags; the backend's are backendOpts.addFlags).
func (o *serveOpts) addFileFlags(f *pflag.FlagSet) {
	f.StringVar(&o.grpcAddr, "grpc-addr", "127.0.0.1:9443", "host:port of the gRPC external scaler service")
	f.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:8080", `host:port of the REST API (/api/v1/), /metrics, /healthz and /readyz (HTTPS with --tls-cert; "" turns them off)`)
	f.StringVar(&o.tls.CertFile, "tls-cert", "", "PEM certificate of the gRPC service and the HTTP port (turns TLS on; reloaded on change)")
	f.StringVar(&o.tls.KeyFile, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&o.tls.ClientCAFile, "tls-client-ca", "", "PEM CA bundle: clients must present a certificate it signed (mTLS; on the HTTP port see --http-client-auth)")
	f.StringVar(&o.httpClientAuth, "http-client-auth", httpAuthExceptProbes,
		"with --tls-client-ca, the HTTP port's client certificates: "+httpAuthExceptProbes+" (/healthz and /readyz answer without one, for kubelet) or "+httpAuthRequire+" (every handshake)")
	f.StringVar(&o.metricsAddr, "metrics-addr", "", "host:port of a plain-HTTP listener of its own for /metrics (--metrics-path); none by default (/metrics is on --http-addr)")
	f.StringVar(&o.metricsPath, "metrics-path", "/metrics", "path of /metrics on --metrics-addr")
	f.BoolVar(&o.httpMetrics, "http-metrics", true, "serve /metrics on --http-addr")
	f.IntVar(&o.grpc.maxConcurrentStreams, "grpc-max-concurrent-streams", 0, "most concurrent streams of one gRPC connection (0: no limit)")
	f.DurationVar(&o.grpc.keepaliveTime, "grpc-keepalive-time", 2*time.Hour, "ping a gRPC client after this long without activity")
	f.DurationVar(&o.grpc.keepaliveTimeout, "grpc-keepalive-timeout", 20*time.Second, "close a gRPC connection whose ping is not answered within this")
	f.DurationVar(&o.grpc.maxConnectionAge, "grpc-max-connection-age", 0, "close gRPC connections older than this, so clients spread over new replicas (0: never)")
	f.DurationVar(&o.grpc.maxConnectionAgeGrace, "grpc-max-connection-age-grace", 0, "time given to calls in flight on a connection closed for its age (0: no bound)")
}

// validate checks every flag and reports all problems at once.
func (o *serveOpts) validate() error {
	var errs []error
	if err := checkAddr(o.grpcAddr); err != nil {
		errs = append(errs, fmt.Errorf("--grpc-addr %q: %v", o.grpcAddr, err))
	}
	if o.httpAddr != "" {
		if err := checkAddr(o.httpAddr); err != nil {
			errs = append(errs, fmt.Errorf("--http-addr %q: %v", o.httpAddr, err))
		} else if o.httpAddr == o.grpcAddr && !strings.HasSuffix(o.grpcAddr, ":0") {
			errs = append(errs, fmt.Errorf("--http-addr %q: same address as --grpc-addr", o.httpAddr))
		}
	}
	if o.tls.CertFile != "" && o.tls.KeyFile == "" {
		errs = append(errs, errors.New("--tls-cert needs --tls-key"))
	}
	if o.tls.KeyFile != "" && o.tls.CertFile == "" {
		errs = append(errs, errors.New("--tls-key needs --tls-cert"))
	}
	if o.tls.ClientCAFile != "" && o.tls.CertFile == "" {
		errs = append(errs, errors.New("--tls-client-ca needs --tls-cert and --tls-key (mTLS is TLS plus client certificates)"))
	}
	if err := checkHTTPClientAuth(o.httpClientAuth); err != nil {
		errs = append(errs, fmt.Errorf("--http-client-auth %q: %v", o.httpClientAuth, err))
	}
	if o.metricsAddr != "" {
		if err := checkAddr(o.metricsAddr); err != nil {
			errs = append(errs, fmt.Errorf("--metrics-addr %q: %v", o.metricsAddr, err))
		} else if (o.metricsAddr == o.httpAddr || o.metricsAddr == o.grpcAddr) && !strings.HasSuffix(o.metricsAddr, ":0") {
			errs = append(errs, fmt.Errorf("--metrics-addr %q: same address as --http-addr or --grpc-addr", o.metricsAddr))
		}
	}
	if !strings.HasPrefix(o.metricsPath, "/") {
		errs = append(errs, fmt.Errorf("--metrics-path %q: expected a path such as /metrics", o.metricsPath))
	}
	if o.grpc.maxConcurrentStreams < 0 {
		errs = append(errs, fmt.Errorf("--grpc-max-concurrent-streams %d: must not be negative", o.grpc.maxConcurrentStreams))
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"--grpc-max-connection-age", o.grpc.maxConnectionAge}, {"--grpc-max-connection-age-grace", o.grpc.maxConnectionAgeGrace},
	} {
		if d.v < 0 {
			errs = append(errs, fmt.Errorf("%s %v: must not be negative", d.flag, d.v))
		}
	}
	errs = append(errs, o.backend.validate()...)
	errs = append(errs, o.agent.validate()...)
	errs = append(errs, o.keda.validate()...)
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"--idle-timeout", o.idleTimeout}, {"--poll-interval", o.pollInterval}, {"--shutdown-timeout", o.shutdownTimeout},
		{"--source-timeout", o.sourceTimeout}, {"--max-source-timeout", o.maxSourceTimeout},
		{"--grpc-keepalive-time", o.grpc.keepaliveTime}, {"--grpc-keepalive-timeout", o.grpc.keepaliveTimeout},
	} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s %v: must be > 0", d.flag, d.v))
		}
	}
	if o.sourceTimeout > 0 && o.maxSourceTimeout > 0 && o.sourceTimeout > o.maxSourceTimeout {
		errs = append(errs, fmt.Errorf("--source-timeout %v: more than --max-source-timeout %v", o.sourceTimeout, o.maxSourceTimeout))
	}
	for _, n := range []struct {
		flag string
		v    int
	}{
		{"--max-metadata-bytes", o.maxMetadataBytes}, {"--max-metadata-value-bytes", o.maxMetadataValueBytes},
		{"--max-scalers", o.maxScalers}, {"--max-source-connections", o.maxSourceConnections}, {"--max-list-items", o.maxListItems},
	} {
		if n.v <= 0 {
			errs = append(errs, fmt.Errorf("%s %d: must be > 0", n.flag, n.v))
		}
	}
	if o.maxMetadataValueBytes > 0 && o.maxMetadataBytes > 0 && o.maxMetadataValueBytes > o.maxMetadataBytes {
		errs = append(errs, fmt.Errorf("--max-metadata-value-bytes %d: more than --max-metadata-bytes %d", o.maxMetadataValueBytes, o.maxMetadataBytes))
	}
	if o.pollInterval > 0 && (o.pollInterval < 100*time.Millisecond || o.pollInterval > time.Hour) {
		errs = append(errs, fmt.Errorf("--poll-interval %v: must be between 100ms and 1h", o.pollInterval))
	}
	files, err := scalers.NewFileAccess(o.secretFileDirs...)
	if err != nil {
		errs = append(errs, err)
	}
	o.secretFiles = files
	if err := errors.Join(errs...); err != nil {
		return &usageError{err: err}
	}
	return nil
}

// checkAddr accepts host:port with a numeric port (":9443" listens on every
// interface; port 0 picks a free one).
func checkAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("expected host:port, e.g. 127.0.0.1:9443")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q: expected a number from 0 to 65535", port)
	}
	if host != "" && net.ParseIP(host) == nil {
		if _, err := net.LookupHost(host); err != nil {
			return fmt.Errorf("host %q: cannot be resolved", host)
		}
	}
	return nil
}

func (o *serveOpts) run(cmd *cobra.Command, g *globalOpts) error {
	// The file first: it sets the flags the user did not give.
	conf, err := newServeConfigSource(cmd.Flags(), o)
	if err != nil {
		return err
	}
	if err := o.validate(); err != nil {
		return err
	}
	level := new(slog.LevelVar)
	logger, err := levelLogger(g, cmd.ErrOrStderr(), level)
	if err != nil {
		return err
	}
	// Every line bounded: errors and values can carry client input of
	// any length.
	logger = externalscaler.BoundedLogger(logger, externalscaler.DefaultMaxMessageBytes)
	conf.logger, conf.level = logger, level
	// go-redis logs every failed dial to stderr on its own; each Metrics call
	// already reports the outage, so its lines go to our logger at debug.
	goredis.SetLogger(redis.GoRedisLogger(logger))
	if conf.file != nil {
		logger.Info("configuration file read", "file", o.config, "setByFlags", conf.shown().SetByFlags)
		if conf.file.Auth.JWT.Secret != "" {
			logger.Warn("backend.auth.jwt.secret is set but not used: serve authenticates API tokens (hpa_... bearer tokens, docs/backend-api.md); remove it from the file")
		}
	}
	var stls *servingTLS
	if o.tls.Enabled() {
		// Load the files now, so a bad path is a usage error before
		// anything listens.
		if stls, err = newServingTLS(o.tls, o.httpClientAuth, logger); err != nil {
			return usagef("--tls-cert/--tls-key/--tls-client-ca: %v", err)
		}
		conf.tls = stls
	}
	if err := o.backend.cost.load(logger); err != nil {
		return err
	}
	// The price table reloads with the configuration (serve_cost.go).
	cs := &costConfigSource{serveConfigSource: conf, pricing: o.backend.cost.pricing}
	o.backend.config = cs

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	o.backend.cost.registerer = reg
	o.backend.history.registerer = reg
	// The predictive triggers' history (serve_kedahistory.go), set once
	// the backend is open.
	kh := newKEDAHistory(&o.keda)
	registry, sources := newRegistry(registryOptions{maxSourceConnections: o.maxSourceConnections, secretFiles: o.secretFiles})
	if dirs := o.secretFiles.Dirs(); len(dirs) > 0 {
		logger.Info("<key>File trigger keys may name files under these directories only", "secretFileDirs", dirs)
	} else {
		logger.Info("<key>File trigger keys are refused: no --secret-file-dir")
	}
	srv, err := externalscaler.New(externalscaler.Options{
		Registry:            registry,
		HistorySink:         kh,
		HistorySource:       kh,
		Logger:              logger,
		Registerer:          reg,
		IdleTimeout:         o.idleTimeout,
		DefaultPollInterval: o.pollInterval,
		Timeouts:            scalers.Timeouts{Default: o.sourceTimeout, Max: o.maxSourceTimeout},
		ScalerLimits:        scalers.Limits{MaxListItems: o.maxListItems},
		Limits: externalscaler.Limits{
			MaxMetadataBytes:      o.maxMetadataBytes,
			MaxMetadataValueBytes: o.maxMetadataValueBytes,
			MaxScalers:            o.maxScalers,
		},
		SourceConnections: sources,
	})
	if err != nil {
		return err
	}

	ctx := cmd.Context()
	// The drain ends --shutdown-timeout after the signal; the scalers get
	// closeGrace after that to close, then the process exits whatever is
	// still running (a build or a Close stuck in I/O does not keep it).
	var drainEnd atomic.Int64
	stopDrainClock := context.AfterFunc(ctx, func() { drainEnd.Store(time.Now().Add(o.shutdownTimeout).UnixNano()) })
	defer stopDrainClock()
	defer func() {
		end := time.Now().Add(o.shutdownTimeout)
		if d := drainEnd.Load(); d != 0 {
			end = time.Unix(0, d)
		}
		cctx, cancel := context.WithDeadline(context.Background(), later(end, time.Now()).Add(closeGrace))
		defer cancel()
		if err := srv.CloseContext(cctx); err != nil {
			logger.Warn("exiting with scalers still closing", "err", err)
		}
	}()

	drainDeadline := func() time.Time {
		if d := drainEnd.Load(); d != 0 {
			return time.Unix(0, d)
		}
		return time.Now().Add(o.shutdownTimeout)
	}
	be, err := startBackend(ctx, &o.backend, logger)
	if err != nil {
		return err
	}
	defer func() { be.close(drainDeadline().Add(closeGrace), logger) }()
	conf.api = be.handler
	if err := kh.set(ctx, be.history, be.store, logger); err != nil {
		return err
	}
	// The AgentService on the gRPC port (serve_agentsvc.go); closed
	// before the backend, so its streams end before the store does.
	asvc, err := startAgentService(ctx, be, &o.agent, logger, reg)
	if err != nil {
		return err
	}
	defer asvc.Close()

	var lc net.ListenConfig
	glis, err := lc.Listen(ctx, "tcp", o.grpcAddr)
	if err != nil {
		return fmt.Errorf("--grpc-addr: %w", err)
	}
	var hlis net.Listener
	if o.httpAddr != "" {
		hlis, err = lc.Listen(ctx, "tcp", o.httpAddr)
		if err != nil {
			_ = glis.Close()
			return fmt.Errorf("--http-addr: %w", err)
		}
		if stls != nil {
			logger.Info("backend: the HTTP port serves TLS", "http", hlis.Addr().String(), "mtls", o.tls.ClientCAFile != "", "httpClientAuth", o.httpClientAuth)
		}
		hlis = be.serveHTTP(hlis, drainDeadline, frontOptions{TLS: stls, Metrics: o.httpMetrics, Logger: logger})
	}
	if o.metricsAddr != "" {
		stop, err := serveMetrics(ctx, lc, o.metricsAddr, o.metricsPath, reg, drainDeadline, logger)
		if err != nil {
			_ = glis.Close()
			if hlis != nil {
				_ = hlis.Close()
			}
			return err
		}
		defer stop()
	}
	defer reloadOnHUP(ctx, cs)()
	so := externalscaler.ServeOptions{
		GRPC:            glis,
		HTTP:            hlis,
		TLS:             o.tls,
		GRPCOptions:     append(o.grpc.serverOptions(), agentsvc.ServerOptions()...),
		Register:        asvc.Register,
		Gatherer:        reg,
		ShutdownTimeout: o.shutdownTimeout,
	}
	if stls != nil {
		so.TLSConfig = stls.grpcConfig()
	}
	return srv.Serve(ctx, so)
}

// serveMetrics serves reg's metrics at path on addr (plain HTTP) until
// ctx ends or the returned stop is called, which waits for the drain.
func serveMetrics(ctx context.Context, lc net.ListenConfig, addr, path string, reg prometheus.Gatherer, deadline func() time.Time, logger *slog.Logger) (stop func(), err error) {
	lis, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET "+path, promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	ctx, cancel := context.WithCancel(ctx)
	done := serveFront(ctx, lis, mux, deadline, logger)
	logger.Info("metrics serving", "metrics", lis.Addr().String(), "path", path)
	return func() {
		cancel()
		if err := <-done; err != nil {
			logger.Warn("metrics listener", "err", err)
		}
	}, nil
}

// reloadOnHUP reloads the configuration at every SIGHUP until the
// returned function is called (it waits for a reload in progress).
func reloadOnHUP(ctx context.Context, conf api.ConfigSource) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				// Reload logs what it applied, or why it changed nothing.
				_, _ = conf.Reload(ctx)
			}
		}
	}()
	return func() {
		signal.Stop(hup)
		cancel()
		<-done
	}
}

// levelLogger is the process logger of g's flags whose level follows
// level (set from --log-level here), so a reload can change it.
func levelLogger(g *globalOpts, w io.Writer, level *slog.LevelVar) (*slog.Logger, error) {
	if _, err := g.logger(w); err != nil {
		return nil, err
	}
	var l slog.Level
	if err := l.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, err
	}
	level.Set(l)
	all := *g
	all.logLevel = "debug"
	base, err := all.logger(w)
	if err != nil {
		return nil, err
	}
	return slog.New(&levelHandler{Handler: base.Handler(), level: level}), nil
}

// levelHandler passes on the records at level or above.
type levelHandler struct {
	slog.Handler
	level *slog.LevelVar
}

func (h *levelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.level.Level() && h.Handler.Enabled(ctx, l)
}

func (h *levelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &levelHandler{Handler: h.Handler.WithAttrs(attrs), level: h.level}
}

func (h *levelHandler) WithGroup(name string) slog.Handler {
	return &levelHandler{Handler: h.Handler.WithGroup(name), level: h.level}
}

// later returns the later of a and b.
func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

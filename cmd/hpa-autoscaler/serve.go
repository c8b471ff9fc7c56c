package main

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	goredis "github.com/redis/go-redis/v9"
	"github.com/spf13/cobra"

	"github.com/hpa-autoscaler/hpa-autoscaler/externalscaler"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers/redis"
)

type serveOpts struct {
	grpcAddr        string
	httpAddr        string
	tls             externalscaler.TLSFiles
	idleTimeout     time.Duration
	pollInterval    time.Duration
	shutdownTimeout time.Duration
}

func newServeCmd(g *globalOpts) *cobra.Command {
	o := &serveOpts{}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve KEDA's external scaler gRPC contract, with metrics and health endpoints",
		Long: `Serve KEDA's external scaler gRPC contract (externalscaler.ExternalScaler).

A ScaledObject trigger of type "external" points at this server with
scalerAddress and picks a scaler with the scalerType metadata key; every
other key is that scaler's KEDA metadata. See docs/external-scaler.md.

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
	f.StringVar(&o.grpcAddr, "grpc-addr", "127.0.0.1:9443", "host:port of the gRPC external scaler service")
	f.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:8080", `host:port of /metrics, /healthz and /readyz ("" turns them off)`)
	f.StringVar(&o.tls.CertFile, "tls-cert", "", "PEM certificate of the gRPC service (turns TLS on; reloaded on change)")
	f.StringVar(&o.tls.KeyFile, "tls-key", "", "PEM private key of --tls-cert")
	f.StringVar(&o.tls.ClientCAFile, "tls-client-ca", "", "PEM CA bundle: clients must present a certificate it signed (mTLS)")
	f.DurationVar(&o.idleTimeout, "idle-timeout", externalscaler.DefaultIdleTimeout, "close a ScaledObject's scaler after this long without calls")
	f.DurationVar(&o.pollInterval, "poll-interval", externalscaler.DefaultPollInterval, "stream re-check interval of triggers without a pollInterval key")
	f.DurationVar(&o.shutdownTimeout, "shutdown-timeout", externalscaler.DefaultShutdownTimeout, "on SIGTERM, time given to calls in flight before they are cut")
	return cmd
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
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{{"--idle-timeout", o.idleTimeout}, {"--poll-interval", o.pollInterval}, {"--shutdown-timeout", o.shutdownTimeout}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s %v: must be > 0", d.flag, d.v))
		}
	}
	if o.pollInterval > 0 && (o.pollInterval < 100*time.Millisecond || o.pollInterval > time.Hour) {
		errs = append(errs, fmt.Errorf("--poll-interval %v: must be between 100ms and 1h", o.pollInterval))
	}
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
	if err := o.validate(); err != nil {
		return err
	}
	logger, err := g.logger(cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	// go-redis logs every failed dial to stderr on its own; each Metrics call
	// already reports the outage, so its lines go to our logger at debug.
	goredis.SetLogger(redis.GoRedisLogger(logger))
	if o.tls.Enabled() {
		// Load the files now, so a bad path is a usage error before
		// anything listens.
		if _, err := externalscaler.ServerCredentials(o.tls, logger); err != nil {
			return usagef("--tls-cert/--tls-key/--tls-client-ca: %v", err)
		}
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	srv, err := externalscaler.New(externalscaler.Options{
		Registry:            newRegistry(),
		Logger:              logger,
		Registerer:          reg,
		IdleTimeout:         o.idleTimeout,
		DefaultPollInterval: o.pollInterval,
	})
	if err != nil {
		return err
	}
	defer srv.Close()

	ctx := cmd.Context()
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
	}
	return srv.Serve(ctx, externalscaler.ServeOptions{
		GRPC:            glis,
		HTTP:            hlis,
		TLS:             o.tls,
		Gatherer:        reg,
		ShutdownTimeout: o.shutdownTimeout,
	})
}

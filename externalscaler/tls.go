package externalscaler

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc/credentials"
)

// TLSFiles are the PEM files of the gRPC listener. With CertFile and
// KeyFile the server speaks TLS; with ClientCAFile too, it requires every
// client to present a certificate signed by that CA (mTLS).
//
// The files are re-read when they change (checked at each handshake), so a
// certificate rotated by cert-manager or a Secret update takes effect
// without a restart. A change that does not load (a half-written pair) keeps
// the previous certificates.
type TLSFiles struct {
	CertFile     string
	KeyFile      string
	ClientCAFile string
}

// Enabled reports whether TLS is configured.
func (f TLSFiles) Enabled() bool { return f.CertFile != "" || f.KeyFile != "" || f.ClientCAFile != "" }

// Validate checks that the files come in a usable combination.
func (f TLSFiles) Validate() error {
	var errs []error
	if (f.CertFile == "") != (f.KeyFile == "") {
		errs = append(errs, errors.New("a TLS certificate and key must be given together"))
	}
	if f.ClientCAFile != "" && f.CertFile == "" {
		errs = append(errs, errors.New("a client CA needs a server certificate and key too"))
	}
	return errors.Join(errs...)
}

// ServerCredentials loads the files and returns gRPC transport credentials
// that reload them on change. Errors name the file, never its content.
func ServerCredentials(f TLSFiles, logger *slog.Logger) (credentials.TransportCredentials, error) {
	cfg, err := ServerTLSConfig(f, TLSConfigOptions{}, logger)
	if err != nil {
		return nil, err
	}
	return credentials.NewTLS(cfg), nil
}

// TLSConfigOptions adjust ServerTLSConfig; the zero value is gRPC's.
type TLSConfigOptions struct {
	// NextProtos are the ALPN protocols offered (default "h2").
	NextProtos []string
	// ClientAuth is the client certificate policy when ClientCAFile is
	// set (default tls.RequireAndVerifyClientCert).
	ClientAuth tls.ClientAuthType
}

// ServerTLSConfig loads the files and returns a server configuration
// that re-reads them when they change (checked at each handshake), as
// ServerCredentials does for gRPC; serve uses it for its HTTP port too.
// Errors name the file, never its content.
func ServerTLSConfig(f TLSFiles, o TLSConfigOptions, logger *slog.Logger) (*tls.Config, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if len(o.NextProtos) == 0 {
		o.NextProtos = []string{"h2"}
	}
	if o.ClientAuth == tls.NoClientCert {
		o.ClientAuth = tls.RequireAndVerifyClientCert
	}
	r := &certReloader{files: f, opts: o, log: logger}
	if err := r.reload(); err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		GetConfigForClient: r.configForClient,
	}, nil
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// certReloader hands out the current tls.Config, rebuilding it when one of
// the files changed.
type certReloader struct {
	files TLSFiles
	opts  TLSConfigOptions
	log   *slog.Logger

	mu     sync.Mutex
	stamps [3]fileStamp
	cfg    *tls.Config
}

func (r *certReloader) paths() [3]string {
	return [3]string{r.files.CertFile, r.files.KeyFile, r.files.ClientCAFile}
}

// stat returns the files' stamps; a file that cannot be stat'ed now (being
// replaced) keeps its previous stamp.
func (r *certReloader) stat() [3]fileStamp {
	var st [3]fileStamp
	for i, p := range r.paths() {
		if p == "" {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			st[i] = r.stamps[i]
			continue
		}
		st[i] = fileStamp{mod: fi.ModTime(), size: fi.Size()}
	}
	return st
}

func (r *certReloader) configForClient(*tls.ClientHelloInfo) (*tls.Config, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stat() != r.stamps {
		if err := r.reload(); err != nil {
			r.log.Warn("TLS files changed but do not load; keeping the previous ones", "err", err)
		} else {
			r.log.Info("TLS files reloaded")
		}
	}
	return r.cfg, nil
}

// reload reads every file and replaces the config; on error the previous
// config and stamps stay, so the next handshake tries again.
func (r *certReloader) reload() error {
	// Stamp before reading: a change during the read is seen next time.
	st := r.stat()
	pair, err := tls.LoadX509KeyPair(r.files.CertFile, r.files.KeyFile)
	if err != nil {
		// A file that cannot be read is named once, with the reason;
		// a pair that does not parse is named by both files.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			what := "certificate"
			if pe.Path == r.files.KeyFile && pe.Path != r.files.CertFile {
				what = "key"
			}
			return fmt.Errorf("read TLS %s %s: %w", what, pe.Path, pe.Err)
		}
		return fmt.Errorf("load TLS certificate %s and key %s: %w", r.files.CertFile, r.files.KeyFile, err)
	}
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{pair},
		NextProtos:   r.opts.NextProtos,
	}
	if r.files.ClientCAFile != "" {
		pemCA, err := os.ReadFile(r.files.ClientCAFile)
		if err != nil {
			return fmt.Errorf("read TLS client CA %s: %w", r.files.ClientCAFile, pathErr(err))
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pemCA) {
			return fmt.Errorf("TLS client CA %s: no PEM certificate found", r.files.ClientCAFile)
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = r.opts.ClientAuth
	}
	r.cfg, r.stamps = cfg, st
	return nil
}

func pathErr(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

package scalers

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
)

// TLSConfig holds the TLS keys KEDA's scalers share. Each value is PEM
// content: inline, through <key>FromEnv, or read from <key>File (so "caFile:
// /etc/certs/ca.crt" works). Scalers embed it and add their own switch for
// turning TLS on (enableTLS, tls=enable, https:// ...).
type TLSConfig struct {
	CA          Secret `meta:"ca,secret,optional"`
	Cert        Secret `meta:"cert|Cert,secret,optional"`
	Key         Secret `meta:"key,secret,optional"`
	KeyPassword Secret `meta:"keyPassword,secret,optional"`
	UnsafeSsl   bool   `meta:"unsafeSsl,default=false"`
}

// Validate checks that cert and key come together.
func (c *TLSConfig) Validate() error {
	switch {
	case c.Cert.IsSet() && !c.Key.IsSet():
		return c.Cert.FieldError("cert", "given without key: cert and key must be given together")
	case c.Key.IsSet() && !c.Cert.IsSet():
		return c.Key.FieldError("key", "given without cert: cert and key must be given together")
	}
	return nil
}

// checkInline checks the TLS material given inline or through
// <key>FromEnv, which cannot change, so that a CA that is not PEM or a
// certificate that does not match its key is a configuration error when
// the metadata is parsed; material from files is checked when it is read
// (Build, and each handshake for the client certificate). HTTPAuth's
// Validate calls it. Errors name the key, never the content.
func (c *TLSConfig) checkInline() error {
	var errs []error
	if c.CA.IsSet() && c.CA.Path() == "" {
		if !x509.NewCertPool().AppendCertsFromPEM([]byte(c.CA.MustValue())) {
			errs = append(errs, c.CA.FieldError("ca", "no PEM certificate found"))
		}
	}
	if c.Cert.IsSet() && c.Key.IsSet() && c.Cert.Path() == "" && c.Key.Path() == "" && c.KeyPassword.Path() == "" {
		if _, err := c.keyPair(); err != nil {
			errs = append(errs, err)
		}
	}
	return Invalid(errs...)
}

// Configured reports whether any TLS material or unsafeSsl was given.
func (c *TLSConfig) Configured() bool {
	return c.CA.IsSet() || c.Cert.IsSet() || c.UnsafeSsl
}

// Build returns a *tls.Config. The client certificate is loaded at every
// handshake, so a rotated certFile/keyFile takes effect on the next
// connection. Errors name the key at fault, never its content.
func (c *TLSConfig) Build() (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.UnsafeSsl {
		cfg.InsecureSkipVerify = true //nolint:gosec // the user asked for it with unsafeSsl
	}
	if c.CA.IsSet() {
		pemCA, err := c.CA.Value()
		if err != nil {
			return nil, err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM([]byte(pemCA)) {
			return nil, c.CA.FieldError("ca", "no PEM certificate found")
		}
		cfg.RootCAs = pool
	}
	if c.Cert.IsSet() {
		// Load once now so a bad pair is reported at configuration time.
		if _, err := c.keyPair(); err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return c.keyPair()
		}
	}
	return cfg, nil
}

func (c *TLSConfig) keyPair() (*tls.Certificate, error) {
	certPEM, err := c.Cert.Value()
	if err != nil {
		return nil, err
	}
	keyPEM, err := c.Key.Value()
	if err != nil {
		return nil, err
	}
	keyBytes := []byte(keyPEM)
	if c.KeyPassword.IsSet() {
		pass, err := c.KeyPassword.Value()
		if err != nil {
			return nil, err
		}
		block, _ := pem.Decode(keyBytes)
		if block == nil {
			return nil, c.Key.FieldError("key", "no PEM key found")
		}
		//lint:ignore SA1019 legacy encrypted PEM keys are what KEDA's keyPassword decrypts
		if x509.IsEncryptedPEMBlock(block) { //nolint:staticcheck
			//lint:ignore SA1019 see above
			der, err := x509.DecryptPEMBlock(block, []byte(pass)) //nolint:staticcheck
			if err != nil {
				return nil, c.KeyPassword.FieldError("keyPassword", "cannot decrypt key")
			}
			keyBytes = pem.EncodeToMemory(&pem.Block{Type: block.Type, Bytes: der})
		}
	}
	pair, err := tls.X509KeyPair([]byte(certPEM), keyBytes)
	if err != nil {
		return nil, c.Cert.FieldError("cert", "invalid certificate/key pair: "+err.Error())
	}
	return &pair, nil
}

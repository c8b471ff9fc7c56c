package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/oauth"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// DefaultTokenTimeout bounds one token request when the caller gives no
// earlier deadline (and always when the Kafka client asks for a token while
// it opens a connection: franz-go passes no caller's context there).
const DefaultTokenTimeout = 10 * time.Second

// newTokenSource is the token source of sasl oauthbearer: the client
// credentials grant at oauthTokenEndpointUri with username and password as
// the client id and secret (read at every token request, so a rotated
// usernameFile/passwordFile takes effect at the next one). Each token is
// kept until shortly before it expires, so a new connection, a
// reauthentication or a round reuses it instead of asking the endpoint
// again; connections to several brokers that open at once share one
// request. The token endpoint is verified against the system roots: the
// ca key is the brokers' CA, which an identity provider rarely shares.
func newTokenSource(md *Metadata, o options, s *Scaler) *scalers.TokenSource {
	timeout := o.tokenTimeout
	if timeout <= 0 {
		timeout = DefaultTokenTimeout
	}
	return scalers.NewTokenSource(scalers.TokenSourceOptions{
		TokenURL:     md.OAuthTokenEndpointURI,
		ClientID:     md.Username,
		ClientSecret: md.Password,
		Scopes:       md.Scopes,
		Keys:         scalers.TokenKeys{URL: "oauthTokenEndpointUri", ClientID: "username", ClientSecret: "password"},
		Timeout:      timeout,
		Clock:        s.clock,
		Redactor:     s.redact,
		Logger:       s.log,
	})
}

// oauthMechanism is SASL/OAUTHBEARER with tokens from ts and the extensions
// of oauthExtensions. franz-go asks for a token at every connection and
// reauthentication; the token source answers most of them from its cache.
func oauthMechanism(ts *scalers.TokenSource, extensions map[string]string, redact *scalers.Redactor) sasl.Mechanism {
	return oauth.Oauth(func(ctx context.Context) (oauth.Auth, error) {
		tok, _, err := ts.Token(ctx)
		if err != nil {
			// franz-go logs this error and returns it from the request.
			return oauth.Auth{}, redact.Error(fmt.Errorf("sasl oauthbearer: %w", err))
		}
		return oauth.Auth{Token: tok.AccessToken, Extensions: extensions}, nil
	})
}

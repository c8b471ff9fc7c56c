package api

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling/scalerspec"
)

// ScalerBody is a scaler as clients send it.
type ScalerBody struct {
	Name      string        `json:"name"`
	Namespace string        `json:"namespace"`
	Cluster   string        `json:"cluster"`
	Spec      v1.ScalerSpec `json:"spec"`
	// ResourceVersion, on PUT: the version read (0: whatever is there).
	ResourceVersion int64 `json:"resourceVersion,omitempty"`
}

// Scaler is a scaler as the API answers it.
type Scaler struct {
	Name            string          `json:"name"`
	Namespace       string          `json:"namespace"`
	Cluster         string          `json:"cluster"`
	Spec            v1.ScalerSpec   `json:"spec"`
	Status          v1.ScalerStatus `json:"status"`
	CreatedAt       time.Time       `json:"createdAt"`
	UpdatedAt       time.Time       `json:"updatedAt"`
	ResourceVersion int64           `json:"resourceVersion"`
}

func scalerOut(s store.Scaler) Scaler {
	return Scaler{Name: s.Name, Namespace: s.Namespace, Cluster: s.Cluster, Spec: s.Spec, Status: s.Status,
		CreatedAt: s.CreatedAt, UpdatedAt: s.UpdatedAt, ResourceVersion: s.ResourceVersion}
}

// List is a page of a list.
type List[T any] struct {
	Items         []T    `json:"items"`
	NextPageToken string `json:"nextPageToken,omitempty"`
}

func listOut[S, T any](l store.List[S], f func(S) T) List[T] {
	out := List[T]{Items: make([]T, 0, len(l.Items)), NextPageToken: l.NextPageToken}
	for _, s := range l.Items {
		out.Items = append(out.Items, f(s))
	}
	return out
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

func listScalers(s *server, r *request) (int, any, error) {
	p, err := pageOf(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	l, err := s.o.Store.Scalers(r.Context(), r.tenant, p)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, listOut(l, scalerOut), nil
}

func getScaler(s *server, r *request) (int, any, error) {
	sc, err := s.o.Store.Scaler(r.Context(), r.tenant, r.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, scalerOut(sc), nil
}

func getStatus(s *server, r *request) (int, any, error) {
	sc, err := s.o.Store.Scaler(r.Context(), r.tenant, r.PathValue("name"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, sc.Status, nil
}

// validateScaler checks a body: the name and the spec (scalerspec.Convert,
// its field errors named from the top), and that it holds no secret.
func validateScaler(b *ScalerBody) error {
	if b.Name == "" {
		return invalid("name", "required")
	}
	if e := inlineSecret(&b.Spec); e != nil {
		return e
	}
	if _, err := scalerspec.Convert(&b.Spec, scalerspec.Options{}); err != nil {
		msg := err.Error()
		first, _, _ := strings.Cut(msg, "\n")
		return &Error{Status: http.StatusBadRequest, Code: CodeInvalid, Message: msg, Field: fieldOf(first)}
	}
	return nil
}

func createScaler(s *server, r *request) (int, any, error) {
	b, err := decode[ScalerBody](r.Request, s.o.MaxBodyBytes)
	if err != nil {
		return 0, nil, err
	}
	if err := validateScaler(&b); err != nil {
		return 0, nil, err
	}
	if b.ResourceVersion != 0 {
		return 0, nil, invalid("resourceVersion", "not on create")
	}
	var out store.Scaler
	err = s.o.Store.Update(r.Context(), r.tenant, r.actor(), func(tx store.Tx) error {
		var err error
		out, err = tx.CreateScaler(store.Scaler{Name: b.Name, Namespace: b.Namespace, Cluster: b.Cluster, Spec: b.Spec})
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, scalerOut(out), nil
}

func putScaler(s *server, r *request) (int, any, error) {
	name := r.PathValue("name")
	b, err := decode[ScalerBody](r.Request, s.o.MaxBodyBytes)
	if err != nil {
		return 0, nil, err
	}
	if b.Name == "" {
		b.Name = name
	}
	if b.Name != name {
		return 0, nil, invalid("name", "%q is not the name of the path, %q", clip(b.Name), clip(name))
	}
	if err := validateScaler(&b); err != nil {
		return 0, nil, err
	}
	var out store.Scaler
	err = s.o.Store.Update(r.Context(), r.tenant, r.actor(), func(tx store.Tx) error {
		rv := b.ResourceVersion
		if rv == 0 {
			// No version given: last write wins over whatever is there.
			cur, err := tx.Scaler(name)
			if err != nil {
				return err
			}
			rv = cur.ResourceVersion
		}
		var err error
		out, err = tx.UpdateScaler(store.Scaler{Name: name, Namespace: b.Namespace, Cluster: b.Cluster, Spec: b.Spec, ResourceVersion: rv})
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, scalerOut(out), nil
}

func deleteScaler(s *server, r *request) (int, any, error) {
	rv, err := resourceVersionOf(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	err = s.o.Store.Update(r.Context(), r.tenant, r.actor(), func(tx store.Tx) error {
		return tx.DeleteScaler(r.PathValue("name"), rv)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

// secretParams are metadata keys (any case) of KEDA's scalers whose value
// is a secret: the spec may name them in secretRefs only.
var secretParams = map[string]bool{
	"password": true, "bearertoken": true, "apikey": true, "clientsecret": true, "key": true,
	"keypassword": true, "saslpassword": true, "token": true, "accesstoken": true, "oauthtoken": true,
	"secretaccesskey": true, "awssecretaccesskey": true, "connectionstring": true, "sharedaccesskey": true,
}

// InlineSecret reports the first secret value written into spec, or nil:
// its error names the field (spec.triggers[0].metadata.password, say) and
// never the value. Every way a scaler reaches the store checks it (this
// API, and the AgentService's inventories), so that a spec holds secret
// references only.
func InlineSecret(spec *v1.ScalerSpec) error {
	if e := inlineSecret(spec); e != nil {
		return e
	}
	return nil
}

// inlineSecret reports the first secret written into the spec.
func inlineSecret(spec *v1.ScalerSpec) *Error {
	check := func(path string, t *v1.TriggerSpec) *Error {
		if e := secretMap(path+".metadata", t.Metadata); e != nil {
			return e
		}
		if t.Kafka != nil && t.Kafka.Authentication != nil && t.Kafka.Authentication.SASL != nil && t.Kafka.Authentication.SASL.Password != "" {
			return inlineErr(path + ".kafka.authentication.sasl.password")
		}
		if t.Prometheus != nil && t.Prometheus.Authentication != nil && t.Prometheus.Authentication.BasicAuth != nil &&
			t.Prometheus.Authentication.BasicAuth.Password != "" {
			return inlineErr(path + ".prometheus.authentication.basicAuth.password")
		}
		if t.Custom != nil {
			for i, m := range t.Custom.MetricSources {
				if e := secretMap(fmt.Sprintf("%s.custom.metricSources[%d].configuration", path, i), m.Configuration); e != nil {
					return e
				}
			}
		}
		return nil
	}
	if spec.ScalerSpec != nil {
		if e := check("spec.scalerSpec", spec.ScalerSpec); e != nil {
			return e
		}
	}
	for i := range spec.Triggers {
		if e := check(fmt.Sprintf("spec.triggers[%d]", i), &spec.Triggers[i]); e != nil {
			return e
		}
	}
	return nil
}

func secretMap(path string, m map[string]string) *Error {
	for k, v := range m {
		if v == "" {
			continue
		}
		if secretParams[strings.ToLower(k)] {
			return inlineErr(path + "." + k)
		}
		// A URL with a password in it (amqp://user:pass@host, redis://:pass@host).
		if u, err := url.Parse(v); err == nil && u.User != nil {
			if _, ok := u.User.Password(); ok {
				return inlineErr(path + "." + k)
			}
		}
	}
	return nil
}

func inlineErr(field string) *Error {
	// The value is not in the message: it is a secret.
	return invalid(field, "inline secret: use secretRefs")
}

// putStatus is how an agent reports a scaler's status: the body is the
// api/v1 ScalerStatus; ?resourceVersion= the version read (absent: any).
func putStatus(s *server, r *request) (int, any, error) {
	name := r.PathValue("name")
	rv, err := resourceVersionOf(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	st, err := decode[v1.ScalerStatus](r.Request, s.o.MaxBodyBytes)
	if err != nil {
		return 0, nil, err
	}
	var out store.Scaler
	err = s.o.Store.Update(r.Context(), r.tenant, r.actor(), func(tx store.Tx) error {
		v := rv
		if v == 0 {
			cur, err := tx.Scaler(name)
			if err != nil {
				return err
			}
			v = cur.ResourceVersion
		}
		var err error
		out, err = tx.UpdateScalerStatus(name, v, st)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, out.Status, nil
}

package api

import (
	"net/http"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// The installation's tenants, for system admins (system.read and
// system.write). A system admin acts in a tenant through the mirrored
// routes, /api/v1/tenants/{tenant}/...: its first token is
// POST /api/v1/tenants/{tenant}/tokens.

// TenantBody is a tenant as a system admin creates it.
type TenantBody struct {
	// ID names the tenant: a DNS label (1 to 63 lower-case letters,
	// digits and '-'), in its tokens and its paths.
	ID string `json:"id"`
	// Name is for people (default: the id).
	Name string `json:"name,omitempty"`
}

// Tenant is a tenant as the API answers it.
type Tenant struct {
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"createdAt"`
}

func tenantOut(t store.Tenant) Tenant {
	return Tenant{ID: string(t.ID), Name: t.Name, CreatedAt: t.CreatedAt}
}

func validateTenant(b *TenantBody) error {
	if b.ID == "" {
		return invalid("id", "required")
	}
	if store.TenantID(b.ID).Validate() != nil {
		return invalid("id", "%q: want 1 to 63 lower-case letters, digits and '-' (not first)", clip(b.ID))
	}
	if len(b.Name) > 256 {
		return invalid("name", "longer than 256 characters")
	}
	if b.Name == "" {
		b.Name = b.ID
	}
	return nil
}

func listTenants(s *server, r *request) (int, any, error) {
	p, err := pageOf(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	l, err := s.o.Store.Admin().Tenants(r.Context(), p)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, listOut(l, tenantOut), nil
}

func getTenant(s *server, r *request) (int, any, error) {
	id := store.TenantID(r.PathValue("tenant"))
	if id.Validate() != nil {
		return 0, nil, notFound("tenant %q not found", clip(string(id)))
	}
	t, err := s.o.Store.Tenant(r.Context(), id)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, tenantOut(t), nil
}

func createTenant(s *server, r *request) (int, any, error) {
	b, err := decode[TenantBody](r.Request, s.o.MaxBodyBytes)
	if err != nil {
		return 0, nil, err
	}
	if err := validateTenant(&b); err != nil {
		return 0, nil, err
	}
	id := store.TenantID(b.ID)
	var out store.Tenant
	// The record is the installation's (tenant ""), its actor the system
	// admin's token named with its own tenant.
	err = s.o.Store.Update(r.Context(), id, r.p.ActorIn(""), func(tx store.Tx) error {
		var err error
		out, err = tx.CreateTenant(b.Name)
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, tenantOut(out), nil
}

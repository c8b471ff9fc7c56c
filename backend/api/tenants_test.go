package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/audit"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"
)

func TestTenants(t *testing.T) {
	each(t, func(t *testing.T, db dbURL) {
		f := newFixture(t, db, Options{})
		sys, ad := f.tokens["root/system"], f.tokens["acme/admin"]
		sysID, err := auth.Parse(sys)
		if err != nil {
			t.Fatal(err)
		}

		r := f.do("GET", "/api/v1/tenants", sys, nil)
		f.want(r, http.StatusOK)
		var l List[Tenant]
		if err := json.Unmarshal(r.body, &l); err != nil || len(l.Items) != 3 || l.Items[0].ID != "acme" {
			t.Fatalf("tenants %s", r.body)
		}
		r = f.do("POST", "/api/v1/tenants", sys, TenantBody{ID: "initech", Name: "Initech"})
		f.want(r, http.StatusCreated)
		var tn Tenant
		if err := json.Unmarshal(r.body, &tn); err != nil || tn.ID != "initech" || tn.Name != "Initech" || tn.CreatedAt.IsZero() {
			t.Fatalf("created %s", r.body)
		}
		f.want(f.do("POST", "/api/v1/tenants", sys, TenantBody{ID: "initech"}), http.StatusConflict)
		r = f.do("GET", "/api/v1/tenants/initech", sys, nil)
		f.want(r, http.StatusOK)
		f.want(f.do("GET", "/api/v1/tenants/nope", sys, nil), http.StatusNotFound)
		f.want(f.do("GET", "/api/v1/tenants/No_Such", sys, nil), http.StatusNotFound)
		for name, c := range map[string]struct {
			body  any
			field string
		}{
			"no id":         {TenantBody{Name: "x"}, "id"},
			"bad id":        {TenantBody{ID: "Init_Tech"}, "id"},
			"long name":     {TenantBody{ID: "x", Name: strings.Repeat("n", 257)}, "name"},
			"unknown field": {`{"id": "x", "tenant": "y"}`, "tenant"},
		} {
			t.Run(name, func(t *testing.T) {
				r := f.do("POST", "/api/v1/tenants", sys, c.body)
				f.want(r, http.StatusBadRequest)
				if r.err().Field != c.field {
					t.Fatalf("field %q, want %q: %s", r.err().Field, c.field, r.body)
				}
			})
		}
		// A tenant's admin may not.
		f.want(f.do("GET", "/api/v1/tenants", ad, nil), http.StatusForbidden)
		f.want(f.do("POST", "/api/v1/tenants", ad, TenantBody{ID: "x"}), http.StatusForbidden)
		f.want(f.do("GET", "/api/v1/tenants/acme", ad, nil), http.StatusForbidden)

		// The creation is the installation's record, by the system admin.
		recs, err := f.store.Admin().Log(t.Context(), 1, 1000)
		if err != nil {
			t.Fatal(err)
		}
		last := recs[len(recs)-1]
		if last.Kind != "tenant.create" || last.Tenant != "" || last.Actor != "token:root/"+sysID.ID || last.Subject != "tenants/initech" {
			t.Fatalf("record %+v", last)
		}

		// The system admin gives the new tenant its first token, and
		// acts in globex: the records are globex's, by the system admin.
		r = f.do("POST", "/api/v1/tenants/initech/tokens", sys, TokenBody{Name: "first", Role: "admin"})
		f.want(r, http.StatusCreated)
		var nt NewToken
		if err := json.Unmarshal(r.body, &nt); err != nil || !strings.HasPrefix(nt.Secret, "hpa_initech_") || nt.SystemAdmin {
			t.Fatalf("first token %s", r.body)
		}
		f.want(f.do("POST", "/api/v1/clusters", nt.Secret, ClusterBody{ID: "c1", Name: "one"}), http.StatusCreated)
		f.want(f.do("GET", "/api/v1/clusters/c1", nt.Secret, nil), http.StatusOK)

		r = f.do("POST", "/api/v1/tenants/globex/clusters", sys, ClusterBody{ID: "by-root", Name: "root's"})
		f.want(r, http.StatusCreated)
		if _, err := f.store.Cluster(t.Context(), "globex", "by-root"); err != nil {
			t.Fatalf("globex's cluster: %v", err)
		}
		if _, err := f.store.Cluster(t.Context(), "root", "by-root"); err == nil {
			t.Fatal("the cluster is in the system admin's own tenant too")
		}
		gl, err := f.store.AuditRecords(t.Context(), "globex", storePage(1000))
		if err != nil {
			t.Fatal(err)
		}
		rec := gl.Items[len(gl.Items)-1]
		if rec.Kind != "cluster.create" || rec.Tenant != "globex" || rec.Actor != "token:root/"+sysID.ID {
			t.Fatalf("globex's record %+v", rec)
		}
		// The mirrored audit list is globex's records only, not the log.
		r = f.do("GET", "/api/v1/tenants/globex/audit?limit=1000", sys, nil)
		f.want(r, http.StatusOK)
		var al AuditList
		if err := json.Unmarshal(r.body, &al); err != nil || len(al.Items) != len(gl.Items) {
			t.Fatalf("globex's audit: %d items, want %d (%v)", len(al.Items), len(gl.Items), err)
		}
		for _, e := range al.Items {
			if e.Tenant != "globex" {
				t.Fatalf("record of %q in globex's list", e.Tenant)
			}
		}
		// Reads of another tenant through the mirror: globex's scaler.
		r = f.do("GET", "/api/v1/tenants/globex/scalers/web", sys, nil)
		f.want(r, http.StatusOK)
		// The system admin's own routes still act in its own tenant.
		r = f.do("GET", "/api/v1/clusters", sys, nil)
		f.want(r, http.StatusOK)
		if strings.Contains(string(r.body), "by-root") {
			t.Fatalf("root's clusters show globex's: %s", r.body)
		}
		// A tenant's token on its own tenant's mirror works like the
		// route itself; on another's it is 404.
		f.want(f.do("GET", "/api/v1/tenants/acme/scalers/web", ad, nil), http.StatusOK)
		f.want(f.do("GET", "/api/v1/tenants/globex/scalers/web", ad, nil), http.StatusNotFound)
		f.want(f.do("POST", "/api/v1/tenants/globex/tokens", ad, TokenBody{Name: "x", Role: "admin"}), http.StatusNotFound)
		// The log still verifies.
		f.checkpoint()
		if _, err := audit.Verify(t.Context(), f.store.Admin().Source(t.Context()), audit.VerifyOptions{Verifier: f.key.Verifier}); err != nil {
			t.Fatalf("verify: %v", err)
		}
	})
}

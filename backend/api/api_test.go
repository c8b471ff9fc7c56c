package api

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/audit"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"
)

func TestRoutesDeclareActions(t *testing.T) {
	seen := map[string]bool{}
	mirrors := 0
	for _, rt := range allRoutes() {
		if !auth.Known(rt.action) {
			t.Errorf("route %q: action %q is not an action of auth", rt.pattern, rt.action)
		}
		if rt.handle == nil {
			t.Errorf("route %q: no handler", rt.pattern)
		}
		if seen[rt.pattern] {
			t.Errorf("route %q twice", rt.pattern)
		}
		seen[rt.pattern] = true
		if rt.action == auth.Public && !strings.HasSuffix(rt.pattern, "/health") && !strings.HasSuffix(rt.pattern, "/version") && !strings.HasSuffix(rt.pattern, "/openapi.json") {
			t.Errorf("route %q is public", rt.pattern)
		}
		if rt.doc.summary == "" {
			t.Errorf("route %q: no summary for the OpenAPI document", rt.pattern)
		}
		for _, q := range rt.doc.query {
			if _, ok := queryParams[q]; !ok {
				t.Errorf("route %q: query parameter %q is not in queryParams", rt.pattern, q)
			}
		}
		if rt.mirrored {
			mirrors++
			if !strings.Contains(rt.pattern, mirrorPrefix) || !tenantScoped(rt) {
				t.Errorf("mirrored route %q", rt.pattern)
			}
		}
	}
	// Every tenant route has its mirror, and nothing else has one.
	want := 0
	for _, rt := range routes() {
		if tenantScoped(rt) {
			want++
		}
	}
	if mirrors != want || want < 20 {
		t.Errorf("%d mirrored routes, want %d", mirrors, want)
	}
}

func scalerBody(name string) ScalerBody {
	return ScalerBody{Name: name, Namespace: "prod", Cluster: "c1", Spec: validSpec()}
}

func TestScalers(t *testing.T) {
	each(t, func(t *testing.T, db dbURL) {
		f := newFixture(t, db, Options{})
		op := f.tokens["acme/operator"]
		f.want(f.do("POST", "/api/v1/scalers", op, scalerBody("api")), http.StatusCreated)
		f.want(f.do("POST", "/api/v1/scalers", op, scalerBody("api")), http.StatusConflict)

		r := f.do("GET", "/api/v1/scalers/api", f.tokens["acme/viewer"], nil)
		f.want(r, http.StatusOK)
		var got Scaler
		if err := json.Unmarshal(r.body, &got); err != nil || got.Name != "api" || got.ResourceVersion != 1 || got.Spec.Scaling.MaxReplicas != 5 {
			t.Fatalf("got %+v (%v)", got, err)
		}

		b := scalerBody("api")
		b.Spec.Scaling.MaxReplicas = 9
		b.ResourceVersion = 1
		f.want(f.do("PUT", "/api/v1/scalers/api", op, b), http.StatusOK)
		f.want(f.do("PUT", "/api/v1/scalers/api", op, b), http.StatusConflict) // stale version
		b.ResourceVersion = 0
		f.want(f.do("PUT", "/api/v1/scalers/api", op, b), http.StatusOK)

		r = f.do("GET", "/api/v1/scalers?limit=1", op, nil)
		f.want(r, http.StatusOK)
		var l List[Scaler]
		if err := json.Unmarshal(r.body, &l); err != nil || len(l.Items) != 1 || l.NextPageToken == "" {
			t.Fatalf("page 1: %s", r.body)
		}
		r = f.do("GET", "/api/v1/scalers?limit=1&pageToken="+l.NextPageToken, op, nil)
		if err := json.Unmarshal(r.body, &l); err != nil || len(l.Items) != 1 || l.Items[0].Name != "web" {
			t.Fatalf("page 2: %s", r.body)
		}
		f.want(f.do("PUT", "/api/v1/scalers/api/status", op, `{"currentReplicas": 3, "desiredReplicas": 4}`), http.StatusOK)
		f.want(f.do("PUT", "/api/v1/scalers/api/status?resourceVersion=1", op, `{"currentReplicas": 3}`), http.StatusConflict)
		f.want(f.do("PUT", "/api/v1/scalers/api/status", op, `{"currentReplicas": 3, "bogus": 1}`), http.StatusBadRequest)
		r = f.do("GET", "/api/v1/scalers/api/status", op, nil)
		f.want(r, http.StatusOK)
		if !strings.Contains(string(r.body), `"desiredReplicas":4`) {
			t.Fatalf("status %s", r.body)
		}
		f.want(f.do("DELETE", "/api/v1/scalers/api", f.tokens["acme/viewer"], nil), http.StatusForbidden)
		f.want(f.do("DELETE", "/api/v1/scalers/api", op, nil), http.StatusNoContent)
		f.want(f.do("GET", "/api/v1/scalers/api", op, nil), http.StatusNotFound)
	})
}

func TestErrors(t *testing.T) {
	each(t, func(t *testing.T, db dbURL) {
		f := newFixture(t, db, Options{MaxBodyBytes: 4096})
		op := f.tokens["acme/operator"]
		noMax := scalerBody("x")
		noMax.Spec.Scaling.MaxReplicas = 0
		secret := scalerBody("x")
		secret.Spec.ScalerSpec.Metadata["password"] = "hunter2"
		urlSecret := scalerBody("x")
		urlSecret.Spec.ScalerSpec.Metadata["address"] = "redis://:hunter2@redis:6379"
		kafka := scalerBody("x")
		kafka.Spec.Triggers = []v1.TriggerSpec{{Name: "k", Type: "kafka", Kafka: &v1.KafkaTrigger{Authentication: &v1.KafkaAuthentication{SASL: &v1.KafkaSASL{Password: "hunter2"}}}}}
		kafka.Spec.ScalerSpec = nil
		cases := []struct {
			name, method, path string
			token              string
			body               any
			status             int
			code, field        string
		}{
			{"no token", "GET", "/api/v1/scalers", "", nil, 401, CodeUnauthenticated, ""},
			{"malformed token", "GET", "/api/v1/scalers", "hpa_nope", nil, 401, CodeUnauthenticated, ""},
			{"viewer writes", "POST", "/api/v1/scalers", f.tokens["acme/viewer"], scalerBody("x"), 403, CodeForbidden, ""},
			{"spec field", "POST", "/api/v1/scalers", op, noMax, 400, CodeInvalid, "spec.scaling.maxReplicas"},
			{"unknown field", "POST", "/api/v1/scalers", op, `{"name":"x","spec":{"scaling":{"maxReplicas":2,"bogus":1}}}`, 400, CodeInvalid, "spec.scaling.bogus"},
			{"wrong type", "POST", "/api/v1/scalers", op, `{"name":"x","spec":{"scaling":{"maxReplicas":"2"}}}`, 400, CodeInvalid, "spec.scaling.maxReplicas"},
			{"malformed", "POST", "/api/v1/scalers", op, `{"name":`, 400, CodeInvalid, ""},
			{"trailing", "POST", "/api/v1/scalers", op, `{"name":"x"} {}`, 400, CodeInvalid, ""},
			{"too large", "POST", "/api/v1/scalers", op, `{"name":"` + strings.Repeat("x", 5000) + `"}`, 413, CodeTooLarge, ""},
			{"inline secret", "POST", "/api/v1/scalers", op, secret, 400, CodeInvalid, "spec.scalerSpec.metadata.password"},
			{"secret in a URL", "POST", "/api/v1/scalers", op, urlSecret, 400, CodeInvalid, "spec.scalerSpec.metadata.address"},
			{"kafka password", "POST", "/api/v1/scalers", op, kafka, 400, CodeInvalid, "spec.triggers[0].kafka.authentication.sasl.password"},
			{"name mismatch", "PUT", "/api/v1/scalers/web", op, scalerBody("other"), 400, CodeInvalid, "name"},
			{"bad limit", "GET", "/api/v1/scalers?limit=0", op, nil, 400, CodeInvalid, "limit"},
			{"bad page token", "GET", "/api/v1/scalers?pageToken=zz", op, nil, 400, CodeInvalid, "pageToken"},
			{"page token not base64url", "GET", "/api/v1/scalers?pageToken=a%2Fb", op, nil, 400, CodeInvalid, "pageToken"},
			{"page token of another list", "GET", "/api/v1/clusters?pageToken=" + pageTokenOf(t, f, "/api/v1/tokens?limit=1", f.tokens["acme/admin"]), op, nil, 400, CodeInvalid, "pageToken"},
			{"no route", "GET", "/api/v1/nope", op, nil, 404, CodeNotFound, ""},
			{"method", "PATCH", "/api/v1/scalers/web", op, nil, 405, CodeMethodNotAllowed, ""},
			{"method on a list", "DELETE", "/api/v1/scalers", "", nil, 405, CodeMethodNotAllowed, ""},
			{"event without id", "POST", "/api/v1/scalers/web/events", op, EventBody{Time: time.Now()}, 400, CodeInvalid, "id"},
			{"operator clusters", "POST", "/api/v1/clusters", op, ClusterBody{ID: "c2"}, 403, CodeForbidden, ""},
			{"cluster in use", "DELETE", "/api/v1/clusters/c1", f.tokens["acme/admin"], nil, 409, CodeConflict, ""},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				r := f.do(c.method, c.path, c.token, c.body)
				f.want(r, c.status)
				e := r.err()
				if e.Code != c.code || e.Field != c.field {
					t.Fatalf("error %s: want code %s field %q", r.body, c.code, c.field)
				}
				if strings.Contains(string(r.body), "hunter2") {
					t.Fatalf("the secret is in the answer: %s", r.body)
				}
			})
		}
	})
}

func TestEvents(t *testing.T) {
	each(t, func(t *testing.T, db dbURL) {
		f := newFixture(t, db, Options{})
		op := f.tokens["acme/operator"]
		ev := EventBody{ID: "e1", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), FromReplicas: 1, ToReplicas: 3, Rule: "up", Reason: "lag"}
		r := f.do("POST", "/api/v1/scalers/web/events", op, ev)
		f.want(r, http.StatusCreated)
		var ack EventAck
		if err := json.Unmarshal(r.body, &ack); err != nil || ack.Seq == 0 || len(ack.ChainHash) != 64 {
			t.Fatalf("ack %s", r.body)
		}
		// The ack's chain hash is the durable record's.
		rec, err := f.store.AuditRecord(t.Context(), "acme", ack.Seq)
		if err != nil || rec.Export().ChainHash != ack.ChainHash || rec.Kind != "event" {
			t.Fatalf("record %d: %+v %v", ack.Seq, rec, err)
		}
		r = f.do("POST", "/api/v1/scalers/web/events", op, ev)
		f.want(r, http.StatusOK)
		var again EventAck
		if err := json.Unmarshal(r.body, &again); err != nil || again != ack {
			t.Fatalf("resend: %s, want %+v", r.body, ack)
		}
		f.want(f.do("POST", "/api/v1/scalers/nope/events", op, ev), http.StatusNotFound)
		f.want(f.do("POST", "/api/v1/scalers", op, scalerBody("other")), http.StatusCreated)
		f.want(f.do("POST", "/api/v1/scalers/other/events", op, ev), http.StatusConflict) // e1 is web's
		r = f.do("GET", "/api/v1/scalers/web/events", f.tokens["acme/viewer"], nil)
		f.want(r, http.StatusOK)
		var l List[Event]
		if err := json.Unmarshal(r.body, &l); err != nil || len(l.Items) != 1 || l.Items[0].ID != "e1" || l.Items[0].Seq != ack.Seq {
			t.Fatalf("events %s", r.body)
		}
	})
}

func TestClusters(t *testing.T) {
	each(t, func(t *testing.T, db dbURL) {
		f := newFixture(t, db, Options{})
		ad := f.tokens["acme/admin"]
		f.want(f.do("POST", "/api/v1/clusters", ad, ClusterBody{ID: "c2", Name: "two", Labels: map[string]string{"region": "eu"}}), http.StatusCreated)
		r := f.do("GET", "/api/v1/clusters/c2", f.tokens["acme/viewer"], nil)
		f.want(r, http.StatusOK)
		var c Cluster
		if err := json.Unmarshal(r.body, &c); err != nil || c.Labels["region"] != "eu" || c.ResourceVersion != 1 {
			t.Fatalf("cluster %s", r.body)
		}
		f.want(f.do("PUT", "/api/v1/clusters/c2", ad, ClusterBody{Name: "deux"}), http.StatusOK)
		r = f.do("GET", "/api/v1/clusters", ad, nil)
		var l List[Cluster]
		if err := json.Unmarshal(r.body, &l); err != nil || len(l.Items) != 2 || l.Items[1].Name != "deux" {
			t.Fatalf("clusters %s", r.body)
		}
		f.want(f.do("DELETE", "/api/v1/clusters/c2?resourceVersion=1", ad, nil), http.StatusConflict)
		f.want(f.do("DELETE", "/api/v1/clusters/c2?resourceVersion=2", ad, nil), http.StatusNoContent)
	})
}

func TestAudit(t *testing.T) {
	each(t, func(t *testing.T, db dbURL) {
		f := newFixture(t, db, Options{})
		ad := f.tokens["acme/admin"]
		r := f.do("GET", "/api/v1/audit?limit=2", ad, nil)
		f.want(r, http.StatusOK)
		var l AuditList
		if err := json.Unmarshal(r.body, &l); err != nil || len(l.Items) != 2 || l.Next == 0 {
			t.Fatalf("audit %s", r.body)
		}
		var all []audit.Exported
		after := int64(0)
		for {
			r = f.do("GET", fmt.Sprintf("/api/v1/audit?after=%d&limit=2", after), ad, nil)
			f.want(r, http.StatusOK)
			var l AuditList
			if err := json.Unmarshal(r.body, &l); err != nil {
				t.Fatal(err)
			}
			all = append(all, l.Items...)
			if l.Next == 0 {
				break
			}
			after = l.Next
		}
		want, err := f.store.AuditRecords(t.Context(), "acme", storePage(1000))
		if err != nil || len(all) != len(want.Items) || len(all) < 3 {
			t.Fatalf("paged %d records, store has %d (%v)", len(all), len(want.Items), err)
		}
		for i, e := range all {
			if e.Tenant != "acme" || e.Seq != want.Items[i].Seq {
				t.Fatalf("record %d: %+v", i, e)
			}
		}
		// The system admin sees every tenant's records and the installation's.
		r = f.do("GET", "/api/v1/audit?limit=1000", f.tokens["root/system"], nil)
		var sys AuditList
		if err := json.Unmarshal(r.body, &sys); err != nil || len(sys.Items) <= len(all) {
			t.Fatalf("system admin: %d records, tenant %d", len(sys.Items), len(all))
		}

		f.want(f.do("GET", "/api/v1/audit/checkpoint", ad, nil), http.StatusNotFound)
		seq := all[0].Seq
		f.want(f.do("GET", fmt.Sprintf("/api/v1/audit/%d/proof", seq), ad, nil), http.StatusConflict)
		f.checkpoint()
		r = f.do("GET", "/api/v1/audit/checkpoint", ad, nil)
		f.want(r, http.StatusOK)
		r = f.do("GET", fmt.Sprintf("/api/v1/audit/%d/proof", seq), ad, nil)
		f.want(r, http.StatusOK)
		var p Proof
		if err := json.Unmarshal(r.body, &p); err != nil {
			t.Fatal(err)
		}
		c, err := audit.OpenCheckpoint([]byte(p.Checkpoint), f.key.Verifier)
		if err != nil {
			t.Fatalf("checkpoint: %v", err)
		}
		rec, err := p.Record.Record()
		if err != nil {
			t.Fatal(err)
		}
		if err := audit.CheckInclusion(proofOf(t, p.Hashes), c, seq, audit.Leaf(rec.Body)); err != nil {
			t.Fatalf("proof: %v", err)
		}
		f.want(f.do("GET", "/api/v1/audit/x/proof", ad, nil), http.StatusBadRequest)
	})
}

func TestPublic(t *testing.T) {
	f := newFixture(t, sqliteURL, Options{Version: "v1.2.3"})
	r := f.do("GET", "/api/v1/version", "", nil)
	f.want(r, http.StatusOK)
	if !strings.Contains(string(r.body), "v1.2.3") {
		t.Fatalf("version %s", r.body)
	}
	f.want(f.do("GET", "/api/v1/health", "", nil), http.StatusOK)
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, sqliteURL, Options{RequestsPerMinute: 60, BurstSize: 2})
	v := f.tokens["acme/viewer"]
	f.want(f.do("GET", "/api/v1/scalers", v, nil), http.StatusOK)
	f.want(f.do("GET", "/api/v1/scalers", v, nil), http.StatusOK)
	r := f.do("GET", "/api/v1/scalers", v, nil)
	f.want(r, http.StatusTooManyRequests)
	if r.header.Get("Retry-After") != "1" || r.err().Code != CodeRateLimited {
		t.Fatalf("Retry-After %q, %s", r.header.Get("Retry-After"), r.body)
	}
	// Another token has its own bucket.
	f.want(f.do("GET", "/api/v1/scalers", f.tokens["acme/admin"], nil), http.StatusOK)
	// A second later (the injected clock), one more.
	f.now = f.now.Add(time.Second)
	f.want(f.do("GET", "/api/v1/scalers", v, nil), http.StatusOK)
}

// TestIsolation sends every route of the table with acme's admin token
// and globex's names: each answers as if globex's object did not exist,
// and no answer holds anything of globex.
func TestIsolation(t *testing.T) {
	each(t, func(t *testing.T, db dbURL) {
		f := newFixture(t, db, Options{RequestsPerMinute: -1}) // about 100 requests of one token
		gl := f.tokens["globex/admin"]
		// Objects only globex has.
		f.want(f.do("POST", "/api/v1/clusters", gl, ClusterBody{ID: "gx-cluster", Name: "gx"}), http.StatusCreated)
		b := scalerBody("gx-scaler")
		b.Cluster, b.Namespace = "gx-cluster", "marker-ns"
		f.want(f.do("POST", "/api/v1/scalers", gl, b), http.StatusCreated)
		r := f.do("POST", "/api/v1/scalers/gx-scaler/events", gl, EventBody{ID: "gx-event", Time: time.Now(), Reason: "marker-reason"})
		f.want(r, http.StatusCreated)
		f.want(f.do("POST", "/api/v1/budgets", gl, BudgetBody{ID: "gx-budget", Name: "marker-budget", Scope: "namespace", Namespace: "marker-ns", MonthlyAmount: "10"}), http.StatusCreated)
		var ack EventAck
		_ = json.Unmarshal(r.body, &ack)
		f.checkpoint()
		gxToken, err := auth.Parse(gl)
		if err != nil {
			t.Fatal(err)
		}

		ad := f.tokens["acme/admin"]
		// Every route of the table with acme's token and globex's names;
		// then every mirrored route in acme's own tenant (the same), and
		// in globex's (404, whatever the route).
		passes := []struct{ name, tenant string }{{"own", ""}, {"mirror-own", "acme"}, {"mirror-other", "globex"}}
		for _, pass := range passes {
			for _, rt := range allRoutes() {
				if rt.mirrored != (pass.tenant != "") {
					continue
				}
				method, path, _ := strings.Cut(rt.pattern, " ")
				tenant := pass.tenant
				if tenant == "" {
					tenant = "globex" // GET /api/v1/tenants/{tenant}
				}
				path = strings.NewReplacer("{tenant}", tenant, "{name}", "gx-scaler", "{id}", "gx-cluster", "{seq}", fmt.Sprint(ack.Seq), "{token}", gxToken.ID, "{budget}", "gx-budget").Replace(path)
				body := isolationBody(method, path, pass.name)
				t.Run(pass.name+"/"+rt.pattern, func(t *testing.T) {
					r := f.do(method, path, ad, body)
					hasParam := strings.Contains(strings.TrimPrefix(rt.pattern, method+" "+mirrorPrefix), "{")
					switch {
					case pass.tenant == "globex":
						// Another tenant's path: not found, as a tenant
						// that does not exist.
						if r.status != http.StatusNotFound {
							t.Fatalf("status %d, want 404: %s", r.status, r.body)
						}
					case rt.action == auth.SystemRead || rt.action == auth.SystemWrite:
						// The installation's routes hold no tenant's data: a
						// tenant's admin is refused them.
						if r.status != http.StatusForbidden {
							t.Fatalf("status %d, want 403: %s", r.status, r.body)
						}
					case hasParam:
						if r.status != http.StatusNotFound {
							t.Fatalf("status %d, want 404: %s", r.status, r.body)
						}
					case r.status >= 400:
						t.Fatalf("status %d: %s", r.status, r.body)
					}
					if strings.Contains(string(r.body), "marker-") || strings.Contains(string(r.body), `"tenant":"globex"`) || strings.Contains(string(r.body), `"`+gxToken.ID+`"`) {
						t.Fatalf("globex in acme's answer: %s", r.body)
					}
				})
			}
		}
		// A tenant that does not exist is the same 404 for a tenant's
		// token; a system admin gets 404 too (no such tenant).
		f.want(f.do("GET", "/api/v1/tenants/nope/scalers", ad, nil), http.StatusNotFound)
		f.want(f.do("GET", "/api/v1/tenants/nope/scalers", f.tokens["root/system"], nil), http.StatusNotFound)
		f.want(f.do("GET", "/api/v1/tenants/NOT_A_TENANT/scalers", f.tokens["root/system"], nil), http.StatusNotFound)
		// Nothing of globex changed.
		sc, err := f.store.Scaler(t.Context(), "globex", "gx-scaler")
		if err != nil || sc.ResourceVersion != 1 {
			t.Fatalf("globex's scaler: %+v %v", sc, err)
		}
		if l, err := f.store.Clusters(t.Context(), "globex", storePage(100)); err != nil || len(l.Items) != 2 {
			t.Fatalf("globex's clusters: %+v %v", l.Items, err)
		}
	})
}

// isolationBody is what TestIsolation sends to a route: creates (no
// name in the path) create acme's own objects, named after the pass.
func isolationBody(method, path, pass string) any {
	if method == "GET" || method == "DELETE" {
		return nil
	}
	switch {
	case method == "POST" && strings.HasSuffix(path, "/events"):
		return EventBody{ID: "gx-event", Time: time.Now()}
	case strings.HasSuffix(path, "/scalers"):
		return scalerBody("acme-new-" + pass)
	case strings.HasSuffix(path, "/clusters"):
		return ClusterBody{ID: "acme-new-" + pass, Name: "new"}
	case strings.HasSuffix(path, "/tokens"):
		return TokenBody{Name: "new", Role: "viewer"}
	case strings.HasSuffix(path, "/tenants"):
		return TenantBody{ID: "acme-new-" + pass}
	case strings.HasSuffix(path, "/status"):
		return `{"currentReplicas": 1}`
	case strings.Contains(path, "/scalers"):
		return scalerBody("gx-scaler")
	case strings.Contains(path, "/clusters"):
		return ClusterBody{ID: "gx-cluster", Name: "gx"}
	case strings.HasSuffix(path, "/budgets"):
		return BudgetBody{ID: "acme-new-" + pass, Scope: "tenant", MonthlyAmount: "1"}
	case strings.Contains(path, "/budgets/"):
		return BudgetBody{Scope: "tenant", MonthlyAmount: "1"}
	}
	return nil
}

// pageTokenOf is the nextPageToken of a list's first page.
func pageTokenOf(t testing.TB, f *fixture, path, token string) string {
	t.Helper()
	r := f.do("GET", path, token, nil)
	f.want(r, http.StatusOK)
	var l List[json.RawMessage]
	if err := json.Unmarshal(r.body, &l); err != nil || l.NextPageToken == "" {
		t.Fatalf("no next page of %s: %s", path, r.body)
	}
	return l.NextPageToken
}

func TestTokens(t *testing.T) {
	each(t, func(t *testing.T, db dbURL) {
		f := newFixture(t, db, Options{})
		ad := f.tokens["acme/admin"]
		f.want(f.do("POST", "/api/v1/tokens", f.tokens["acme/operator"], TokenBody{Name: "x", Role: "viewer"}), http.StatusForbidden)
		r := f.do("POST", "/api/v1/tokens", ad, TokenBody{Name: "agent", Role: "operator", Scopes: []string{"events"}})
		f.want(r, http.StatusCreated)
		var nt NewToken
		if err := json.Unmarshal(r.body, &nt); err != nil || nt.Secret == "" || nt.Role != "operator" {
			t.Fatalf("new token %s", r.body)
		}
		ev := EventBody{ID: "e1", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), ToReplicas: 2}
		f.want(f.do("POST", "/api/v1/scalers/web/events", nt.Secret, ev), http.StatusCreated)
		f.want(f.do("GET", "/api/v1/scalers", nt.Secret, nil), http.StatusForbidden) // not in its scopes

		r = f.do("GET", "/api/v1/tokens", ad, nil)
		f.want(r, http.StatusOK)
		secret := nt.Secret[len(nt.Secret)-41 : len(nt.Secret)-9]
		if strings.Contains(string(r.body), secret) || strings.Contains(strings.ToLower(string(r.body)), "hash") {
			t.Fatalf("list shows a secret: %s", r.body)
		}
		var l List[Token]
		if err := json.Unmarshal(r.body, &l); err != nil || len(l.Items) != 4 {
			t.Fatalf("tokens %s", r.body)
		}
		f.want(f.do("DELETE", "/api/v1/tokens/"+nt.ID, ad, nil), http.StatusOK)
		f.want(f.do("DELETE", "/api/v1/tokens/"+nt.ID, ad, nil), http.StatusConflict)
		f.want(f.do("POST", "/api/v1/scalers/web/events", nt.Secret, ev), http.StatusUnauthorized)

		for name, c := range map[string]struct {
			body  any
			field string
		}{
			"no name":      {TokenBody{Role: "viewer"}, "name"},
			"bad role":     {TokenBody{Name: "x", Role: "root"}, "role"},
			"bad scope":    {TokenBody{Name: "x", Role: "viewer", Scopes: []string{"events", "nope"}}, "scopes[1]"},
			"past":         {TokenBody{Name: "x", Role: "viewer", ExpiresAt: &f.now}, "expiresAt"},
			"system admin": {`{"name":"x","role":"admin","systemAdmin":true}`, "systemAdmin"},
		} {
			t.Run(name, func(t *testing.T) {
				r := f.do("POST", "/api/v1/tokens", ad, c.body)
				f.want(r, http.StatusBadRequest)
				if r.err().Field != c.field {
					t.Fatalf("field %q, want %q: %s", r.err().Field, c.field, r.body)
				}
			})
		}
	})
}

// TestNoSecretsLogged: nothing the API logs or answers holds a token's
// secret, whatever tokens are sent.
func TestNoSecretsLogged(t *testing.T) {
	var logs strings.Builder
	f := newFixture(t, sqliteURL, Options{Logger: slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	tok := f.tokens["acme/admin"]
	p, err := auth.Parse(tok)
	if err != nil {
		t.Fatal(err)
	}
	secret := tok[len("hpa_acme_"+p.ID+"_") : len(tok)-9]
	var answers strings.Builder
	for _, sent := range []string{tok, tok + "x", strings.Replace(tok, "hpa_acme", "hpa_globex", 1), "hpa_acme_" + p.ID + "_" + secret + "_00000000"} {
		r := f.do("GET", "/api/v1/scalers", sent, nil)
		answers.Write(r.body)
	}
	// A store that fails: the 503 path.
	if err := f.store.Close(); err != nil {
		t.Fatal(err)
	}
	r := f.do("GET", "/api/v1/health", "", nil)
	if r.status != http.StatusServiceUnavailable {
		t.Log(logs.String())
	}
	f.want(r, http.StatusServiceUnavailable)
	if r.header.Get("Retry-After") == "" || r.err().Code != CodeUnavailable {
		t.Fatalf("closed store: %v %s", r.header, r.body)
	}
	// Every read of a closed store is ErrClosed: 503, not a 500.
	for _, path := range []string{"/api/v1/scalers", "/api/v1/tenants/acme/scalers/web/metrics", "/api/v1/openapi.json"} {
		r = f.do("GET", path, tok, nil)
		answers.Write(r.body)
		if want := http.StatusServiceUnavailable; path != "/api/v1/openapi.json" && r.status != want {
			t.Errorf("GET %s of a closed store: %d, want %d: %s", path, r.status, want, r.body)
		}
	}
	if strings.Contains(logs.String(), secret) || strings.Contains(answers.String(), secret) {
		t.Fatalf("a secret in the logs or answers:\n%s\n%s", logs.String(), answers.String())
	}
}

func TestSystemAdminProof(t *testing.T) {
	f := newFixture(t, sqliteURL, Options{})
	f.checkpoint()
	sys := f.tokens["root/system"]
	// Seq 1 is the installation's (tenant.create of acme): only the
	// system admin has it.
	f.want(f.do("GET", "/api/v1/audit/1/proof", sys, nil), http.StatusOK)
	f.want(f.do("GET", "/api/v1/audit/1/proof", f.tokens["acme/admin"], nil), http.StatusNotFound)
	f.want(f.do("GET", "/api/v1/audit/100000/proof", sys, nil), http.StatusNotFound)
}

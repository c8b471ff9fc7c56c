package agentsvc

import (
	"context"
	"encoding/hex"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
	agentv1 "github.com/hpa-autoscaler/hpa-autoscaler/proto/agent/v1"
)

// principal authenticates the call's "authorization: Bearer <token>".
func (s *Service) principal(ctx context.Context) (auth.Principal, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) != 1 {
		return auth.Principal{}, status.Error(codes.Unauthenticated, "authorization: want one \"Bearer <token>\" metadata value")
	}
	tok, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok || tok == "" {
		return auth.Principal{}, status.Error(codes.Unauthenticated, "authorization: want \"Bearer <token>\"")
	}
	p, err := s.o.Auth.Authenticate(ctx, strings.TrimSpace(tok))
	if err != nil {
		return auth.Principal{}, grpcErr("authorization", err)
	}
	return p, nil
}

// authorizeCluster checks that p may do a (for a token without a cluster
// binding) or is bound to cluster (an agent token, which may then read
// its recommendations and report its events), and returns the cluster
// (the binding's when cluster is "").
func authorizeCluster(p auth.Principal, a auth.Action, cluster string) (string, error) {
	if bound, ok := auth.BoundCluster(p); ok {
		if cluster == "" {
			cluster = bound
		}
		if cluster != bound {
			return "", status.Errorf(codes.PermissionDenied, "cluster_id %q: the token is bound to another cluster", clip(cluster))
		}
		if err := auth.Authorize(p, auth.AgentConnect, auth.Resource{Tenant: p.Tenant, Kind: "cluster", Name: cluster}); err != nil {
			return "", grpcErr("authorize", err)
		}
		return cluster, nil
	}
	if err := auth.Authorize(p, a, auth.Resource{Tenant: p.Tenant, Kind: "cluster", Name: cluster}); err != nil {
		return "", grpcErr("authorize", err)
	}
	return cluster, nil
}

// checkRef checks a Scaler's namespace and name as the agent sends them.
func checkRef(nsField, nameField, ns, name string) error {
	switch {
	case ns == "":
		return invalid(nsField, "required")
	case strings.Contains(ns, "."):
		return invalid(nsField, "%q: a namespace has no dot", clip(ns))
	case len(ns) > 63:
		return invalid(nsField, "longer than 63 characters")
	case name == "":
		return invalid(nameField, "required")
	case len(name) > 253-64:
		return invalid(nameField, "longer than 189 characters")
	}
	return nil
}

// GetScalingRecommendation implements agentv1.AgentServiceServer.
func (s *Service) GetScalingRecommendation(ctx context.Context, req *agentv1.ScalingRequest) (*agentv1.ScalingResponse, error) {
	p, err := s.principal(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkRef("namespace", "scaler_name", req.GetNamespace(), req.GetScalerName()); err != nil {
		return nil, err
	}
	cluster, err := authorizeCluster(p, auth.ScalersRead, req.GetClusterId())
	if err != nil {
		return nil, err
	}
	if cluster == "" {
		return nil, invalid("cluster_id", "required")
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.RPCTimeout)
	defer cancel()
	ref := ScalerRef{Tenant: p.Tenant, Cluster: cluster, Namespace: req.GetNamespace(), Name: req.GetScalerName()}
	sc, err := s.o.Store.Scaler(ctx, p.Tenant, ref.StoreName())
	if err != nil {
		return nil, grpcErr("scaler", err)
	}
	if sc.Cluster != cluster {
		return nil, status.Errorf(codes.NotFound, "scaler %s/%s of cluster %q: not found", clip(ref.Namespace), clip(ref.Name), clip(cluster))
	}
	r, err := s.recommendation(ctx, ref, s.o.Clock.Now())
	if err != nil {
		return nil, grpcErr("recommendation", err)
	}
	return &agentv1.ScalingResponse{Recommendation: r}, nil
}

// checkEvent checks a ScalingEvent as the REST API checks a posted one.
func checkEvent(prefix string, e *agentv1.ScalingEvent) error {
	switch {
	case e.GetId() == "":
		return invalid(prefix+"id", "required")
	case len(e.GetId()) > 253:
		return invalid(prefix+"id", "longer than 253 characters")
	case e.GetTime() == nil || !e.GetTime().IsValid() || e.GetTime().AsTime().IsZero():
		return invalid(prefix+"time", "required")
	case e.GetFromReplicas() < 0:
		return invalid(prefix+"from_replicas", "%d: want at least 0", e.GetFromReplicas())
	case e.GetToReplicas() < 0:
		return invalid(prefix+"to_replicas", "%d: want at least 0", e.GetToReplicas())
	case len(e.GetRule()) > 256:
		return invalid(prefix+"rule", "longer than 256 characters")
	case len(e.GetReason()) > 4096:
		return invalid(prefix+"reason", "longer than 4096 characters")
	}
	return checkRef(prefix+"namespace", prefix+"scaler_name", e.GetNamespace(), e.GetScalerName())
}

func storeEvent(e *agentv1.ScalingEvent) store.ScalingEvent {
	return store.ScalingEvent{ID: e.GetId(), Scaler: e.GetNamespace() + "." + e.GetScalerName(), Time: e.GetTime().AsTime(),
		FromReplicas: e.GetFromReplicas(), ToReplicas: e.GetToReplicas(), Rule: e.GetRule(), Reason: e.GetReason()}
}

// ReportScalingEvent implements agentv1.AgentServiceServer: the twin of
// POST /api/v1/scalers/{name}/events, idempotent by id.
func (s *Service) ReportScalingEvent(ctx context.Context, e *agentv1.ScalingEvent) (*agentv1.EventAcknowledgment, error) {
	p, err := s.principal(ctx)
	if err != nil {
		return nil, err
	}
	if err := checkEvent("", e); err != nil {
		return nil, err
	}
	cluster, err := authorizeCluster(p, auth.EventsWrite, e.GetClusterId())
	if err != nil {
		return nil, err
	}
	if cluster == "" {
		return nil, invalid("cluster_id", "required")
	}
	ctx, cancel := context.WithTimeout(ctx, s.o.RPCTimeout)
	defer cancel()
	want := storeEvent(e)
	var ev store.ScalingEvent
	var created bool
	err = s.o.Store.Update(ctx, p.Tenant, p.Actor(), func(tx store.Tx) error {
		sc, err := tx.Scaler(want.Scaler)
		if err != nil {
			return err
		}
		if sc.Cluster != cluster {
			return status.Errorf(codes.NotFound, "scaler %s/%s of cluster %q: not found", clip(e.GetNamespace()), clip(e.GetScalerName()), clip(cluster))
		}
		ev, created, err = tx.RecordEvent(want)
		return err
	})
	if err != nil {
		return nil, grpcErr("event", err)
	}
	if !created && ev.Scaler != want.Scaler {
		return nil, status.Error(codes.AlreadyExists, "id: already recorded for another scaler")
	}
	return &agentv1.EventAcknowledgment{Id: ev.ID, AuditSeq: ev.AuditSeq, Created: created, ChainHash: hex.EncodeToString(ev.AuditChain[:])}, nil
}

// HealthCheck implements agentv1.AgentServiceServer: no credential (as
// GET /api/v1/health); SERVING when the database answers.
func (s *Service) HealthCheck(ctx context.Context, _ *agentv1.HealthRequest) (*agentv1.HealthResponse, error) {
	ctx, cancel := context.WithTimeout(ctx, s.o.RPCTimeout)
	defer cancel()
	r := &agentv1.HealthResponse{Status: agentv1.HealthResponse_SERVING, Version: s.o.Version, Database: "ok", ConnectedAgents: int32(s.ConnectedAgents())}
	if s.ctx.Err() != nil {
		r.Status, r.Database = agentv1.HealthResponse_NOT_SERVING, "shutting down"
		return r, nil
	}
	if _, err := s.o.Store.Admin().Head(ctx); err != nil {
		r.Status, r.Database = agentv1.HealthResponse_NOT_SERVING, "unavailable: "+err.Error()
	}
	return r, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

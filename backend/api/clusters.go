package api

import (
	"net/http"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// ClusterBody is a cluster as clients send it.
type ClusterBody struct {
	ID              string            `json:"id"`
	Name            string            `json:"name"`
	Labels          map[string]string `json:"labels,omitempty"`
	ResourceVersion int64             `json:"resourceVersion,omitempty"`
}

// Cluster is a cluster as the API answers it.
type Cluster struct {
	ClusterBody
	CreatedAt time.Time `json:"createdAt"`
	UpdatedAt time.Time `json:"updatedAt"`
}

func clusterOut(c store.Cluster) Cluster {
	return Cluster{ClusterBody: ClusterBody{ID: c.ID, Name: c.Name, Labels: c.Labels, ResourceVersion: c.ResourceVersion},
		CreatedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt}
}

func listClusters(s *server, r *request) (int, any, error) {
	p, err := pageOf(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	l, err := s.o.Store.Clusters(r.Context(), r.tenant, p)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, listOut(l, clusterOut), nil
}

func getCluster(s *server, r *request) (int, any, error) {
	c, err := s.o.Store.Cluster(r.Context(), r.tenant, r.PathValue("id"))
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, clusterOut(c), nil
}

func createCluster(s *server, r *request) (int, any, error) {
	b, err := decode[ClusterBody](r.Request, s.o.MaxBodyBytes)
	if err != nil {
		return 0, nil, err
	}
	if b.ID == "" {
		return 0, nil, invalid("id", "required")
	}
	if b.Name == "" {
		return 0, nil, invalid("name", "required")
	}
	if b.ResourceVersion != 0 {
		return 0, nil, invalid("resourceVersion", "not on create")
	}
	var out store.Cluster
	err = s.o.Store.Update(r.Context(), r.tenant, r.actor(), func(tx store.Tx) error {
		var err error
		out, err = tx.CreateCluster(store.Cluster{ID: b.ID, Name: b.Name, Labels: b.Labels})
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusCreated, clusterOut(out), nil
}

func putCluster(s *server, r *request) (int, any, error) {
	id := r.PathValue("id")
	b, err := decode[ClusterBody](r.Request, s.o.MaxBodyBytes)
	if err != nil {
		return 0, nil, err
	}
	if b.ID == "" {
		b.ID = id
	}
	if b.ID != id {
		return 0, nil, invalid("id", "%q is not the id of the path, %q", clip(b.ID), clip(id))
	}
	if b.Name == "" {
		return 0, nil, invalid("name", "required")
	}
	var out store.Cluster
	err = s.o.Store.Update(r.Context(), r.tenant, r.actor(), func(tx store.Tx) error {
		rv := b.ResourceVersion
		if rv == 0 {
			cur, err := tx.Cluster(id)
			if err != nil {
				return err
			}
			rv = cur.ResourceVersion
		}
		var err error
		out, err = tx.UpdateCluster(store.Cluster{ID: id, Name: b.Name, Labels: b.Labels, ResourceVersion: rv})
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, clusterOut(out), nil
}

func deleteCluster(s *server, r *request) (int, any, error) {
	rv, err := resourceVersionOf(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	err = s.o.Store.Update(r.Context(), r.tenant, r.actor(), func(tx store.Tx) error {
		return tx.DeleteCluster(r.PathValue("id"), rv)
	})
	if err != nil {
		return 0, nil, err
	}
	return http.StatusNoContent, nil, nil
}

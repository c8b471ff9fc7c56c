package api

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/audit"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// AuditList is a page of audit records.
type AuditList struct {
	Items []audit.Exported `json:"items"`
	// Next is the after= of the next page (0 after the last).
	Next int64 `json:"next,omitempty"`
}

// auditPageToken is the store's page token of its audit list after seq
// (its documented layout: version 1, list 6, empty filter, uvarint seq);
// TestAudit checks that after= pages through the same records as the store.
func auditPageToken(seq int64) string {
	if seq <= 0 {
		return ""
	}
	b := binary.AppendUvarint([]byte{1, 6, 0}, uint64(seq))
	return base64.RawURLEncoding.EncodeToString(b)
}

func listAudit(s *server, r *request) (int, any, error) {
	after, limit, err := auditQuery(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	var recs []audit.Record
	if r.p.SystemAdmin && !r.mirrored {
		// The whole log, every tenant's records and the installation's.
		rs, err := s.o.Store.Admin().Log(r.Context(), after+1, limit)
		if err != nil {
			return 0, nil, err
		}
		recs = rs
	} else {
		l, err := s.o.Store.AuditRecords(r.Context(), r.tenant, store.Page{Token: auditPageToken(after), Limit: limit})
		if err != nil {
			return 0, nil, err
		}
		recs = l.Items
	}
	out := AuditList{Items: make([]audit.Exported, 0, len(recs))}
	for i := range recs {
		out.Items = append(out.Items, recs[i].Export())
	}
	if len(recs) == limit {
		out.Next = recs[len(recs)-1].Seq
	}
	return http.StatusOK, out, nil
}

// CheckpointOut is the latest signed checkpoint (a C2SP note).
type CheckpointOut struct {
	TreeSize int64  `json:"treeSize"`
	Note     string `json:"note"`
}

func getCheckpoint(s *server, r *request) (int, any, error) {
	// A checkpoint reveals nothing of any record: every tenant may read it.
	c, err := s.o.Store.Admin().LatestCheckpoint(r.Context())
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return 0, nil, notFound("no checkpoint signed yet")
		}
		return 0, nil, err
	}
	return http.StatusOK, CheckpointOut{TreeSize: c.TreeSize, Note: string(c.Note)}, nil
}

// Proof is the inclusion proof of a record in the latest checkpoint.
type Proof struct {
	Record     audit.Exported `json:"record"`
	TreeSize   int64          `json:"treeSize"`
	Checkpoint string         `json:"checkpoint"`
	Hashes     []string       `json:"hashes"`
}

func getProof(s *server, r *request) (int, any, error) {
	v := r.PathValue("seq")
	seq, err := strconv.ParseInt(v, 10, 64)
	if err != nil || seq < 1 {
		return 0, nil, invalid("seq", "%q: want a seq (1 or more)", clip(v))
	}
	var rec audit.Record
	if r.p.SystemAdmin && !r.mirrored {
		rs, err := s.o.Store.Admin().Log(r.Context(), seq, 1)
		if err != nil {
			return 0, nil, err
		}
		if len(rs) == 0 || rs[0].Seq != seq {
			return 0, nil, notFound("audit record %d not found", seq)
		}
		rec = rs[0]
	} else if rec, err = s.o.Store.AuditRecord(r.Context(), r.tenant, seq); err != nil {
		return 0, nil, err
	}
	c, err := s.o.Store.Admin().LatestCheckpoint(r.Context())
	if errors.Is(err, store.ErrNotFound) || err == nil && c.TreeSize < seq {
		return 0, nil, &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "no checkpoint covers this record yet: retry later"}
	}
	if err != nil {
		return 0, nil, err
	}
	p, err := audit.ProveInclusion(seq, c.TreeSize, s.o.Store.Admin().Hashes(r.Context()))
	if err != nil {
		return 0, nil, err
	}
	out := Proof{Record: rec.Export(), TreeSize: c.TreeSize, Checkpoint: string(c.Note), Hashes: make([]string, len(p))}
	for i, h := range p {
		out.Hashes[i] = hex.EncodeToString(h[:])
	}
	return http.StatusOK, out, nil
}

func health(s *server, r *request) (int, any, error) {
	if _, err := s.o.Store.Admin().Head(r.Context()); err != nil {
		// ErrUnavailable and ErrClosed are 503; anything else a 500.
		return 0, nil, err
	}
	return http.StatusOK, map[string]string{"status": "ok"}, nil
}

func version(s *server, r *request) (int, any, error) {
	return http.StatusOK, map[string]string{"version": s.o.Version}, nil
}

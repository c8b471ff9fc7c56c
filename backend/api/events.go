package api

import (
	"encoding/hex"
	"net/http"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
)

// EventBody is a scaling event as an agent posts it.
type EventBody struct {
	ID           string    `json:"id"`
	Time         time.Time `json:"time"`
	FromReplicas int32     `json:"fromReplicas"`
	ToReplicas   int32     `json:"toReplicas"`
	Rule         string    `json:"rule"`
	Reason       string    `json:"reason"`
}

// EventAck is the answer to a posted event, sent once it is durable.
type EventAck struct {
	Seq       int64  `json:"seq"`
	ChainHash string `json:"chainHash"`
}

// Event is an event as listed.
type Event struct {
	EventBody
	Scaler string `json:"scaler"`
	Seq    int64  `json:"seq"`
}

func validateEvent(b *EventBody) error {
	switch {
	case b.ID == "":
		return invalid("id", "required")
	case len(b.ID) > 253:
		return invalid("id", "longer than 253 characters")
	case b.Time.IsZero():
		return invalid("time", "required (RFC 3339)")
	case b.FromReplicas < 0:
		return invalid("fromReplicas", "%d: want at least 0", b.FromReplicas)
	case b.ToReplicas < 0:
		return invalid("toReplicas", "%d: want at least 0", b.ToReplicas)
	}
	return nil
}

func postEvent(s *server, r *request) (int, any, error) {
	name := r.PathValue("name")
	b, err := decode[EventBody](r.Request, s.o.MaxBodyBytes)
	if err != nil {
		return 0, nil, err
	}
	if err := validateEvent(&b); err != nil {
		return 0, nil, err
	}
	var ev store.ScalingEvent
	var created bool
	err = s.o.Store.Update(r.Context(), r.tenant, r.actor(), func(tx store.Tx) error {
		if err := tx.HasScaler(name); err != nil {
			return err
		}
		var err error
		ev, created, err = tx.RecordEvent(store.ScalingEvent{ID: b.ID, Scaler: name, Time: b.Time,
			FromReplicas: b.FromReplicas, ToReplicas: b.ToReplicas, Rule: b.Rule, Reason: b.Reason})
		return err
	})
	if err != nil {
		return 0, nil, err
	}
	if !created && ev.Scaler != name {
		// An id is the tenant's: reusing one for another scaler is a
		// client's mistake, not a resend.
		return 0, nil, &Error{Status: http.StatusConflict, Code: CodeConflict, Message: "event id already recorded for another scaler", Field: "id"}
	}
	// Update returned after the commit: the event and its record are
	// durable, so the ack may be sent. Its chain hash came from the
	// transaction: no read after the commit can fail an acknowledged
	// write.
	status := http.StatusCreated
	if !created {
		status = http.StatusOK
	}
	return status, EventAck{Seq: ev.AuditSeq, ChainHash: hex.EncodeToString(ev.AuditChain[:])}, nil
}

func listEvents(s *server, r *request) (int, any, error) {
	name := r.PathValue("name")
	p, err := pageOf(r.URL.Query())
	if err != nil {
		return 0, nil, err
	}
	if _, err := s.o.Store.Scaler(r.Context(), r.tenant, name); err != nil {
		return 0, nil, err
	}
	l, err := s.o.Store.Events(r.Context(), r.tenant, store.EventFilter{Scaler: name}, p)
	if err != nil {
		return 0, nil, err
	}
	return http.StatusOK, listOut(l, eventOut), nil
}

package audit

import (
	"encoding/hex"
	"fmt"
	"time"

	"golang.org/x/mod/sumdb/tlog"
)

// Exported is a record as the REST API serves it and as the script of
// docs/audit.md reads it: the columns, the exact body as a JSON string
// (bodies are valid UTF-8, so the string's UTF-8 bytes are the hashed
// bytes), and the hashes in lower-case hex.
type Exported struct {
	Seq       int64  `json:"seq"`
	Time      string `json:"time"` // TimeLayout
	Tenant    string `json:"tenant"`
	Actor     string `json:"actor"`
	Kind      string `json:"kind"`
	Subject   string `json:"subject"`
	Body      string `json:"body"`
	LeafHash  string `json:"leafHash"`
	ChainHash string `json:"chainHash"`
}

// Export returns r as the REST API serves it.
func (r *Record) Export() Exported {
	return Exported{
		Seq:       r.Seq,
		Time:      r.Time.UTC().Format(TimeLayout),
		Tenant:    r.Tenant,
		Actor:     r.Actor,
		Kind:      r.Kind,
		Subject:   r.Subject,
		Body:      string(r.Body),
		LeafHash:  hex.EncodeToString(r.LeafHash[:]),
		ChainHash: hex.EncodeToString(r.ChainHash[:]),
	}
}

// Record converts an exported record back (without its tree hashes),
// e.g. for a client that verifies an inclusion proof of it.
func (e *Exported) Record() (Record, error) {
	t, err := time.Parse(TimeLayout, e.Time)
	if err != nil {
		return Record{}, fmt.Errorf("time %q: want %s", clip(e.Time), TimeLayout)
	}
	r := Record{Seq: e.Seq, Time: t, Tenant: e.Tenant, Actor: e.Actor, Kind: e.Kind, Subject: e.Subject, Body: []byte(e.Body)}
	if r.LeafHash, err = parseHex(e.LeafHash); err != nil {
		return Record{}, fmt.Errorf("leafHash: %w", err)
	}
	if r.ChainHash, err = parseHex(e.ChainHash); err != nil {
		return Record{}, fmt.Errorf("chainHash: %w", err)
	}
	return r, nil
}

func parseHex(s string) (tlog.Hash, error) {
	var h tlog.Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != len(h) {
		return h, fmt.Errorf("%q: want 64 hex digits", clip(s))
	}
	copy(h[:], b)
	return h, nil
}

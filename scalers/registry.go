package scalers

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
)

// Registry maps scaler types to factories. Build one in main, register every
// type, then share it read-only: Register is not safe to call concurrently
// with New.
type Registry struct {
	factories map[string]Factory
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{factories: map[string]Factory{}}
}

// Register adds a scaler type. Registering the same type twice is a
// programming error and returns an error.
func (r *Registry) Register(typ string, f Factory) error {
	if typ == "" || f == nil {
		return fmt.Errorf("register scaler type %q: empty type or nil factory", typ)
	}
	if _, dup := r.factories[typ]; dup {
		return fmt.Errorf("register scaler type %q: already registered", typ)
	}
	r.factories[typ] = f
	return nil
}

// MustRegister is Register for wiring code where a duplicate is a bug.
func (r *Registry) MustRegister(typ string, f Factory) {
	if err := r.Register(typ, f); err != nil {
		panic(err)
	}
}

// Types returns the registered types, sorted.
func (r *Registry) Types() []string {
	return slices.Sorted(maps.Keys(r.factories))
}

// Has reports whether typ is registered.
func (r *Registry) Has(typ string) bool {
	_, ok := r.factories[typ]
	return ok
}

// New builds a scaler of type cfg.Type. An unknown type is an
// ErrInvalidConfig error that lists the known ones.
func (r *Registry) New(ctx context.Context, cfg Config) (Scaler, error) {
	f, ok := r.factories[cfg.Type]
	if !ok {
		return nil, &MetadataError{Errs: []*FieldError{{
			Key:   "scalerType",
			Value: cfg.Type,
			Msg:   "unknown scaler type, expected one of: " + strings.Join(r.Types(), ", "),
		}}}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return f(ctx, cfg)
}

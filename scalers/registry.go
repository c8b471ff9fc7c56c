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
// type (and set its SecretFiles), then share it read-only: Register and
// SetSecretFiles are not safe to call concurrently with New.
type Registry struct {
	types map[string]registered
	files FileAccess
}

type registered struct {
	f             Factory
	defaultTarget func(md map[string]string)
}

// A TypeOption declares more about a registered type than its factory.
type TypeOption func(*registered)

// WithDefaultTarget declares how to fill the target of the type's metadata
// when a scaler built from other scalers (the custom scaler) uses it as a
// source, whose own target is never used: fill sets the type's required
// target key(s) when they are blank (prometheus sets threshold, for
// example), so the type's parser accepts the metadata. A type whose target
// has a default needs none. A composite thus never has to know another
// type's keys.
func WithDefaultTarget(fill func(md map[string]string)) TypeOption {
	return func(r *registered) { r.defaultTarget = fill }
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{types: map[string]registered{}}
}

// Register adds a scaler type. Registering the same type twice is a
// programming error and returns an error.
func (r *Registry) Register(typ string, f Factory, opts ...TypeOption) error {
	if typ == "" || f == nil {
		return fmt.Errorf("register scaler type %q: empty type or nil factory", typ)
	}
	if _, dup := r.types[typ]; dup {
		return fmt.Errorf("register scaler type %q: already registered", typ)
	}
	t := registered{f: f}
	for _, o := range opts {
		o(&t)
	}
	r.types[typ] = t
	return nil
}

// MustRegister is Register for wiring code where a duplicate is a bug.
func (r *Registry) MustRegister(typ string, f Factory, opts ...TypeOption) {
	if err := r.Register(typ, f, opts...); err != nil {
		panic(err)
	}
}

// SetSecretFiles sets which files the <key>File keys of every scaler built
// by New may name (Config.SecretFiles). A new Registry allows none.
func (r *Registry) SetSecretFiles(a FileAccess) { r.files = a }

// FillDefaultTarget fills the target keys of md, metadata of type typ,
// as the type declared with WithDefaultTarget; it does nothing for a type
// that declared none or is not registered.
func (r *Registry) FillDefaultTarget(typ string, md map[string]string) {
	if t, ok := r.types[typ]; ok && t.defaultTarget != nil {
		t.defaultTarget(md)
	}
}

// Types returns the registered types, sorted.
func (r *Registry) Types() []string {
	return slices.Sorted(maps.Keys(r.types))
}

// Has reports whether typ is registered.
func (r *Registry) Has(typ string) bool {
	_, ok := r.types[typ]
	return ok
}

// New builds a scaler of type cfg.Type. An unknown type is an
// ErrInvalidConfig error that lists the known ones.
func (r *Registry) New(ctx context.Context, cfg Config) (Scaler, error) {
	t, ok := r.types[cfg.Type]
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
	cfg.Timeouts = cfg.Timeouts.WithDefaults()
	cfg.Limits = cfg.Limits.WithDefaults()
	// The registry's rule, whoever asks: a composite building its sources
	// here cannot widen it, nor forget to pass it on.
	cfg.SecretFiles = r.files
	return t.f(ctx, cfg)
}

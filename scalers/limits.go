package scalers

import "fmt"

// Defaults of Limits.
const (
	// DefaultMaxListItems bounds a list in metadata: addresses, topics,
	// partitions, queues, sources, headers.
	DefaultMaxListItems = 100
)

// Limits bound what one trigger's metadata may ask of the server. The
// gRPC port is unauthenticated inside the cluster, so a trigger with
// 5,000 seed addresses must be refused when it is parsed, not after 15 s
// of dialling.
type Limits struct {
	// MaxListItems bounds every list a scaler reads from its metadata
	// (0: DefaultMaxListItems).
	MaxListItems int
}

// WithDefaults fills the zero fields.
func (l Limits) WithDefaults() Limits {
	if l.MaxListItems <= 0 {
		l.MaxListItems = DefaultMaxListItems
	}
	return l
}

// CheckList returns a FieldError when a list under key has more than
// MaxListItems items; its message states both numbers, not the value.
func (l Limits) CheckList(key string, n int) *FieldError {
	l = l.WithDefaults()
	if n <= l.MaxListItems {
		return nil
	}
	return &FieldError{Key: key, Missing: true, Msg: fmt.Sprintf("%d items, more than the limit of %d", n, l.MaxListItems)}
}

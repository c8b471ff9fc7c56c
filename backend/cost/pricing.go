package cost

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Prices are on-demand or spot prices per hour, in micro-units: per vCPU
// (one core), per GiB of memory, per GPU.
type Prices struct {
	CPU    Micros `json:"cpu"`
	Memory Micros `json:"memory"`
	GPU    Micros `json:"gpu"`
}

// The built-in prices are OpenCost's defaults (configs/default.json of
// github.com/opencost/opencost, "Default prices based on GCP
// us-central1"): CPU 0.031611 $/vCPU-h, RAM 0.004237 $/GiB-h, GPU 0.95
// $/h, spot CPU 0.006655 and spot RAM 0.000892. OpenCost has no spot GPU
// price: ours is DefaultSpotRatio of the on-demand one (0.1995).
var (
	DefaultOnDemand = Prices{CPU: 31_611, Memory: 4_237, GPU: 950_000}
	DefaultSpot     = Prices{CPU: 6_655, Memory: 892, GPU: 199_500}
)

// DefaultSpotRatio is the spot price as a fraction of on-demand where a
// table gives no spot price: 21% (OpenCost's spot CPU and RAM defaults
// are 21.05% of on-demand).
const DefaultSpotRatio PPM = 210_000

// DefaultCurrency is the currency of the built-in prices.
const DefaultCurrency = "USD"

// CapacityType is how a node pool's nodes are bought.
type CapacityType string

// Capacity types.
const (
	OnDemand CapacityType = "on-demand"
	Spot     CapacityType = "spot"
	Mixed    CapacityType = "mixed"
)

// Pool is a node pool as priced: its prices resolved (the table's where
// the pool gives none), its spot share (0 for on-demand, 1 for spot) and
// its discount off both prices.
type Pool struct {
	Name          string       `json:"name"`
	CapacityType  CapacityType `json:"capacityType"`
	SpotShare     PPM          `json:"spotShare"`
	Discount      PPM          `json:"discount"`
	InstanceTypes []string     `json:"instanceTypes"`
	OnDemand      Prices       `json:"onDemand"`
	Spot          Prices       `json:"spot"`
}

// Table is a price table. Build one with DefaultTable or ParseTable; it is
// immutable and safe for concurrent use.
type Table struct {
	currency string
	pools    []Pool
	// defaultPool is the index of the pool of a workload that names
	// none (and whose instance type no pool lists).
	defaultPool int
	hash        string
	source      string
}

// DefaultTable is the built-in table: OpenCost's default prices, one
// on-demand pool "default".
func DefaultTable() *Table {
	t, err := build(rawTable{}, "built-in")
	if err != nil {
		panic("cost: the built-in price table: " + err.Error())
	}
	return t
}

// Currency is the table's currency code (USD by default).
func (t *Table) Currency() string { return t.currency }

// Hash is the SHA-256 of the table's canonical form (hex): two tables
// with the same resolved prices, pools and currency have the same hash,
// whatever their YAML's layout. Decisions carry it.
func (t *Table) Hash() string { return t.hash }

// Source says where the table came from ("built-in" or the file).
func (t *Table) Source() string { return t.source }

// Pools are the table's pools, in the file's order (a copy).
func (t *Table) Pools() []Pool {
	out := make([]Pool, len(t.pools))
	for i, p := range t.pools {
		p.InstanceTypes = append(make([]string, 0, len(p.InstanceTypes)), p.InstanceTypes...)
		out[i] = p
	}
	return out
}

// Pool returns the pool that prices a workload: the pool named name if
// there is one, else the first pool listing instanceType, else the
// table's default pool.
func (t *Table) Pool(name, instanceType string) Pool {
	if name != "" {
		for _, p := range t.pools {
			if p.Name == name {
				return p
			}
		}
	}
	if instanceType != "" {
		for _, p := range t.pools {
			for _, it := range p.InstanceTypes {
				if it == instanceType {
					return p
				}
			}
		}
	}
	return t.pools[t.defaultPool]
}

// The YAML of a price table (docs/cost.md). Every price and fraction is
// a decimal, quoted or not, read from its text (never through a float).
type rawTable struct {
	Currency    string    `yaml:"currency"`
	OnDemand    rawPrices `yaml:"onDemand"`
	Spot        rawPrices `yaml:"spot"`
	SpotRatio   decimal   `yaml:"spotRatio"`
	DefaultPool string    `yaml:"defaultPool"`
	NodePools   []rawPool `yaml:"nodePools"`
}

type rawPrices struct {
	CPU    decimal `yaml:"cpu"`
	Memory decimal `yaml:"memory"`
	GPU    decimal `yaml:"gpu"`
}

type rawPool struct {
	Name          string    `yaml:"name"`
	CapacityType  string    `yaml:"capacityType"`
	SpotShare     decimal   `yaml:"spotShare"`
	Discount      decimal   `yaml:"discount"`
	InstanceTypes []string  `yaml:"instanceTypes"`
	OnDemand      rawPrices `yaml:"onDemand"`
	Spot          rawPrices `yaml:"spot"`
}

// decimal is a scalar's text as written.
type decimal struct {
	text string
	set  bool
}

func (d *decimal) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a decimal number, not a %s", n.Line, kindOf(n))
	}
	if n.Tag == "!!null" {
		return nil
	}
	d.text, d.set = n.Value, true
	return nil
}

func kindOf(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "mapping"
	case yaml.SequenceNode:
		return "list"
	case yaml.AliasNode:
		return "alias"
	}
	return "scalar"
}

// maxTableBytes bounds a price table file.
const maxTableBytes = 1 << 20

// ReadTable reads and parses a price table file.
func ReadTable(path string) (*Table, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pricing: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxTableBytes+1))
	if err != nil {
		return nil, fmt.Errorf("pricing %s: %w", path, err)
	}
	if len(b) > maxTableBytes {
		return nil, fmt.Errorf("pricing %s: larger than %d bytes", path, maxTableBytes)
	}
	t, err := ParseTable(b)
	if err != nil {
		return nil, fmt.Errorf("pricing %s: %w", path, err)
	}
	t.source = path
	return t, nil
}

// ParseTable parses a price table's YAML strictly: an unknown key, a
// negative, NaN or malformed price, a share or discount outside 0..1, a
// duplicate or unknown pool are errors naming the key; all of them are
// reported (errors.Join). An empty document is the built-in table.
func ParseTable(b []byte) (*Table, error) {
	var raw rawTable
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&raw); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlErr(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	return build(raw, "")
}

// yamlErr makes the decoder's "field x not found in type cost.rawPool"
// say "unknown key x".
func yamlErr(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, 0, len(te.Errors))
		for _, m := range te.Errors {
			if i := strings.Index(m, " not found in type "); i >= 0 {
				m = strings.Replace(m[:i], "field ", "unknown key ", 1)
			}
			msgs = append(msgs, m)
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	return err
}

func build(raw rawTable, source string) (*Table, error) {
	var errs []error
	t := &Table{currency: raw.Currency, source: source}
	if t.currency == "" {
		t.currency = DefaultCurrency
	} else if len(t.currency) != 3 || strings.ToUpper(t.currency) != t.currency || !letters(t.currency) {
		errs = append(errs, fmt.Errorf("currency %q: want an ISO 4217 code like USD", clip(t.currency)))
	}
	ratio := DefaultSpotRatio
	if raw.SpotRatio.set {
		var err error
		if ratio, err = ParsePPM(raw.SpotRatio.text); err != nil {
			errs = append(errs, fmt.Errorf("spotRatio %w", err))
		}
	}
	od := resolve(raw.OnDemand, DefaultOnDemand, "onDemand", &errs)
	var spotBase Prices
	if raw.OnDemand == (rawPrices{}) && !raw.SpotRatio.set {
		spotBase = DefaultSpot // OpenCost's own spot figures with its on-demand ones
	} else {
		spotBase = scale(od, ratio)
	}
	sp := resolve(raw.Spot, spotBase, "spot", &errs)

	if len(raw.NodePools) == 0 {
		raw.NodePools = []rawPool{{Name: "default", CapacityType: string(OnDemand)}}
	}
	names := map[string]bool{}
	for i, rp := range raw.NodePools {
		key := fmt.Sprintf("nodePools[%d]", i)
		p := Pool{Name: rp.Name, CapacityType: CapacityType(rp.CapacityType), InstanceTypes: rp.InstanceTypes}
		switch {
		case rp.Name == "":
			errs = append(errs, fmt.Errorf("%s.name: required", key))
		case len(rp.Name) > 63:
			errs = append(errs, fmt.Errorf("%s.name %q: at most 63 characters", key, clip(rp.Name)))
		case names[rp.Name]:
			errs = append(errs, fmt.Errorf("%s.name %q: a second pool of that name", key, clip(rp.Name)))
		}
		names[rp.Name] = true
		if p.InstanceTypes == nil {
			p.InstanceTypes = []string{}
		}
		for j, it := range p.InstanceTypes {
			if it == "" || len(it) > 128 {
				errs = append(errs, fmt.Errorf("%s.instanceTypes[%d] %q: want 1 to 128 characters", key, j, clip(it)))
			}
		}
		var share PPM
		if rp.SpotShare.set {
			var err error
			if share, err = ParsePPM(rp.SpotShare.text); err != nil {
				errs = append(errs, fmt.Errorf("%s.spotShare %w", key, err))
			}
		}
		switch p.CapacityType {
		case "":
			p.CapacityType = OnDemand
			fallthrough
		case OnDemand:
			if rp.SpotShare.set && share != 0 {
				errs = append(errs, fmt.Errorf("%s.spotShare %s: an on-demand pool has no spot share (use capacityType: mixed)", key, rp.SpotShare.text))
			}
			p.SpotShare = 0
		case Spot:
			if rp.SpotShare.set && share != One {
				errs = append(errs, fmt.Errorf("%s.spotShare %s: a spot pool is all spot (use capacityType: mixed)", key, rp.SpotShare.text))
			}
			p.SpotShare = One
		case Mixed:
			if !rp.SpotShare.set {
				errs = append(errs, fmt.Errorf("%s.spotShare: required for a mixed pool", key))
			}
			p.SpotShare = share
		default:
			errs = append(errs, fmt.Errorf("%s.capacityType %q: want on-demand, spot or mixed", key, clip(rp.CapacityType)))
		}
		if rp.Discount.set {
			d, err := ParsePPM(rp.Discount.text)
			if err != nil {
				errs = append(errs, fmt.Errorf("%s.discount %w", key, err))
			}
			p.Discount = d
		}
		p.OnDemand = resolve(rp.OnDemand, od, key+".onDemand", &errs)
		poolSpot := sp
		if rp.OnDemand != (rawPrices{}) && raw.Spot == (rawPrices{}) {
			poolSpot = scale(p.OnDemand, ratio) // the pool's own on-demand prices, the table's ratio
		}
		p.Spot = resolve(rp.Spot, poolSpot, key+".spot", &errs)
		t.pools = append(t.pools, p)
	}
	if raw.DefaultPool != "" {
		t.defaultPool = -1
		for i, p := range t.pools {
			if p.Name == raw.DefaultPool {
				t.defaultPool = i
			}
		}
		if t.defaultPool < 0 {
			errs = append(errs, fmt.Errorf("defaultPool %q: no pool of that name", clip(raw.DefaultPool)))
			t.defaultPool = 0
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	t.hash = t.canonicalHash()
	return t, nil
}

func letters(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

func resolve(r rawPrices, def Prices, key string, errs *[]error) Prices {
	out := def
	for _, f := range []struct {
		name string
		d    decimal
		dst  *Micros
	}{{"cpu", r.CPU, &out.CPU}, {"memory", r.Memory, &out.Memory}, {"gpu", r.GPU, &out.GPU}} {
		if !f.d.set {
			continue
		}
		v, err := ParseMicros(f.d.text)
		if err != nil {
			*errs = append(*errs, fmt.Errorf("%s.%s %w", key, f.name, err))
			continue
		}
		*f.dst = v
	}
	return out
}

// scale is p × ratio, each price rounded half away from zero.
func scale(p Prices, ratio PPM) Prices {
	f := func(m Micros) Micros {
		return Micros(roundDiv(new(big.Int).Mul(big.NewInt(int64(m)), big.NewInt(int64(ratio))), big.NewInt(int64(One))))
	}
	return Prices{CPU: f(p.CPU), Memory: f(p.Memory), GPU: f(p.GPU)}
}

// canonical is the table as hashed: resolved integers, pools in order,
// the default pool by name. encoding/json writes struct fields in their
// declared order, so the bytes depend on the values only.
type canonical struct {
	Version     int    `json:"v"`
	Currency    string `json:"currency"`
	DefaultPool string `json:"defaultPool"`
	Pools       []Pool `json:"pools"`
}

func (t *Table) canonicalHash() string {
	b, err := json.Marshal(canonical{Version: 1, Currency: t.currency, DefaultPool: t.pools[t.defaultPool].Name, Pools: t.pools})
	if err != nil {
		panic("cost: canonical table: " + err.Error())
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Hour is the period prices are given for.
const Hour = time.Hour

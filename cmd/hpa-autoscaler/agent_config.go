package main

import (
	"errors"
	"fmt"
	"os"
	"reflect"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// agentFile is the design's agent configuration: everything under agent:.
// Keys the agent does not use yet (the collectors, the watchers, the
// batching of the stream) are accepted and documented as such in
// docs/agent.md; an unknown key is an error that names it.
type agentFile struct {
	Agent agentConfig `yaml:"agent"`
}

type agentConfig struct {
	// ClusterID identifies the agent to the backend (--cluster-id);
	// TenantID and AgentVersion are accepted, not used (the token names
	// the tenant; the version is the binary's).
	ClusterID    string `yaml:"clusterID"`
	TenantID     string `yaml:"tenantID"`
	AgentVersion string `yaml:"agentVersion"`
	// Server is the backend link (--backend and --backend-tls-*).
	Server struct {
		Endpoint string `yaml:"endpoint"`
		TLS      struct {
			Enabled    bool   `yaml:"enabled"`
			CertFile   string `yaml:"certFile"`
			KeyFile    string `yaml:"keyFile"`
			CAFile     string `yaml:"caFile"`
			ServerName string `yaml:"serverName"`
		} `yaml:"tls"`
	} `yaml:"server"`
	// Metrics is both of the design's metrics blocks merged (see
	// mergeDuplicateKeys): collection (interval, timeout, collectors)
	// and the agent's own /metrics (enabled, port, endpoint).
	Metrics struct {
		Interval   *duration `yaml:"interval"`
		Timeout    *duration `yaml:"timeout"`
		Collectors struct {
			Resource collector `yaml:"resource"`
			Custom   collector `yaml:"custom"`
		} `yaml:"collectors"`
		Enabled  *bool  `yaml:"enabled"`
		Port     *int   `yaml:"port"`
		Endpoint string `yaml:"endpoint"`
	} `yaml:"metrics"`
	Kubernetes struct {
		// Config is "in-cluster" or the path of a kubeconfig.
		Config   string `yaml:"config"`
		Watchers struct {
			Pods        *bool `yaml:"pods"`
			Nodes       *bool `yaml:"nodes"`
			Deployments *bool `yaml:"deployments"`
			HPA         *bool `yaml:"hpa"`
			PDB         *bool `yaml:"pdb"`
		} `yaml:"watchers"`
	} `yaml:"kubernetes"`
	Safety struct {
		DryRun              *bool  `yaml:"dryRun"`
		MaxScaleUpPercent   *int32 `yaml:"maxScaleUpPercent"`
		MaxScaleDownPercent *int32 `yaml:"maxScaleDownPercent"`
		PDB                 struct {
			RespectPDBs  *bool  `yaml:"respectPDBs"`
			MinAvailable *int32 `yaml:"minAvailable"`
		} `yaml:"pdb"`
	} `yaml:"safety"`
	Performance struct {
		WorkerThreads *int      `yaml:"workerThreads"`
		QueueSize     *int      `yaml:"queueSize"`
		BatchSize     *int      `yaml:"batchSize"`
		FlushInterval *duration `yaml:"flushInterval"`
	} `yaml:"performance"`
	Logging struct {
		Level  string `yaml:"level"`
		Format string `yaml:"format"`
	} `yaml:"logging"`
}

// collector is one of the design's metric collectors (accepted, not used
// yet: the agent reads the sources its Scalers name).
type collector struct {
	Enabled *bool    `yaml:"enabled"`
	Sources []string `yaml:"sources"`
}

// duration is a Go duration string ("15s").
type duration struct{ time.Duration }

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("line %d: expected a duration such as \"15s\"", n.Line)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("line %d: %q: expected a duration such as \"15s\"", n.Line, s)
	}
	d.Duration = v
	return nil
}

// readAgentConfig reads and checks the file.
func readAgentConfig(path string) (*agentConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseAgentConfig(raw)
}

// parseAgentConfig decodes the agent configuration strictly: every key
// must be known, each error names the key's path and line. The design's
// example has metrics twice under agent (the collection settings, then
// the agent's own endpoint); the two blocks are merged when they share no
// key, an error naming the key when they do.
func parseAgentConfig(raw []byte) (*agentConfig, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, errors.New("empty: expected the agent: block")
	}
	root := doc.Content[0]
	if err := mergeDuplicateKeys(root, "agent", "metrics"); err != nil {
		return nil, err
	}
	if err := checkKeys(root, reflect.TypeFor[agentFile](), ""); err != nil {
		return nil, err
	}
	var f agentFile
	if err := root.Decode(&f); err != nil {
		return nil, err
	}
	c := &f.Agent
	return c, c.validate()
}

// checkKeys reports every key of n that t (a struct, through pointers)
// has no yaml field for, and every duration that does not parse, each
// with its path and line.
func checkKeys(n *yaml.Node, t reflect.Type, path string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == reflect.TypeFor[duration]() {
		var s string
		if n.Kind != yaml.ScalarNode || n.Decode(&s) != nil {
			return fmt.Errorf("line %d: %s: expected a duration such as \"15s\"", n.Line, path)
		}
		if _, err := time.ParseDuration(s); err != nil {
			return fmt.Errorf("line %d: %s %q: expected a duration such as \"15s\"", n.Line, path, s)
		}
		return nil
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return nil
		}
		return fmt.Errorf("line %d: %s: expected a mapping", n.Line, strings.TrimPrefix(path, "."))
	}
	fields := map[string]reflect.Type{}
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
		fields[name] = f.Type
	}
	var errs []error
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		p := strings.TrimPrefix(path+"."+k.Value, ".")
		ft, ok := fields[k.Value]
		if !ok {
			errs = append(errs, fmt.Errorf("line %d: %s: unknown key", k.Line, p))
			continue
		}
		errs = append(errs, checkKeys(v, ft, p))
	}
	return errors.Join(errs...)
}

// mergeDuplicateKeys merges the mappings that key appears with more than
// once under parent (a mapping of root).
func mergeDuplicateKeys(root *yaml.Node, parent, key string) error {
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("line %d: expected a mapping with the agent: block", root.Line)
	}
	var agent *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == parent {
			agent = root.Content[i+1]
		}
	}
	if agent == nil || agent.Kind != yaml.MappingNode {
		return nil
	}
	var first *yaml.Node
	out := agent.Content[:0:0]
	for i := 0; i+1 < len(agent.Content); i += 2 {
		k, v := agent.Content[i], agent.Content[i+1]
		if k.Value != key || v.Kind != yaml.MappingNode {
			out = append(out, k, v)
			continue
		}
		if first == nil {
			first = v
			out = append(out, k, v)
			continue
		}
		seen := map[string]int{}
		for j := 0; j+1 < len(first.Content); j += 2 {
			seen[first.Content[j].Value] = first.Content[j].Line
		}
		for j := 0; j+1 < len(v.Content); j += 2 {
			if line, dup := seen[v.Content[j].Value]; dup {
				return fmt.Errorf("line %d: %s.%s.%s: also set at line %d (the two %s blocks are merged and must not share a key)",
					v.Content[j].Line, parent, key, v.Content[j].Value, line, key)
			}
		}
		first.Content = append(first.Content, v.Content...)
	}
	agent.Content = out
	return nil
}

func (c *agentConfig) validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	m := &c.Metrics
	if m.Interval != nil && m.Interval.Duration <= 0 {
		add("agent.metrics.interval %v: must be > 0", m.Interval.Duration)
	}
	if m.Timeout != nil && m.Timeout.Duration <= 0 {
		add("agent.metrics.timeout %v: must be > 0", m.Timeout.Duration)
	}
	if m.Port != nil && (*m.Port < 1 || *m.Port > 65535) {
		add("agent.metrics.port %d: expected 1 to 65535", *m.Port)
	}
	if m.Endpoint != "" && m.Endpoint != "/metrics" {
		add("agent.metrics.endpoint %q: only /metrics is served", m.Endpoint)
	}
	s := &c.Safety
	if v := s.MaxScaleUpPercent; v != nil && (*v < 0 || *v > 1000) {
		add("agent.safety.maxScaleUpPercent %d: expected 0 (no cap) to 1000", *v)
	}
	if v := s.MaxScaleDownPercent; v != nil && (*v < 0 || *v > 100) {
		add("agent.safety.maxScaleDownPercent %d: expected 0 (no cap) to 100", *v)
	}
	if v := s.PDB.MinAvailable; v != nil && *v < 0 {
		add("agent.safety.pdb.minAvailable %d: expected >= 0", *v)
	}
	p := &c.Performance
	if v := p.WorkerThreads; v != nil && *v < 1 {
		add("agent.performance.workerThreads %d: expected at least 1", *v)
	}
	for _, n := range []struct {
		key string
		v   *int
	}{{"queueSize", p.QueueSize}, {"batchSize", p.BatchSize}} {
		if n.v != nil && *n.v < 1 {
			add("agent.performance.%s %d: expected at least 1", n.key, *n.v)
		}
	}
	if p.FlushInterval != nil && p.FlushInterval.Duration <= 0 {
		add("agent.performance.flushInterval %v: must be > 0", p.FlushInterval.Duration)
	}
	if _, err := logFormatOf(c.Logging.Format); err != nil {
		add("agent.logging.format %q: expected json, structured (json) or text", c.Logging.Format)
	}
	if l := c.Logging.Level; l != "" {
		switch l {
		case "debug", "info", "warn", "error":
		default:
			add("agent.logging.level %q: expected debug, info, warn or error", l)
		}
	}
	return errors.Join(errs...)
}

// logFormatOf maps the file's logging.format to --log-format.
func logFormatOf(f string) (string, error) {
	switch f {
	case "":
		return "", nil
	case "json", "structured":
		return "json", nil
	case "text":
		return "text", nil
	}
	return "", errors.New("unknown log format")
}

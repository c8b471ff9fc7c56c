package custom

import (
	"testing"
)

// BenchmarkEval measures one evaluation of a compiled expression over five
// sources (the fetching of the sources is not part of it).
func BenchmarkEval(b *testing.B) {
	names := []string{"queue_length", "processing_time", "active_users", "cpu_usage", "error_rate"}
	in := []Input{{Value: 120}, {Value: 3.5}, {Value: 1500}, {Value: 0.7}, {Value: 0.01}}
	down := append([]Input(nil), in...)
	down[4] = Input{Err: errDown}
	for _, bc := range []struct {
		name string
		expr string
		in   []Input
	}{
		{"design", "(queue_length * processing_time > 300.0) || (active_users > 1000.0 && cpu_usage > 0.6)", in},
		{"arithmetic", "queue_length * processing_time / 60.0 + active_users / 100.0 + cpu_usage * 10.0 - error_rate", in},
		{"math", "math.greatest(queue_length / 10.0, active_users / 100.0, cpu_usage * 10.0)", in},
		{"optional-source-down", "queue_length * processing_time + sources.?error_rate.orValue(0.0) * 1000.0", down},
		{"comprehension", "sources.filter(k, sources[k] > 1.0).size()", in},
	} {
		b.Run(bc.name, func(b *testing.B) {
			p, err := Compile(bc.expr, names, Limits{})
			if err != nil {
				b.Fatalf("Compile: %v", err)
			}
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Eval(ctx, bc.in); err != nil {
					b.Fatalf("Eval: %v", err)
				}
			}
		})
	}
}

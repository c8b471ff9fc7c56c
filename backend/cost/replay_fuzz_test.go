package cost

import (
	"math"
	"testing"
	"time"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
)

// FuzzReplayTriggers: any stored status target either becomes a finite
// target > 0 or leaves its trigger out; the replay of what is kept never
// fails on the targets and never yields a negative or non-finite sum.
func FuzzReplayTriggers(f *testing.F) {
	for _, s := range []string{"50", "0.5", "536870912", "", "x", "-1", "NaN", "Inf", "1e309", "1,2", "0"} {
		f.Add(s, 12.5)
	}
	f.Fuzz(func(t *testing.T, target string, value float64) {
		spec := &v1.ScalerSpec{Scaling: v1.Scaling{MaxReplicas: 10}, ScalerSpec: &v1.TriggerSpec{Name: "q", Type: "redis"}}
		trs, skipped := ReplayTriggers(spec, &v1.ScalerStatus{Triggers: []v1.TriggerStatus{{Name: "q", Target: target}}})
		if len(trs)+len(skipped) != 1 {
			t.Fatalf("%q: %d kept, %d skipped", target, len(trs), len(skipped))
		}
		if len(trs) == 0 {
			return
		}
		if tg := trs[0].Target; !(tg > 0) || math.IsInf(tg, 0) {
			t.Fatalf("%q: target %v", target, tg)
		}
		trs[0].Points = series(value, value)
		rs, err := ReplaySpec(spec)
		if err != nil {
			t.Fatal(err)
		}
		res, err := ReactiveReplay(ReplayInput{Spec: rs, Triggers: trs, From: replayT0, To: replayT0.Add(3 * time.Minute)})
		if err != nil {
			t.Fatalf("%q, %v: %v", target, value, err)
		}
		if res.ReplicaHours < 0 || math.IsNaN(res.ReplicaHours) || math.IsInf(res.ReplicaHours, 0) || res.Steps != 3 {
			t.Fatalf("%q, %v: %+v", target, value, res)
		}
	})
}

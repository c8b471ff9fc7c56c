package agentsvc

import (
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/hpa-autoscaler/hpa-autoscaler/backend/auth"
	"github.com/hpa-autoscaler/hpa-autoscaler/backend/store"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/cputime"
	agentv1 "github.com/hpa-autoscaler/hpa-autoscaler/proto/agent/v1"
)

// BenchmarkAgents: 1,000 agents, each with 10 Scalers of 10 triggers
// (100 triggers), stream their metric reports to one backend on SQLite,
// time compressed: one op is one round (every agent reports every
// trigger once, what it does every 15 s) sent as fast as the answers
// come. The in-test Recommender answers at once with the value last
// observed, so the latency measured is the service's: from a report
// sent to the recommendation it causes back at the agent. The CPU is the
// process's: the backend and the 1,000 clients in it.
//
// burst: every agent sends its round at once (the throughput);
// paced-3s: the rounds are 3 s apart (15 s compressed 5x: 3,333 reports/s)
// with the agents spread over the round, as the real schedule spreads
// them (the latency under a steady load); paced-15s: the real schedule.
func BenchmarkAgents(b *testing.B) {
	b.Run("burst", func(b *testing.B) { benchAgents(b, 0) })
	b.Run("paced-3s", func(b *testing.B) { benchAgents(b, 3*time.Second) })
	b.Run("paced-15s", func(b *testing.B) { benchAgents(b, 15*time.Second) })
}

func benchAgents(b *testing.B, period time.Duration) {
	const agents, scalers, triggers = 1000, 10, 10
	rec := newRecorder()
	reg := prometheus.NewRegistry()
	e := newEnv(b, "sqlite:"+b.TempDir()+"/bench.db", Options{Observer: rec, Recommender: rec, Registerer: reg,
		RecommendInterval: time.Hour, HeartbeatInterval: time.Minute}, envOpts{})
	ctx := testCtx(b)
	tokens := make([]string, agents)
	if err := e.store.Update(ctx, "ta", "test", func(tx store.Tx) error {
		for i := range tokens {
			g, err := auth.Generate("ta")
			if err != nil {
				return err
			}
			if _, err := tx.CreateToken(store.Token{ID: g.ID, Name: fmt.Sprint("agent", i), Role: store.RoleOperator,
				Scopes: []string{auth.AgentScope(fmt.Sprint("c", i))}, SecretHash: g.SecretHash}); err != nil {
				return err
			}
			tokens[i] = g.Token
		}
		return nil
	}); err != nil {
		b.Fatal(err)
	}
	conns := make([]agentv1.AgentServiceClient, 20)
	for i := range conns {
		cc, err := grpc.NewClient(e.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = cc.Close() })
		conns[i] = agentv1.NewAgentServiceClient(cc)
	}
	spec := specJSON(b, triggers)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	as := make([]*benchAgent, agents)
	var wg sync.WaitGroup
	errs := make(chan error, agents)
	for i := range as {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := connect(b, conns[i%len(conns)], fmt.Sprint("c", i), tokens[i], 0, false)
			if err != nil {
				errs <- err
				return
			}
			inv := &agentv1.Inventory{}
			for s := range scalers {
				inv.Scalers = append(inv.Scalers, &agentv1.ScalerInfo{Namespace: "shop", Name: fmt.Sprint("s", s), SpecJson: spec})
			}
			ba := &benchAgent{agent: a, recs: make(chan benchRec, 4*scalers)}
			go ba.read()
			seq := a.send(inv)
			if err := ba.waitAck(seq); err != nil {
				errs <- err
				return
			}
			as[i] = ba
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	runtime.GC()
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	heapPerAgent := float64(after.HeapInuse-min(before.HeapInuse, after.HeapInuse)) / agents / 1024

	var lat []time.Duration
	var latMu sync.Mutex
	observed0 := rec.observed.Load()
	b.ResetTimer()
	cpu0 := cputime.Now(b)
	start := time.Now()
	for round := range b.N {
		var wg sync.WaitGroup
		for i, a := range as {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if period > 0 {
					// The agent's place in the round (the load's schedule,
					// not a wait for a condition).
					time.Sleep(time.Until(start.Add(time.Duration(round)*period + time.Duration(i)*period/agents)))
				}
				sent := make([]time.Time, scalers)
				for s := range scalers {
					v := float64(round*scalers + s + 1)
					r := &agentv1.MetricReport{Namespace: "shop", ScalerName: fmt.Sprint("s", s), Timestamp: timestamppb.Now()}
					for t := range triggers {
						r.Metrics = append(r.Metrics, &agentv1.MetricValue{Trigger: fmt.Sprint("t", t), Value: v, Target: 5})
					}
					sent[s] = time.Now()
					a.send(r)
				}
				mine := make([]time.Duration, 0, scalers)
				got := 0
				timeout := time.NewTimer(time.Minute)
				defer timeout.Stop()
				for got < scalers {
					select {
					case r := <-a.recs:
						s := int(r.forecast) - round*scalers - 1
						if s >= 0 && s < scalers && sent[s] != (time.Time{}) {
							mine = append(mine, r.at.Sub(sent[s]))
							sent[s] = time.Time{}
							got++
						}
					case <-timeout.C:
						b.Errorf("agent %s: %d of %d recommendations of round %d in a minute", a.auth.GetClusterId(), got, scalers, round)
						return
					}
				}
				latMu.Lock()
				lat = append(lat, mine...)
				latMu.Unlock()
			}()
		}
		wg.Wait()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(heapPerAgent, "heap-KiB/agent")
	reports := float64(b.N * agents * scalers)
	b.ReportMetric(float64(cputime.Now(b)-cpu0)/reports/1e3, "cpu-us/report")
	b.ReportMetric(reports/elapsed.Seconds(), "reports/s")
	b.ReportMetric(float64(rec.observed.Load()-observed0)/elapsed.Seconds(), "values-observed/s")
	b.ReportMetric(float64(b.N*agents)/elapsed.Seconds()*15, "agents-sustained@15s")
	slices.Sort(lat)
	if len(lat) > 0 {
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1e3, "p50-ms")
		b.ReportMetric(float64(lat[int(math.Ceil(float64(len(lat))*0.99))-1].Microseconds())/1e3, "p99-ms")
	}
	var shed dto.Metric
	if err := e.svc.m.shed.Write(&shed); err == nil {
		b.ReportMetric(shed.GetCounter().GetValue(), "shed")
	}
	for _, a := range as {
		a.cancel()
	}
}

type benchRec struct {
	forecast float64
	at       time.Time
}

// benchAgent reads its stream: recommendations to recs, the ack kept.
type benchAgent struct {
	*agent
	recs chan benchRec
}

func (a *benchAgent) read() {
	for {
		m, err := a.stream.Recv()
		if err != nil {
			a.mu.Lock()
			a.recvErr = err
			a.mu.Unlock()
			a.signal()
			return
		}
		now := time.Now()
		a.mu.Lock()
		if m.GetAck() > a.ack {
			a.ack = m.GetAck()
		}
		if m.GetSeq() > a.applied {
			a.applied = m.GetSeq()
		}
		a.mu.Unlock()
		a.signal()
		if r := m.GetRecommendation(); r != nil {
			select {
			case a.recs <- benchRec{forecast: r.GetForecast(), at: now}:
			default:
			}
		}
	}
}

func (a *benchAgent) waitAck(seq uint64) error {
	deadline := time.NewTimer(2 * time.Minute)
	defer deadline.Stop()
	for {
		a.mu.Lock()
		ok, err := a.ack >= seq, a.recvErr
		a.mu.Unlock()
		if ok {
			return nil
		}
		if err != nil {
			return err
		}
		select {
		case <-a.recvd:
		case <-deadline.C:
			return fmt.Errorf("no ack of seq %d in 2 minutes", seq)
		}
	}
}

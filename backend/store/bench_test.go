package store

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkAppend measures acknowledged single-event appends: one Update
// recording one scaling event (its row and its audit record, hashes and
// all), returned only after the commit is durable, from 1 and 64
// concurrent callers. BenchmarkRawInsert is the same database's rate of
// single-row autocommit inserts with the same durability settings, the
// yardstick of what one commit costs there.
//
//	go test -run '^$' -bench 'Append|RawInsert' -benchmem ./backend/store/
func BenchmarkAppend(b *testing.B) {
	for _, be := range backends {
		for _, clients := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/clients=%d", be.name, clients), func(b *testing.B) {
				s := open(b, be.url(b), Options{})
				newTenant(b, s, "acme")
				ctx := context.Background()
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				per := (b.N + clients - 1) / clients
				for c := range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < per && c*per+i < b.N; i++ {
							id := next.Add(1)
							err := s.Update(ctx, "acme", "agent", func(tx Tx) error {
								_, _, err := tx.RecordEvent(ScalingEvent{ID: fmt.Sprint("e", id), Scaler: "web", Time: start, FromReplicas: 2, ToReplicas: 3, Rule: "scaleUp"})
								return err
							})
							if err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
			})
		}
	}
}

func BenchmarkRawInsert(b *testing.B) {
	for _, be := range backends {
		for _, clients := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/clients=%d", be.name, clients), func(b *testing.B) {
				s := open(b, be.url(b), Options{}).(*sqlStore)
				ctx := context.Background()
				if _, err := s.c.writer.ExecContext(ctx, `CREATE TABLE bench_raw (id BIGINT NOT NULL PRIMARY KEY, v TEXT NOT NULL)`); err != nil {
					b.Fatal(err)
				}
				db := s.c.writer
				if be.name == "postgres" && clients > 1 {
					db.SetMaxOpenConns(clients) // PostgreSQL commits connections in parallel
				}
				q := s.d.q(`INSERT INTO bench_raw (id, v) VALUES (?, ?)`)
				var next atomic.Int64
				var wg sync.WaitGroup
				b.ReportAllocs()
				b.ResetTimer()
				start := time.Now()
				per := (b.N + clients - 1) / clients
				for c := range clients {
					wg.Add(1)
					go func() {
						defer wg.Done()
						for i := 0; i < per && c*per+i < b.N; i++ {
							if _, err := db.ExecContext(ctx, q, next.Add(1), "scaleUp 2 -> 3"); err != nil {
								b.Error(err)
								return
							}
						}
					}()
				}
				wg.Wait()
				elapsed := time.Since(start)
				b.StopTimer()
				b.ReportMetric(float64(b.N)/elapsed.Seconds(), "inserts/s")
			})
		}
	}
}

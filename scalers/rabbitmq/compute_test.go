package rabbitmq

import (
	"testing"
)

func TestEvaluate(t *testing.T) {
	st := func(messages, ready int64, pub, dg float64) QueueStats {
		return QueueStats{Messages: messages, Ready: ready, PublishRate: pub, DeliverGetRate: dg}
	}
	tests := []struct {
		name         string
		mode         string
		activation   float64
		excludeUnack bool
		stats        QueueStats
		want         float64
		wantActive   bool
	}{
		// QueueLength (KEDA: active when messages > activationValue).
		{"length with messages", ModeQueueLength, 0, false, st(4, 3, 0, 0), 4, true},
		{"length of one", ModeQueueLength, 0, false, st(1, 0, 0, 0), 1, true},
		{"empty queue", ModeQueueLength, 0, false, st(0, 0, 1.4, 2), 0, false},
		{"length at activation is not active", ModeQueueLength, 4, false, st(4, 4, 0, 0), 4, false},
		{"length above activation", ModeQueueLength, 3.5, false, st(4, 4, 0, 0), 4, true},
		{"ready only", ModeQueueLength, 0, true, st(4, 3, 0, 0), 3, true},
		{"only unacknowledged, ready only", ModeQueueLength, 0, true, st(4, 0, 0, 0), 0, false},
		{"negative activation is always active", ModeQueueLength, -1, false, st(0, 0, 0, 0), 0, true},
		// MessageRate: the metric is the publish rate; activity also looks
		// at the backlog.
		{"rate with backlog", ModeMessageRate, 0, false, st(4, 3, 0, 1.3), 0, true},
		{"rate without backlog", ModeMessageRate, 0, false, st(0, 0, 1.4, 0), 1.4, true},
		{"no rate no backlog", ModeMessageRate, 0, false, st(0, 0, 0, 0), 0, false},
		{"rate below activation, backlog above", ModeMessageRate, 2, false, st(3, 3, 1, 0), 1, true},
		{"rate and backlog below activation", ModeMessageRate, 5, false, st(3, 3, 1, 0), 1, false},
		{"rate backlog ready only", ModeMessageRate, 2, true, st(3, 1, 1, 0), 1, false},
		// DeliverGetRate.
		{"deliver rate", ModeDeliverGetRate, 0, false, st(30, 20, 5, 1), 1, true},
		{"deliver rate 12.5", ModeDeliverGetRate, 0, false, st(10, 10, 0, 12.5), 12.5, true},
		{"no deliveries", ModeDeliverGetRate, 0, false, st(10, 10, 3, 0), 0, false},
		// PublishedToDeliveredRatio.
		{"ratio", ModePublishedToDeliveredRatio, 1, false, st(0, 0, 6, 3), 2, true},
		{"ratio below activation", ModePublishedToDeliveredRatio, 3, false, st(0, 0, 6, 3), 2, false},
		{"published, nothing delivered", ModePublishedToDeliveredRatio, 1.5, false, st(0, 0, 6, 0), 1.5, true},
		{"nothing published", ModePublishedToDeliveredRatio, 0, false, st(5, 5, 0, 3), 0, false},
		// ExpectedQueueConsumptionTime: KEDA's own vectors (value 1,
		// activation 1).
		{"empty idle queue", ModeExpectedQueueConsumptionTime, 1, false, st(0, 0, 0, 0), 0, false},
		{"empty queue with decaying delivery rate", ModeExpectedQueueConsumptionTime, 1, false, st(0, 0, 0, 2), 0, false},
		{"backlog without consumers", ModeExpectedQueueConsumptionTime, 1, false, st(10, 10, 3, 0), 1, true},
		{"backlog with consumers", ModeExpectedQueueConsumptionTime, 1, false, st(10, 10, 3, 2), 5.5, true},
		{"draining backlog", ModeExpectedQueueConsumptionTime, 1, false, st(4, 4, 0, 2), 1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, active := Evaluate(tt.mode, tt.activation, tt.excludeUnack, tt.stats)
			if got != tt.want || active != tt.wantActive {
				t.Errorf("got %v active %v, want %v active %v", got, active, tt.want, tt.wantActive)
			}
		})
	}
}

func TestCombine(t *testing.T) {
	qs := []QueueStats{
		{Messages: 8, Ready: 6, PublishRate: 1, DeliverGetRate: 2},
		{Messages: 3, Ready: 3, PublishRate: 4, DeliverGetRate: 0.5},
		{Messages: 0, Ready: 0, PublishRate: 0, DeliverGetRate: 0},
	}
	tests := []struct {
		name string
		op   string
		qs   []QueueStats
		want QueueStats
	}{
		{"sum", OperationSum, qs, QueueStats{Messages: 11, Ready: 9, PublishRate: 5, DeliverGetRate: 2.5}},
		// Each field's own maximum, not the fields of one queue.
		{"max", OperationMax, qs, QueueStats{Messages: 8, Ready: 6, PublishRate: 4, DeliverGetRate: 2}},
		// Integer division of the counts, as KEDA: 11/3 = 3, 9/3 = 3.
		{"avg", OperationAvg, qs, QueueStats{Messages: 3, Ready: 3, PublishRate: 5.0 / 3, DeliverGetRate: 2.5 / 3}},
		{"avg of two", OperationAvg, qs[:2], QueueStats{Messages: 5, Ready: 4, PublishRate: 2.5, DeliverGetRate: 1.25}},
		{"no queues sum", OperationSum, nil, QueueStats{}},
		{"no queues avg", OperationAvg, nil, QueueStats{}},
		{"no queues max", OperationMax, nil, QueueStats{}},
		{"one queue", OperationAvg, qs[:1], qs[0]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Combine(tt.op, tt.qs); got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func BenchmarkEvaluate(b *testing.B) {
	st := QueueStats{Messages: 10, Ready: 8, PublishRate: 3, DeliverGetRate: 2}
	var sink float64
	for b.Loop() {
		v, _ := Evaluate(ModeExpectedQueueConsumptionTime, 1, false, st)
		sink += v
	}
	_ = sink
}

package rabbitmq

// QueueStats are the raw numbers of one queue (or of several queues
// combined by an operation).
type QueueStats struct {
	// Messages counts ready and unacknowledged messages (through AMQP,
	// which cannot see unacknowledged ones, ready messages only).
	Messages int64
	// Ready counts messages ready for delivery.
	Ready int64
	// PublishRate and DeliverGetRate are messages per second from the
	// management API's message_stats (0 through AMQP).
	PublishRate, DeliverGetRate float64
}

// Combine merges the statistics of the queues a regular expression matched.
// sum adds, max takes each field's maximum separately (never below 0), avg
// divides the sums by the number of queues with integer division for the
// message counts, as KEDA does. No queues give all zeros.
func Combine(op string, qs []QueueStats) QueueStats {
	var out QueueStats
	if len(qs) == 0 {
		return out
	}
	for _, q := range qs {
		switch op {
		case OperationMax:
			out.Messages = max(out.Messages, q.Messages)
			out.Ready = max(out.Ready, q.Ready)
			out.PublishRate = max(out.PublishRate, q.PublishRate)
			out.DeliverGetRate = max(out.DeliverGetRate, q.DeliverGetRate)
		default:
			out.Messages += q.Messages
			out.Ready += q.Ready
			out.PublishRate += q.PublishRate
			out.DeliverGetRate += q.DeliverGetRate
		}
	}
	if op == OperationAvg {
		n := int64(len(qs))
		out.Messages /= n
		out.Ready /= n
		out.PublishRate /= float64(n)
		out.DeliverGetRate /= float64(n)
	}
	return out
}

// Evaluate turns queue statistics into the metric value of mode and whether
// the trigger is active (above activation, compared strictly), with KEDA's
// rules. excludeUnacknowledged counts ready messages only.
func Evaluate(mode string, activation float64, excludeUnacknowledged bool, st QueueStats) (value float64, active bool) {
	messages := float64(st.Messages)
	if excludeUnacknowledged {
		messages = float64(st.Ready)
	}
	pub, dg := st.PublishRate, st.DeliverGetRate
	switch mode {
	case ModeMessageRate:
		// A backlog with no publishing still needs a consumer: activity
		// looks at the queue length too, while the metric is the rate.
		return pub, pub > activation || messages > activation
	case ModeDeliverGetRate:
		return dg, dg > activation
	case ModePublishedToDeliveredRatio:
		var ratio float64
		switch {
		case pub > 0 && dg == 0:
			// Published but nothing consumed: the ratio is infinite; the
			// activation value stands in for it and the trigger is active
			// so a consumer starts.
			ratio = activation
		case pub > 0:
			ratio = pub / dg
		}
		return ratio, ratio > activation || (pub > 0 && dg == 0)
	case ModeExpectedQueueConsumptionTime:
		var eta float64
		switch {
		case messages == 0:
			// Nothing to consume, however fast messages were delivered a
			// moment ago: zero, so the workload can scale to zero.
		case dg == 0:
			// A backlog nobody consumes: the time cannot be estimated; the
			// activation value stands in and the trigger is active.
			eta = activation
		default:
			// Seconds to drain the backlog at the delivery rate, plus the
			// growth (or shrinkage) from publishing meanwhile.
			eta = (pub-dg)/dg + messages/dg
		}
		return eta, eta > activation || (dg == 0 && messages > 0)
	default: // QueueLength
		return messages, messages > activation
	}
}

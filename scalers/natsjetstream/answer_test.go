package natsjetstream

import (
	"errors"
	"math"
	"testing"
)

// TestLagKEDA: KEDA's TestNATSJetStreamGetMaxMsgLag: pending plus ack
// pending; a stream without the consumer is an error naming both, never
// the stream's last sequence.
func TestLagKEDA(t *testing.T) {
	m, err := ParseMetadata(md())
	if err != nil {
		t.Fatal(err)
	}
	j := Jsz{Accounts: []Account{{Name: "$G", Streams: []Stream{{Name: "mystream",
		Consumers: []Consumer{{Name: "pull_consumer", NumPending: 7, NumAckPending: 3}}}}}}}
	c, found := Find(j, &m)
	if found != FoundConsumer || Lag(c) != 10 {
		t.Errorf("found %v, lag %d; want the consumer, 10", found, Lag(c))
	}
	j.Accounts[0].Streams[0].Consumers[0].Name = "some_other_consumer"
	_, found = Find(j, &m)
	if found != NoConsumer {
		t.Fatalf("found %v, want NoConsumer", found)
	}
	if got, want := notFound(found, &m).Error(), `consumer "pull_consumer" not found in stream "mystream"`; got != want {
		t.Errorf("error %q, want %q", got, want)
	}
}

func TestFind(t *testing.T) {
	m, err := ParseMetadata(md("account", "A", "accountID", "AID"))
	if err != nil {
		t.Fatal(err)
	}
	consumer := []Consumer{{Name: "pull_consumer", NumPending: 1}}
	tests := []struct {
		name string
		j    Jsz
		want Found
	}{
		{"empty", Jsz{}, NoAccount},
		{"other account", Jsz{Accounts: []Account{{ID: "X", Name: "Y", Streams: []Stream{{Name: "mystream", Consumers: consumer}}}}}, NoAccount},
		{"by id", Jsz{Accounts: []Account{{ID: "AID", Streams: []Stream{{Name: "mystream", Consumers: consumer}}}}}, FoundConsumer},
		{"by name", Jsz{Accounts: []Account{{Name: "A", Streams: []Stream{{Name: "mystream", Consumers: consumer}}}}}, FoundConsumer},
		{"no stream", Jsz{Accounts: []Account{{Name: "A", Streams: []Stream{{Name: "mystreamBad", Consumers: consumer}}}}}, NoStream},
		{"second account of the same name holds it", Jsz{Accounts: []Account{{Name: "A"}, {ID: "AID", Streams: []Stream{{Name: "mystream", Consumers: consumer}}}}}, FoundConsumer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, got := Find(tt.j, &m); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestLagSaturates(t *testing.T) {
	tests := []struct {
		name string
		c    Consumer
		want int64
	}{
		{"negative counts", Consumer{NumPending: -5, NumAckPending: -1}, 0},
		{"overflow", Consumer{NumPending: math.MaxInt64, NumAckPending: 1}, math.MaxInt64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Lag(tt.c); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestParseJsz(t *testing.T) {
	tests := []struct {
		name, body, wantErr string
	}{
		{"KEDA's invalid JSON", `{invalidJSON}`, "not a NATS monitoring answer: invalid JSON at offset 2: invalid character 'i' looking for beginning of object key string"},
		{"an array", `[]`, `not a NATS monitoring answer: expected a JSON object, got "[]"`},
		{"null", `null`, `not a NATS monitoring answer: expected a JSON object, got "null"`},
		{"empty", ``, `not a NATS monitoring answer: expected a JSON object, got ""`},
		{"a count not a number", `{"account_details":[{"stream_detail":[{"consumer_detail":[{"num_pending":"7"}]}]}]}`, `not a NATS monitoring answer: field "account_details.stream_detail.consumer_detail.num_pending": string is not of the expected type`},
		{"a fraction", `{"account_details":[{"stream_detail":[{"consumer_detail":[{"num_pending":1.5}]}]}]}`, `not a NATS monitoring answer: field "account_details.stream_detail.consumer_detail.num_pending": number 1.5 is not of the expected type`},
		{"trailing data", `{} {}`, "not a NATS monitoring answer: data after the JSON object"},
		{"good", `{"meta_cluster":{"cluster_size":3},"account_details":[]}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseJsz([]byte(tt.body))
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tt.wantErr || !errors.Is(err, ErrAnswer) {
				t.Errorf("error %v, want %q wrapping ErrAnswer", err, tt.wantErr)
			}
		})
	}
}

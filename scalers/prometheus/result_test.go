package prometheus

import (
	"math"
	"testing"

	"github.com/prometheus/common/model"

	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

func sample(v float64, labels ...string) *model.Sample {
	m := model.Metric{}
	for i := 0; i+1 < len(labels); i += 2 {
		m[model.LabelName(labels[i])] = model.LabelValue(labels[i+1])
	}
	return &model.Sample{Metric: m, Value: model.SampleValue(v)}
}

func TestSampleValue(t *testing.T) {
	three := model.Vector{sample(1, "q", "a"), sample(2, "q", "b"), sample(3, "q", "c"), sample(4, "q", "d")}
	tests := []struct {
		name       string
		in         model.Value
		ignoreNull bool
		want       float64
		wantErr    error
		wantMsg    string // the whole message
	}{
		{name: "one sample", in: model.Vector{sample(42.5, "job", "x")}, want: 42.5},
		{name: "negative sample", in: model.Vector{sample(-3)}, want: -3},
		{name: "scalar", in: &model.Scalar{Value: 7}, want: 7},
		{name: "empty vector ignored", in: model.Vector{}, ignoreNull: true, want: 0},
		{name: "empty vector", in: model.Vector{}, wantErr: scalers.ErrNoData, wantMsg: `returned no samples (set ignoreNullValues to "true" to read this as 0)`},
		{name: "NaN ignored", in: model.Vector{sample(math.NaN())}, ignoreNull: true, want: 0},
		{name: "NaN", in: model.Vector{sample(math.NaN())}, wantErr: scalers.ErrNoData, wantMsg: `returned NaN (set ignoreNullValues to "true" to read this as 0)`},
		{name: "+Inf", in: model.Vector{sample(math.Inf(1))}, wantErr: scalers.ErrNoData, wantMsg: `returned +Inf (set ignoreNullValues to "true" to read this as 0)`},
		{name: "-Inf ignored", in: model.Vector{sample(math.Inf(-1))}, ignoreNull: true, want: 0},
		{name: "NaN scalar", in: &model.Scalar{Value: model.SampleValue(math.NaN())}, wantErr: scalers.ErrNoData, wantMsg: `returned NaN (set ignoreNullValues to "true" to read this as 0)`},
		{name: "two samples", in: model.Vector{sample(1, "q", "a"), sample(2, "q", "b")}, ignoreNull: true,
			wantErr: scalers.ErrNoData, wantMsg: `returned 2 samples, expected exactly 1 (aggregate them, e.g. with sum(), or narrow the label matchers): {q="a"}, {q="b"}`},
		{name: "many samples", in: three, wantErr: scalers.ErrNoData, wantMsg: `returned 4 samples, expected exactly 1 (aggregate them, e.g. with sum(), or narrow the label matchers): {q="a"}, {q="b"}, {q="c"}, and 1 more`},
		{name: "histogram", in: model.Vector{{Metric: model.Metric{}, Histogram: &model.SampleHistogram{Count: 3}}},
			wantErr: scalers.ErrNoData, wantMsg: `returned a native histogram sample, expected a float (apply histogram_sum, histogram_count or histogram_quantile)`},
		{name: "range vector", in: model.Matrix{{Metric: model.Metric{}, Values: []model.SamplePair{{Value: 1}}}},
			ignoreNull: true, wantErr: scalers.ErrNoData, wantMsg: `returned a range vector of 1 series, expected an instant vector or a scalar (drop the [range] selector or wrap it in a function such as rate())`},
		{name: "string", in: &model.String{Value: "x"}, wantErr: scalers.ErrNoData, wantMsg: `returned a string, expected an instant vector or a scalar`},
		{name: "no result", in: nil, ignoreNull: true, wantErr: scalers.ErrUnavailable, wantMsg: `prometheus answer: malformed answer: no result`},
		{name: "nil scalar", in: (*model.Scalar)(nil), wantErr: scalers.ErrUnavailable, wantMsg: `prometheus answer: malformed answer: no result`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := SampleValue(tc.in, tc.ignoreNull)
			if tc.wantErr != nil {
				scalertest.CheckErr(t, err, tc.wantErr)
				scalertest.CheckMessage(t, err, tc.wantMsg)
				return
			}
			if err != nil {
				t.Fatalf("SampleValue: %v", err)
			}
			if got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

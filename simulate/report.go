package simulate

import (
	"encoding/json"
	"fmt"
	"io"
	"text/tabwriter"
)

// JSONReport is the stable JSON shape of `hpa-autoscaler simulate --json`.
type JSONReport struct {
	Policies []JSONPolicy `json:"policies"`
}

// JSONPolicy is one run in the JSON report.
type JSONPolicy struct {
	Name              string  `json:"name"`
	UnservedDemand    float64 `json:"unservedDemand"`
	UnservedIntervals int     `json:"unservedIntervals"`
	ReplicaHours      float64 `json:"replicaHours"`
	Cost              float64 `json:"cost"`
	ScalingActions    int     `json:"scalingActions"`
	PeakReplicas      int32   `json:"peakReplicas"`
}

// Report converts results to the JSON report.
func Report(results []Result) JSONReport {
	r := JSONReport{Policies: make([]JSONPolicy, 0, len(results))}
	for _, res := range results {
		r.Policies = append(r.Policies, JSONPolicy{
			Name:              res.Name,
			UnservedDemand:    res.UnservedDemand,
			UnservedIntervals: res.UnservedIntervals,
			ReplicaHours:      res.ReplicaHours,
			Cost:              res.Cost,
			ScalingActions:    res.ScalingActions,
			PeakReplicas:      res.PeakReplicas,
		})
	}
	return r
}

// WriteJSON writes the JSON report.
func WriteJSON(w io.Writer, results []Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(Report(results))
}

// WriteTable writes the results as an aligned table.
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "policy\tunserved demand\tunserved intervals\treplica-hours\tcost\tscaling actions\tpeak replicas\t")
	for _, r := range results {
		fmt.Fprintf(tw, "%s\t%.1f\t%d\t%.1f\t%.2f\t%d\t%d\t\n", r.Name, r.UnservedDemand, r.UnservedIntervals, r.ReplicaHours, r.Cost, r.ScalingActions, r.PeakReplicas)
	}
	return tw.Flush()
}

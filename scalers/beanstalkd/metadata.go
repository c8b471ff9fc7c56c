package beanstalkd

import (
	"math"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Type is the scaler type of this package, as in KEDA.
const Type = "beanstalkd"

// MaxTubeBytes is beanstalkd's longest tube name.
const MaxTubeBytes = 200

// Metadata is the typed trigger metadata, with KEDA's keys.
type Metadata struct {
	// Server is host:port of the beanstalkd server.
	Server string `meta:"server"`
	// Tube is the tube whose jobs are counted.
	Tube string `meta:"tube"`
	// Value is the target number of jobs per replica.
	Value float64 `meta:"value,gt=0"`
	// ActivationValue: the trigger is active while the jobs are more.
	ActivationValue float64 `meta:"activationValue,default=0"`
	// IncludeDelayed counts delayed jobs too.
	IncludeDelayed bool `meta:"includeDelayed,default=false"`
	// Timeout bounds one fetch, dialling included; a plain number is
	// milliseconds, as KEDA reads it. 0 (absent) means the server's
	// default (see scalers.Timeouts); KEDA's default, "30", is 30 ms.
	Timeout time.Duration `meta:"timeout,unit=ms,min=0,optional"`
}

// Validate checks the server's address and the tube's name.
func (m *Metadata) Validate() error {
	var errs []error
	host, port, err := net.SplitHostPort(m.Server)
	if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 ||
		strings.ContainsAny(m.Server, "/?#@") || strings.ContainsFunc(m.Server, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		errs = append(errs, scalers.NewFieldError("server", m.Server, "expected host:port (e.g. beanstalkd.jobs:11300)"))
	}
	if msg := checkTube(m.Tube); msg != "" {
		errs = append(errs, scalers.NewFieldError("tube", m.Tube, msg))
	}
	if math.IsInf(m.Value, 0) {
		errs = append(errs, scalers.NewFieldError("value", strconv.FormatFloat(m.Value, 'g', -1, 64), "not a finite number"))
	}
	if math.IsNaN(m.ActivationValue) || math.IsInf(m.ActivationValue, 0) {
		errs = append(errs, scalers.NewFieldError("activationValue", strconv.FormatFloat(m.ActivationValue, 'g', -1, 64), "not a finite number"))
	}
	return scalers.Invalid(errs...)
}

// checkTube applies beanstalkd's rule for names: at most 200 bytes of
// letters, digits and - + / ; . $ _ ( ), not starting with '-'. (A name
// outside it would be BAD_FORMAT, or a second command.)
func checkTube(t string) string {
	if len(t) > MaxTubeBytes {
		return "longer than beanstalkd's 200 bytes"
	}
	if strings.HasPrefix(t, "-") {
		return "starts with '-', which beanstalkd refuses"
	}
	for _, r := range t {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("-+/;.$_()", r):
		default:
			return "beanstalkd's names hold letters, digits and - + / ; . $ _ ( ) only"
		}
	}
	return ""
}

// normalizer is KEDA's kedautil.NormalizeString.
var normalizer = strings.NewReplacer("/", "-", ".", "-", ":", "-", "%", "-", "(", "-", ")", "-")

// MetricName is KEDA's name of the metric (without the "sN-" prefix KEDA
// adds): "beanstalkd-" and the query-escaped tube, with KEDA's
// normalization.
func MetricName(tube string) string { return normalizer.Replace("beanstalkd-" + url.QueryEscape(tube)) }

// ParseMetadata parses and validates trigger metadata; errors wrap
// scalers.ErrInvalidConfig and name every bad key.
func ParseMetadata(md map[string]string, opts ...scalers.ParseOption) (Metadata, error) {
	var m Metadata
	if err := scalers.ParseMetadata(md, &m, opts...); err != nil {
		return Metadata{}, err
	}
	return m, nil
}

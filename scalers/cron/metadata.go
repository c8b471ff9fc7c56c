package cron

import (
	"strconv"
	"strings"
	"time"

	// A zone must resolve where the server's image has no zoneinfo.
	_ "time/tzdata"

	robfig "github.com/robfig/cron/v3"

	"github.com/hpa-autoscaler/hpa-autoscaler/scalers"
)

// Type is the scaler type of this package, as in KEDA.
const Type = "cron"

// Metadata is the typed trigger metadata, with KEDA's keys. Every key is
// required, as in KEDA.
type Metadata struct {
	// Timezone is an IANA time zone name ("Europe/Berlin", "Etc/UTC")
	// in which both schedules are read.
	Timezone string `meta:"timezone"`
	// Start opens the window: a five-field cron schedule (minute, hour,
	// day of month, month, day of week).
	Start string `meta:"start"`
	// End closes it, in the same syntax.
	End string `meta:"end"`
	// DesiredReplicas is the metric's value inside the window (its
	// target is 1, so the HPA wants this many replicas).
	DesiredReplicas int64 `meta:"desiredReplicas"`

	// Set by Validate.
	loc        *time.Location
	start, end robfig.Schedule
}

// parser reads KEDA's five fields: no seconds, no descriptors (@daily).
var parser = robfig.NewParser(robfig.Minute | robfig.Hour | robfig.Dom | robfig.Month | robfig.Dow)

// neverFrom is a fixed instant from which a schedule that fires at all
// fires within the five years robfig/cron searches (2000 is a leap
// year, so "0 0 29 2 *" fires in it).
var neverFrom = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// Validate parses the zone and the schedules and checks KEDA's relations:
// start and end differ, desiredReplicas is set.
func (m *Metadata) Validate() error {
	var errs []error
	loc, err := loadLocation(m.Timezone)
	if err != nil {
		errs = append(errs, scalers.NewFieldError("timezone", m.Timezone, err.Error()))
	}
	m.loc = loc
	m.start, err = parseSchedule("start", m.Start)
	errs = append(errs, err)
	m.end, err = parseSchedule("end", m.End)
	errs = append(errs, err)
	if m.Start == m.End {
		errs = append(errs, scalers.NewFieldError("end", m.End, "the same schedule as start: the window would never open"))
	}
	switch {
	case m.DesiredReplicas == 0:
		errs = append(errs, scalers.NewFieldError("desiredReplicas", "0", "must be set to a number of replicas > 0"))
	case m.DesiredReplicas < 0:
		errs = append(errs, scalers.NewFieldError("desiredReplicas", strconv.FormatInt(m.DesiredReplicas, 10), "must be > 0"))
	}
	return scalers.Invalid(errs...)
}

// loadLocation resolves an IANA zone name. "Local" is refused: it would be
// the server's zone, not one the trigger names.
func loadLocation(name string) (*time.Location, error) {
	if name == "Local" {
		return nil, errLocal
	}
	return time.LoadLocation(name)
}

type staticError string

func (e staticError) Error() string { return string(e) }

const errLocal = staticError(`the server's own zone; name an IANA zone such as "Europe/Berlin" or "Etc/UTC"`)

// parseSchedule parses one of the two schedules; its error names key.
func parseSchedule(key, spec string) (robfig.Schedule, error) {
	if strings.HasPrefix(strings.TrimSpace(spec), "TZ=") || strings.HasPrefix(strings.TrimSpace(spec), "CRON_TZ=") {
		// robfig/cron accepts a zone prefix; KEDA's key for it is timezone.
		return nil, scalers.NewFieldError(key, spec, "a time zone prefix is not allowed here (use the timezone key)")
	}
	s, err := parser.Parse(spec)
	if err != nil {
		return nil, scalers.NewFieldError(key, spec, "not a five-field cron schedule (minute hour day-of-month month day-of-week): "+err.Error())
	}
	if s.Next(neverFrom).IsZero() {
		return nil, scalers.NewFieldError(key, spec, "matches no date (it would never fire)")
	}
	return s, nil
}

// ParseMetadata parses and validates trigger metadata; errors wrap
// scalers.ErrInvalidConfig and name every bad key.
func ParseMetadata(md map[string]string) (Metadata, error) {
	var m Metadata
	if err := scalers.ParseMetadata(md, &m); err != nil {
		return Metadata{}, err
	}
	return m, nil
}

// MetricName is KEDA's name of the metric (without the "sN-" prefix KEDA
// adds to the names an external scaler returns): "cron-", the zone, the
// start and the end schedules, each with spaces dropped and '*', '/', '?'
// and ',' spelled "x", "Sl", "Qm" and "Cm", then KEDA's normalization
// ('/', '.', ':', '%', '(' and ')' become '-').
func (m Metadata) MetricName() string {
	return normalize("cron-" + m.Timezone + "-" + spell(m.Start) + "-" + spell(m.End))
}

var speller = strings.NewReplacer(" ", "", "*", "x", "/", "Sl", "?", "Qm", ",", "Cm")

func spell(schedule string) string { return speller.Replace(schedule) }

var normalizer = strings.NewReplacer("/", "-", ".", "-", ":", "-", "%", "-", "(", "-", ")", "-")

func normalize(s string) string { return normalizer.Replace(s) }

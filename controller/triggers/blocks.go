package triggers

import (
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
)

// maxTopics is the most topics of a kafka block (the CRD's MaxItems): each
// becomes a source of a custom scaler, which takes at most 32
// (custom.MaxSources).
const maxTopics = 32

// defaultLagThreshold is the kafka scaler's default lagThreshold, the
// threshold of a sum over several topics when the block sets none.
const defaultLagThreshold = 10

// resource checks the resource block (as the CRD does) and copies it.
func (r *resolver) resource(b *v1.ResourceTrigger) *v1.ResourceTrigger {
	const p = ".resource"
	switch b.ResourceName {
	case "cpu", "memory":
	default:
		r.invalidValue(p+".resourceName", b.ResourceName, "expected cpu or memory")
	}
	switch b.TargetType {
	case "Utilization":
		if b.TargetAverageUtilization == nil {
			r.invalid(p+".targetAverageUtilization", "required with targetType Utilization: the target percentage of the pods' requests")
		} else if *b.TargetAverageUtilization < 1 {
			r.invalidValue(p+".targetAverageUtilization", strconv.Itoa(int(*b.TargetAverageUtilization)), "expected a percentage >= 1")
		}
		if b.TargetAverageValue != "" {
			r.invalidValue(p+".targetAverageValue", b.TargetAverageValue, "not with targetType Utilization (use targetType AverageValue)")
		}
	case "AverageValue":
		if b.TargetAverageValue == "" {
			r.invalid(p+".targetAverageValue", "required with targetType AverageValue: a quantity per pod (\"500m\", \"512Mi\")")
		} else if q, err := resource.ParseQuantity(b.TargetAverageValue); err != nil {
			r.invalidValue(p+".targetAverageValue", b.TargetAverageValue, "not a quantity (\"500m\", \"512Mi\")")
		} else if q.Sign() <= 0 {
			r.invalidValue(p+".targetAverageValue", b.TargetAverageValue, "expected a quantity > 0")
		}
		if b.TargetAverageUtilization != nil {
			r.invalid(p+".targetAverageUtilization", "not with targetType AverageValue (use targetType Utilization)")
		}
	default:
		r.invalidValue(p+".targetType", b.TargetType, "expected Utilization or AverageValue")
	}
	return b.DeepCopy()
}

// kafka maps the kafka block onto the kafka scaler's keys; several topics
// become a custom scaler summing one kafka source per topic.
func (r *resolver) kafka(b *v1.KafkaTrigger) (typ string, md map[string]string) {
	const p = ".kafka"
	md = map[string]string{}
	if len(b.Brokers) == 0 {
		r.invalid(p+".brokers", "required: at least one broker, host:port")
	}
	for i, br := range b.Brokers {
		bp := p + ".brokers[" + strconv.Itoa(i) + "]"
		switch {
		case strings.TrimSpace(br) == "":
			r.invalidValue(bp, br, "empty, expected host:port")
		case strings.Contains(br, ","):
			r.invalidValue(bp, br, "expected one host:port per item (no commas)")
		}
	}
	md["bootstrapServers"] = strings.Join(b.Brokers, ",")
	if strings.TrimSpace(b.ConsumerGroup) == "" {
		r.invalid(p+".consumerGroup", "required: the consumer group whose lag is measured")
	}
	md["consumerGroup"] = b.ConsumerGroup

	lagThreshold := int64(defaultLagThreshold)
	if b.LagThreshold != nil {
		lagThreshold = *b.LagThreshold
		if lagThreshold < 1 {
			r.invalidValue(p+".lagThreshold", strconv.FormatInt(lagThreshold, 10), "expected an integer >= 1 (lag per replica)")
		}
		md["lagThreshold"] = strconv.FormatInt(lagThreshold, 10)
	}
	activation := ""
	if b.ActivationLagThreshold != nil {
		activation = strconv.FormatInt(*b.ActivationLagThreshold, 10)
		if *b.ActivationLagThreshold < 0 {
			r.invalidValue(p+".activationLagThreshold", activation, "expected an integer >= 0")
		}
	}
	switch b.OffsetResetPolicy {
	case "":
	case "latest", "earliest":
		md["offsetResetPolicy"] = b.OffsetResetPolicy
	default:
		r.invalidValue(p+".offsetResetPolicy", b.OffsetResetPolicy, "expected latest or earliest")
	}
	if a := b.Authentication; a != nil {
		if a.SASL != nil {
			r.kafkaSASL(p+".authentication.sasl", a.SASL, md)
		}
		if a.TLS != nil {
			md["tls"] = "enable"
			r.tls(p+".authentication.tls", a.TLS, md)
		}
	}

	seen := map[string]int{}
	for i, topic := range b.Topics {
		tp := p + ".topics[" + strconv.Itoa(i) + "]"
		if strings.TrimSpace(topic) == "" {
			r.invalidValue(tp, topic, "empty, expected a topic name")
			continue
		}
		if j, dup := seen[topic]; dup {
			// Its lag would be counted twice.
			r.invalidValue(tp, topic, "also topics["+strconv.Itoa(j)+"]: give each topic once")
			continue
		}
		seen[topic] = i
	}
	if len(b.Topics) > maxTopics {
		r.invalid(p+".topics", strconv.Itoa(len(b.Topics))+" topics, at most "+strconv.Itoa(maxTopics))
	}

	switch len(b.Topics) {
	case 0:
		// The kafka scaler's own mode: every topic the group has committed
		// offsets for, their lags summed.
		if activation != "" {
			md["activationLagThreshold"] = activation
		}
		return "kafka", md
	case 1:
		md["topic"] = b.Topics[0]
		if activation != "" {
			md["activationLagThreshold"] = activation
		}
		return "kafka", md
	}
	// Several topics: the kafka scaler measures one topic (or all of the
	// group's), so the lags are added up by a custom scaler with one kafka
	// source per topic. Each source keeps lagThreshold: its lag is capped
	// at its own topic's partitions times lagThreshold, so the sum asks for
	// at most the topics' partitions together. The sources' activation is
	// not used; the sum's is.
	out := map[string]string{
		"threshold": strconv.FormatInt(lagThreshold, 10),
	}
	if activation != "" {
		out["activationThreshold"] = activation
	}
	names := make([]string, len(b.Topics))
	secretKeys := r.secretKeys
	r.secretKeys = map[string]bool{}
	for i, topic := range b.Topics {
		name := topicSource(i)
		names[i] = name
		out["source."+name+".type"] = "kafka"
		for k, v := range md {
			out["source."+name+"."+k] = v
			if secretKeys[k] {
				r.secretKeys["source."+name+"."+k] = true
			}
		}
		out["source."+name+".topic"] = topic
	}
	out["expression"] = strings.Join(names, " + ")
	return "custom", out
}

// topicSource is the custom source of the i-th topic of a kafka block.
func topicSource(i int) string { return "t" + strconv.Itoa(i) }

// kafkaMechanisms maps the block's SASL mechanisms to the kafka scaler's.
var kafkaMechanisms = map[string]string{
	"PLAIN":         "plaintext",
	"SCRAM-SHA-256": "scram_sha256",
	"SCRAM-SHA-512": "scram_sha512",
	"plaintext":     "plaintext",
	"scram_sha256":  "scram_sha256",
	"scram_sha512":  "scram_sha512",
}

func (r *resolver) kafkaSASL(p string, s *v1.KafkaSASL, md map[string]string) {
	if m, ok := kafkaMechanisms[s.Mechanism]; ok {
		md["sasl"] = m
	} else {
		r.invalidValue(p+".mechanism", s.Mechanism, "expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (or KEDA's plaintext, scram_sha256, scram_sha512)")
	}
	switch {
	case s.Username != "" && s.UsernameSecret != nil:
		r.invalid(p, "username and usernameSecret exclude each other: give one")
	case s.UsernameSecret != nil:
		if v, ok := r.secretValue(p+".usernameSecret", s.UsernameSecret.Name, s.UsernameSecret.Key); ok {
			r.setSecret(md, "username", v)
		}
	case s.Username != "":
		md["username"] = s.Username
	default:
		r.invalid(p, "one of username or usernameSecret is required")
	}
	if s.Password != "" {
		r.invalid(p+".password", "an inline password is not allowed (it would store a secret in the Scaler): use passwordSecret")
	}
	if v, ok := r.secretValue(p+".passwordSecret", s.PasswordSecret.Name, s.PasswordSecret.Key); ok {
		r.setSecret(md, "password", v)
	}
}

// tls fills ca, cert, key and unsafeSsl from a TLS block; it reports
// whether a client certificate was given.
func (r *resolver) tls(p string, t *v1.TLSSecrets, md map[string]string) bool {
	if t.CASecret != nil {
		if v, ok := r.secretValue(p+".caSecret", t.CASecret.Name, t.CASecret.Key); ok {
			r.setSecret(md, "ca", v)
		}
	}
	switch {
	case t.CertSecret != nil && t.KeySecret == nil:
		r.invalid(p+".keySecret", "required with certSecret: a client certificate needs its key")
	case t.CertSecret == nil && t.KeySecret != nil:
		r.invalid(p+".certSecret", "required with keySecret: a client key needs its certificate")
	}
	if t.CertSecret != nil {
		if v, ok := r.secretValue(p+".certSecret", t.CertSecret.Name, t.CertSecret.Key); ok {
			r.setSecret(md, "cert", v)
		}
	}
	if t.KeySecret != nil {
		if v, ok := r.secretValue(p+".keySecret", t.KeySecret.Name, t.KeySecret.Key); ok {
			r.setSecret(md, "key", v)
		}
	}
	if t.InsecureSkipVerify {
		md["unsafeSsl"] = "true"
	}
	return t.CertSecret != nil && t.KeySecret != nil
}

// prometheus maps the prometheus block onto the prometheus scaler's keys.
func (r *resolver) prometheus(b *v1.PrometheusTrigger) map[string]string {
	const p = ".prometheus"
	md := map[string]string{}
	if strings.TrimSpace(b.ServerURL) == "" {
		r.invalid(p+".serverURL", "required: the base URL before /api/v1/query")
	}
	md["serverAddress"] = b.ServerURL
	if strings.TrimSpace(b.Query) == "" {
		r.invalid(p+".query", "required: the PromQL expression")
	}
	md["query"] = b.Query
	if !(b.Threshold > 0) || math.IsInf(b.Threshold, 0) {
		r.invalidValue(p+".threshold", formatFloat(b.Threshold), "expected a number > 0 (target value per replica)")
	}
	md["threshold"] = formatFloat(b.Threshold)
	if b.ActivationThreshold != nil {
		if a := *b.ActivationThreshold; math.IsNaN(a) || math.IsInf(a, 0) {
			r.invalidValue(p+".activationThreshold", formatFloat(a), "expected a finite number")
		}
		md["activationThreshold"] = formatFloat(*b.ActivationThreshold)
	}
	if b.IgnoreNullValues != nil {
		md["ignoreNullValues"] = strconv.FormatBool(*b.IgnoreNullValues)
	}
	if b.Namespace != "" {
		md["namespace"] = b.Namespace
	}
	if b.Timeout != nil {
		// The scaler reads a plain number as milliseconds, as KEDA does.
		d := b.Timeout.Duration
		switch {
		case d < 0:
			r.invalidValue(p+".timeout", d.String(), "expected a duration >= 0")
		case d%time.Millisecond != 0:
			r.invalidValue(p+".timeout", d.String(), "expected whole milliseconds")
		}
		md["timeout"] = strconv.FormatInt(d.Milliseconds(), 10)
	}
	var modes []string
	if a := b.Authentication; a != nil {
		ap := p + ".authentication"
		if a.BasicAuth != nil && a.BearerTokenSecret != nil {
			r.invalid(ap, "basicAuth and bearerTokenSecret exclude each other: give one")
		}
		if ba := a.BasicAuth; ba != nil {
			modes = append(modes, "basic")
			if ba.Username == "" {
				r.invalid(ap+".basicAuth.username", "required")
			}
			md["username"] = ba.Username
			if ba.Password != "" {
				r.invalid(ap+".basicAuth.password", "an inline password is not allowed (it would store a secret in the Scaler): use passwordSecret")
			}
			if v, ok := r.secretValue(ap+".basicAuth.passwordSecret", ba.PasswordSecret.Name, ba.PasswordSecret.Key); ok {
				r.setSecret(md, "password", v)
			}
		}
		if s := a.BearerTokenSecret; s != nil {
			modes = append(modes, "bearer")
			if v, ok := r.secretValue(ap+".bearerTokenSecret", s.Name, s.Key); ok {
				r.setSecret(md, "bearerToken", v)
			}
		}
		// ca and unsafeSsl apply whatever the modes; the tls mode is the
		// client certificate.
		if a.TLS != nil && r.tls(ap+".tls", a.TLS, md) {
			modes = append(modes, "tls")
		}
	}
	if len(modes) > 0 {
		md["authModes"] = strings.Join(modes, ",")
	}
	return md
}

// cel identifiers as the custom scaler takes source names (it also refuses
// reserved words, which it reports naming the key).
var sourceName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

// custom maps the custom block onto the custom scaler's flat keys
// (expression, threshold, activationThreshold, source.<name>.type,
// source.<name>.<key>), the one spelling custom.ParseMetadata reads: the
// block's shape lives in api/v1 alone.
func (r *resolver) custom(b *v1.CustomTrigger) map[string]string {
	const p = ".custom"
	md := map[string]string{}
	if strings.TrimSpace(b.Expression) == "" {
		r.invalid(p+".expression", "required: the CEL expression over the sources")
	}
	md["expression"] = b.Expression
	if !(b.Threshold > 0) || math.IsInf(b.Threshold, 0) {
		r.invalidValue(p+".threshold", formatFloat(b.Threshold), "expected a number > 0 (target value per replica)")
	}
	md["threshold"] = formatFloat(b.Threshold)
	if a := b.ActivationThreshold; math.IsNaN(a) || math.IsInf(a, 0) {
		r.invalidValue(p+".activationThreshold", formatFloat(a), "expected a finite number")
	}
	if b.ActivationThreshold != 0 {
		md["activationThreshold"] = formatFloat(b.ActivationThreshold)
	}
	if len(b.MetricSources) == 0 {
		r.invalid(p+".metricSources", "required: at least one source")
	}
	seen := map[string]int{}
	for i, src := range b.MetricSources {
		sp := p + ".metricSources[" + strconv.Itoa(i) + "]"
		// A source whose name cannot be a key prefix is still checked, into
		// a map that is thrown away, so that every problem is reported.
		out := md
		if !sourceName.MatchString(src.Name) {
			r.invalidValue(sp+".name", src.Name, "not a CEL identifier: a letter or '_', then letters, digits or '_', at most 63 characters")
			out = map[string]string{}
		} else if j, dup := seen[src.Name]; dup {
			r.invalidValue(sp+".name", src.Name, "also metricSources["+strconv.Itoa(j)+"].name: names must be unique")
			out = map[string]string{}
		} else {
			seen[src.Name] = i
		}
		prefix := "source." + src.Name + "."
		if strings.TrimSpace(src.Type) == "" {
			r.invalid(sp+".type", "required: the scaler type of the source")
		}
		out[prefix+"type"] = src.Type
		for _, k := range slices.Sorted(maps.Keys(src.Configuration)) {
			kp := sp + ".configuration." + k
			switch k {
			case "":
				r.invalid(kp, "empty key")
				continue
			case "type":
				r.invalid(kp, "type is the source's scaler type (metricSources[].type), not a key of its configuration")
				continue
			}
			if r.checkKey(kp, k, src.Configuration[k], prefix) {
				out[prefix+k] = src.Configuration[k]
			}
		}
		r.secretRefs(sp+".secretRefs", src.SecretRefs, prefix, func(param string) bool {
			if param == "type" {
				return true
			}
			_, ok := src.Configuration[param]
			return ok
		}, out)
	}
	return md
}

// formatFloat formats f so that it parses back exactly.
func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

package triggers

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
)

// Metric types of a trigger, as KEDA's trigger metricType.
const (
	MetricTypeAverageValue = "AverageValue"
	MetricTypeValue        = "Value"
)

// TypeResource is the trigger type the agent measures itself (CPU or
// memory of the target's pods).
const TypeResource = "resource"

// Resolve turns one trigger of a Scaler into a Trigger: the scaler type and
// its metadata with KEDA's keys (secrets read from in.Namespace through
// in.Secrets and filled in), or the resource block. It checks everything
// it can without building the scaler, and reports every problem at once
// (errors.Join): each names its field path under in.Path, the value when
// it is not secret, and what was expected, and wraps ErrInvalid or
// ErrSecret. A secret value never appears in an error. On error the
// Trigger is nil.
//
// Resolve is safe for concurrent use; it reads each referenced Secret once
// per call, with ctx.
func Resolve(ctx context.Context, in Input) (*Trigger, error) {
	r := &resolver{ctx: ctx, in: in, secrets: map[string]*secretRead{}, secretKeys: map[string]bool{}}
	t := r.resolve()
	if err := errors.Join(r.errs...); err != nil {
		return nil, err
	}
	t.Secrets = r.versions()
	if len(r.secretKeys) > 0 {
		t.SecretKeys = slices.Sorted(maps.Keys(r.secretKeys))
	}
	return t, nil
}

// resolver holds the state of one Resolve call.
type resolver struct {
	ctx     context.Context
	in      Input
	errs    []error
	secrets map[string]*secretRead // by Secret name
	// secretKeys are the metadata keys set from Secrets.
	secretKeys map[string]bool
}

// secretRead is the outcome of reading one Secret.
type secretRead struct {
	secret *corev1.Secret
	err    error // nil when secret was read
}

func (r *resolver) resolve() *Trigger {
	spec := r.in.Spec
	t := &Trigger{Name: cmp.Or(spec.Name, spec.Type), Type: spec.Type, MetricType: spec.MetricType}
	if spec.Type == "" {
		r.invalid(".type", "required: the scaler type (resource, kafka, prometheus, custom or any registered type)")
	}

	var blocks []string
	if spec.Resource != nil {
		blocks = append(blocks, "resource")
	}
	if spec.Kafka != nil {
		blocks = append(blocks, "kafka")
	}
	if spec.Prometheus != nil {
		blocks = append(blocks, "prometheus")
	}
	if spec.Custom != nil {
		blocks = append(blocks, "custom")
	}
	if spec.Metadata != nil {
		blocks = append(blocks, "metadata")
	}
	if len(blocks) != 1 {
		got := "none"
		if len(blocks) > 1 {
			got = strings.Join(blocks, ", ")
		}
		r.invalid("", "exactly one of resource, kafka, prometheus, custom or metadata must be set, got "+got)
		return t
	}
	block := blocks[0]
	switch {
	case block == "metadata" && spec.Type == TypeResource:
		r.invalidValue(".type", spec.Type, "type resource needs the resource block, not metadata")
	case block != "metadata" && spec.Type != "" && spec.Type != block:
		r.invalidValue(".type", spec.Type, "the "+block+" block needs type "+block)
	}
	if len(spec.SecretRefs) > 0 && block != "metadata" {
		r.invalid(".secretRefs", "secretRefs go with the metadata block (the "+block+" block names its Secrets itself)")
	}

	switch spec.MetricType {
	case "":
		if block != "resource" {
			t.MetricType = MetricTypeAverageValue
		}
	case MetricTypeAverageValue, MetricTypeValue:
		if block == "resource" {
			r.invalidValue(".metricType", spec.MetricType, "not for a resource trigger: its targetType says how the value is compared")
		}
	default:
		r.invalidValue(".metricType", spec.MetricType, "expected AverageValue or Value")
	}

	switch block {
	case "resource":
		t.Type = TypeResource
		t.Resource = r.resource(spec.Resource)
	case "kafka":
		t.Type, t.Metadata = r.kafka(spec.Kafka)
	case "prometheus":
		t.Type, t.Metadata = "prometheus", r.prometheus(spec.Prometheus)
	case "custom":
		t.Type, t.Metadata = "custom", r.custom(spec.Custom)
	case "metadata":
		t.Metadata = r.generic(spec.Metadata, spec.SecretRefs)
	}
	return t
}

// generic resolves the metadata block: the keys as they are, each
// secretRef's parameter set to its Secret's value.
func (r *resolver) generic(md map[string]string, refs []v1.SecretRef) map[string]string {
	out := make(map[string]string, len(md)+len(refs))
	for _, k := range slices.Sorted(maps.Keys(md)) {
		r.checkKey(".metadata."+k, k, md[k], "")
		out[k] = md[k]
	}
	r.secretRefs(".secretRefs", refs, "", func(param string) bool {
		_, ok := md[param]
		return ok
	}, out)
	return out
}

// secretRefs fills out[prefix+parameter] from each ref, at path; inBlock
// reports whether the block already sets a parameter (ambiguous).
func (r *resolver) secretRefs(path string, refs []v1.SecretRef, prefix string, inBlock func(string) bool, out map[string]string) {
	seen := map[string]bool{}
	for i, ref := range refs {
		p := path + "[" + strconv.Itoa(i) + "]"
		ok := true
		switch {
		case ref.Parameter == "":
			r.invalid(p+".parameter", "required: the metadata key the Secret's value goes to")
			ok = false
		case seen[ref.Parameter]:
			r.invalidValue(p+".parameter", ref.Parameter, "given by two secretRefs; give each parameter once")
			ok = false
		case inBlock(ref.Parameter):
			r.invalidValue(p+".parameter", ref.Parameter, "also set in the block itself: ambiguous, give it in one place")
			ok = false
		default:
			ok = r.checkKey(p+".parameter", ref.Parameter, ref.Parameter, prefix)
		}
		seen[ref.Parameter] = true
		v, found := r.secretValue(p, ref.Name, ref.Key)
		if ok && found {
			r.setSecret(out, prefix+ref.Parameter, v)
		}
	}
}

// Keys of KEDA's external scaler trigger, which name the server KEDA calls
// and the type it asks for: the agent builds the scaler of the trigger's
// type itself.
const (
	keyScalerAddress = "scalerAddress"
	keyScalerType    = "scalerType"
)

// checkKey reports a key the agent refuses: key is the key as the scaler
// sees it (within a custom source when it starts with source.<name>.,
// or prefix+key when prefix is given), value its value (never a secret:
// the keys refused here hold a variable name, a path or an address).
// It reports whether the key is accepted.
func (r *resolver) checkKey(path, key, value, prefix string) bool {
	local := key
	if rest, ok := strings.CutPrefix(prefix+key, "source."); ok {
		if _, k, ok := strings.Cut(rest, "."); ok {
			local = k
		}
	}
	switch {
	case strings.HasSuffix(key, "FromEnv"):
		// KEDA resolves <key>FromEnv from the scale target's containers
		// before it calls a scaler, and the scalers take what they get as
		// the secret itself. Nothing resolves it for the agent: the
		// variable's name would be sent as the credential.
		r.invalidValue(path, value, key+": the agent has no container environment to read; use secretRefs (parameter "+
			strconv.Quote(strings.TrimSuffix(key, "FromEnv"))+")")
		return false
	case strings.HasSuffix(key, "File"):
		// The scalers read <key>File from the file system of the process
		// that runs them: here the agent's pod, with its service account
		// token. A Scaler author could have the agent send it to a host of
		// their choice.
		r.invalidValue(path, value, key+" reads a file of the agent's pod: not allowed in a Scaler; use secretRefs (parameter "+
			strconv.Quote(strings.TrimSuffix(key, "File"))+"): a Scaler must not make the agent send its own files, such as its service account token, to a host the Scaler names")
		return false
	case local == keyScalerAddress || local == keyScalerType:
		r.invalidValue(path, value, local+" is KEDA's key for its external scaler and means nothing to the agent, which builds the trigger's type itself; remove it")
		return false
	}
	return true
}

// secretValue returns key of the Secret name, read once per Resolve; a
// missing Secret or key is an ErrSecret error at path (naming the Secret
// and the key, never the value). found is false after an error.
func (r *resolver) secretValue(path, name, key string) (value string, found bool) {
	bad := false
	if name == "" {
		r.invalid(path+".name", "required: the name of a Secret in the Scaler's namespace")
		bad = true
	}
	if key == "" {
		r.invalid(path+".key", "required: a key of the Secret's data")
		bad = true
	}
	if bad {
		return "", false
	}
	read := r.readSecret(name)
	switch {
	case read.err != nil && apierrors.IsNotFound(read.err):
		r.add(&fieldError{kind: ErrSecret, path: r.path(path),
			msg: "Secret " + strconv.Quote(name) + " not found in namespace " + strconv.Quote(r.in.Namespace)})
		return "", false
	case read.err != nil:
		r.add(&fieldError{kind: ErrSecret, path: r.path(path),
			msg: "reading Secret " + strconv.Quote(name) + " of namespace " + strconv.Quote(r.in.Namespace), cause: read.err})
		return "", false
	}
	b, ok := read.secret.Data[key]
	if !ok {
		r.add(&fieldError{kind: ErrSecret, path: r.path(path),
			msg: "Secret " + strconv.Quote(name) + " has no key " + strconv.Quote(key)})
		return "", false
	}
	// The bytes as they are, as KEDA's resolver uses them (no trimming:
	// a trailing newline stays).
	return string(b), true
}

// errNoReader is the cause when Input.Secrets is nil: a wiring mistake.
var errNoReader = errors.New("no SecretReader given (Input.Secrets is nil)")

// readSecret reads the Secret name once per Resolve.
func (r *resolver) readSecret(name string) *secretRead {
	if read, ok := r.secrets[name]; ok {
		return read
	}
	read := &secretRead{}
	if r.in.Secrets == nil {
		read.err = errNoReader
	} else {
		read.secret, read.err = r.in.Secrets.GetSecret(r.ctx, r.in.Namespace, name)
		if read.err == nil && read.secret == nil {
			read.err = errors.New("the SecretReader returned no Secret and no error")
		}
	}
	r.secrets[name] = read
	return read
}

// setSecret sets md[key] to v, a value from a Secret.
func (r *resolver) setSecret(md map[string]string, key, v string) {
	md[key] = v
	r.secretKeys[key] = true
}

// versions lists the Secrets read, sorted by name.
func (r *resolver) versions() []SecretVersion {
	var out []SecretVersion
	for _, name := range slices.Sorted(maps.Keys(r.secrets)) {
		if read := r.secrets[name]; read.err == nil {
			out = append(out, SecretVersion{Name: name, ResourceVersion: read.secret.ResourceVersion})
		}
	}
	return out
}

// path is in.Path followed by rest (".kafka.brokers[1]").
func (r *resolver) path(rest string) string {
	if r.in.Path == "" {
		return strings.TrimPrefix(rest, ".")
	}
	return r.in.Path + rest
}

func (r *resolver) add(err error) { r.errs = append(r.errs, err) }

// invalid reports an ErrInvalid problem with the field at rest.
func (r *resolver) invalid(rest, msg string) {
	r.add(&fieldError{kind: ErrInvalid, path: r.path(rest), msg: msg})
}

// invalidValue reports an ErrInvalid problem with the value of the field
// at rest; value must not be a secret.
func (r *resolver) invalidValue(rest, value, msg string) {
	r.add(&fieldError{kind: ErrInvalid, path: r.path(rest), value: value, shown: true, msg: msg})
}

package resource

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned/typed/metrics/v1beta1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

// Errors of Observe that callers branch on (errors.Is). Their texts are the
// HPA controller's.
var (
	// ErrMetricsAPI: the metrics.k8s.io list failed (metrics-server down,
	// the APIService unavailable, RBAC, the context's deadline). The
	// client's error is wrapped too, so apierrors.IsServiceUnavailable,
	// IsForbidden or errors.Is(err, context.DeadlineExceeded) tell which.
	ErrMetricsAPI = errors.New("unable to fetch metrics from resource metrics API")
	// ErrNoMetrics: metrics.k8s.io answered no PodMetrics at all for the
	// selector.
	ErrNoMetrics = errors.New("no metrics returned from resource metrics API")
	// ErrNoPods: the selector selects no pod.
	ErrNoPods = errors.New("no pods returned by selector while calculating replica count")
	// ErrMissingRequest: a Utilization target, and a pod's request of the
	// resource cannot be read (a container without one, no pod-level one,
	// or no container of that name). The pod spec must be fixed; retrying
	// does not help.
	ErrMissingRequest = errors.New("missing request")
)

// requestError is an ErrMissingRequest with the HPA controller's text.
type requestError struct{ msg string }

func (e *requestError) Error() string        { return e.msg }
func (e *requestError) Is(target error) bool { return target == ErrMissingRequest }

func missingRequest(format string, args ...any) error {
	return &requestError{msg: fmt.Sprintf(format, args...)}
}

// Options are the dependencies and settings of Metrics.
type Options struct {
	// Pods lists the target's pods (required): the manager's API reader
	// (a list per Observe; RBAC list on pods) or its cache (a watch of
	// every pod, as the HPA's pod lister; RBAC list and watch). Observe
	// lists with a namespace and a label selector, nothing else, and does
	// not modify what it gets.
	Pods client.Reader
	// Metrics lists metrics.k8s.io PodMetrics (required): the
	// MetricsV1beta1() of k8s.io/metrics/pkg/client/clientset/versioned
	// (RBAC list on pods.metrics.k8s.io).
	Metrics metricsclient.PodMetricsesGetter
	// PodLevelResourcesDisabled is the Kubernetes feature gate
	// PodLevelResources turned off (it is beta and on by default since
	// v1.34): a pod's request is then always summed from its containers,
	// even when the pod sets pod-level requests. Set it to match a cluster
	// whose kube-controller-manager runs with the gate off.
	PodLevelResourcesDisabled bool
}

// Validate reports the missing dependencies.
func (o *Options) Validate() error {
	var errs []error
	if o.Pods == nil {
		errs = append(errs, errors.New("resource: Options.Pods is required (a client.Reader for Pods)"))
	}
	if o.Metrics == nil {
		errs = append(errs, errors.New("resource: Options.Metrics is required (a metrics.k8s.io PodMetricses client)"))
	}
	return errors.Join(errs...)
}

// Metrics measures resource triggers. It is safe for concurrent use.
type Metrics struct {
	opts Options
	err  error // of Validate: every Observe returns it
}

// New returns the Metrics of opts. Options that do not validate make every
// Observe fail with Validate's error (so that a resource trigger reports
// it in its status), never a panic.
func New(opts Options) *Metrics {
	return &Metrics{opts: opts, err: opts.Validate()}
}

// Observe reads trig's resource on the pods that selector selects in
// namespace: one list of PodMetrics and one of Pods, both with selector,
// as the HPA does. It returns every pod the list holds (failed, pending
// and deleting pods too) in MetricValue.Pods, with its sample in
// PodSamples at the same index: its usage, or Missing when metrics.k8s.io
// has no usable PodMetrics for it, and for a Utilization target its
// request. Usages of PodMetrics whose pod the list does not hold are in
// UnlistedPodValuesMilli. The engine then groups the pods at its own now
// (the argument is not read: the samples carry their own timestamps).
//
// An error means the metric has no value this time: ErrMetricsAPI,
// ErrNoMetrics, ErrNoPods, a failed pod list, ErrMissingRequest (only
// for Utilization targets, checked on every listed pod, as upstream), or
// a trigger that is not a resource trigger the HPA knows. Errors name pods,
// containers and resources, never quantities.
func (m *Metrics) Observe(ctx context.Context, namespace string, selector labels.Selector, trig *v1.ResourceTrigger, _ time.Time) (scaling.MetricValue, error) {
	var out scaling.MetricValue
	if m.err != nil {
		return out, m.err
	}
	if trig == nil {
		return out, errors.New("no resource trigger")
	}
	if selector == nil {
		return out, errors.New("no pod selector")
	}
	if trig.ResourceName == "" {
		return out, errors.New("resourceName is empty")
	}
	var utilization bool
	switch trig.TargetType {
	case "Utilization":
		utilization = true
	case "AverageValue":
	default:
		return out, fmt.Errorf("targetType %q: expected Utilization or AverageValue", trig.TargetType)
	}
	res := corev1.ResourceName(trig.ResourceName)

	// Metrics first, then pods, as GetResourceReplicas: a pod that starts
	// in between is missing, one that goes is unlisted; neither fails.
	list, err := m.opts.Metrics.PodMetricses(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return out, fmt.Errorf("%w: %w", ErrMetricsAPI, err)
	}
	if len(list.Items) == 0 {
		return out, ErrNoMetrics
	}
	var pods corev1.PodList
	if err := m.opts.Pods.List(ctx, &pods, client.InNamespace(namespace), client.MatchingLabelsSelector{Selector: selector}); err != nil {
		return out, fmt.Errorf("unable to get pods while calculating replica count: %w", err)
	}
	if len(pods.Items) == 0 {
		return out, ErrNoPods
	}

	// The usage of each pod that has a usable PodMetrics (upstream's
	// PodMetricsInfo), by pod name.
	// (A name listed twice keeps its last PodMetrics, as upstream's map.)
	values := make([]int64, len(list.Items))
	byName := make(map[string]int, len(list.Items))
	for i := range list.Items {
		if v, ok := usage(&list.Items[i], res, trig.Container); ok {
			values[i] = v
			byName[list.Items[i].Name] = i
		}
	}

	out.Pods = make([]scaling.PodInfo, len(pods.Items))
	out.PodSamples = make([]scaling.PodSample, len(pods.Items))
	podLevel := !m.opts.PodLevelResourcesDisabled
	for i := range pods.Items {
		p := &pods.Items[i]
		out.Pods[i] = podInfo(p)
		s := &out.PodSamples[i]
		if utilization {
			// calculateRequests reads every listed pod, failed and
			// pending ones too: one without a request fails the metric.
			if s.RequestMilli, err = requestMilli(p, trig.Container, res, podLevel); err != nil {
				return scaling.MetricValue{}, err
			}
		}
		j, ok := byName[p.Name]
		if !ok {
			s.Missing = true
			continue
		}
		delete(byName, p.Name) // what stays is unlisted
		pm := &list.Items[j]
		s.ValueMilli = values[j]
		s.Timestamp, s.Window = pm.Timestamp.Time, pm.Window.Duration
	}
	// PodMetrics of pods the list does not hold (deleted since, or a
	// cache behind): upstream keeps their values in the metrics it
	// averages; the engine does the same with these.
	if len(byName) > 0 {
		out.UnlistedPodValuesMilli = make([]int64, 0, len(byName))
		for i := range list.Items {
			if j, ok := byName[list.Items[i].Name]; ok && j == i {
				out.UnlistedPodValuesMilli = append(out.UnlistedPodValuesMilli, values[i])
			}
		}
	}
	return out, nil
}

// usage is the pod's usage of res in milli-units, and false when the
// PodMetrics does not give it (the pod is then missing), as upstream's
// getPodMetrics (container "") and getContainerMetrics.
func usage(m *metricsv1beta1.PodMetrics, res corev1.ResourceName, container string) (int64, bool) {
	if container != "" {
		// Only the named container counts; without it (or without the
		// resource in it) the pod has no sample. Upstream v1.36 logs
		// this and goes on; it no longer fails the whole metric.
		for i := range m.Containers {
			if m.Containers[i].Name == container {
				q, ok := m.Containers[i].Usage[res]
				return q.MilliValue(), ok
			}
		}
		return 0, false
	}
	// Every container must report the resource: a partial sum would
	// understate the pod's usage. No container at all is no sample either.
	if len(m.Containers) == 0 {
		return 0, false
	}
	var sum int64
	for i := range m.Containers {
		q, ok := m.Containers[i].Usage[res]
		if !ok {
			return 0, false
		}
		sum += q.MilliValue()
	}
	return sum, true
}

// podInfo is what the replica calculator reads of a pod.
func podInfo(p *corev1.Pod) scaling.PodInfo {
	pi := scaling.PodInfo{Name: p.Name, Phase: scaling.PodPhase(p.Status.Phase), Deleting: p.DeletionTimestamp != nil}
	if p.Status.StartTime != nil {
		pi.StartTime, pi.HasStartTime = p.Status.StartTime.Time, true
	}
	// The first Ready condition, as podutil.GetPodCondition.
	for i := range p.Status.Conditions {
		if c := &p.Status.Conditions[i]; c.Type == corev1.PodReady {
			pi.Ready, pi.ReadyTransition = scaling.ConditionStatus(c.Status), c.LastTransitionTime.Time
			break
		}
	}
	return pi
}

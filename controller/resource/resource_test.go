package resource_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	clienttesting "k8s.io/client-go/testing"
	metricsapi "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsfake "k8s.io/metrics/pkg/client/clientset/versioned/fake"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/controller"
	hparesource "github.com/hpa-autoscaler/hpa-autoscaler/controller/resource"
	"github.com/hpa-autoscaler/hpa-autoscaler/scaling"
)

const (
	mi     = int64(1 << 20)
	window = 30 * time.Second
)

// The agent's interface (in a test: the import rules keep controller/...
// from importing controller).
var _ controller.ResourceMetrics = (*hparesource.Metrics)(nil)

// All pods running, ready for long and with metrics: each pod's usage is
// the sum of its containers' (the sidecar's too) and its request the sum
// of its containers' and its restartable init container's (not the
// ordinary init container's); every pod counts.
func TestObserveAllReady(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := time.Now().Truncate(time.Second)
	start := now.Add(-10 * time.Minute)
	for _, name := range []string{"web-0", "web-1", "web-2"} {
		p := ready(name, start, container(t, "app", "cpu=500m", "memory=256Mi"))
		p.init = []corev1.Container{container(t, "setup", "cpu=2", "memory=1Gi"), sidecar(t, "proxy", "cpu=100m", "memory=64Mi")}
		e.create(t, p)
	}
	other := ready("db-0", start, container(t, "db", "cpu=1"))
	other.app = "db"
	e.create(t, other)
	at := now.Add(-5 * time.Second)
	for name, use := range map[string][2]string{"web-0": {"300m", "60m"}, "web-1": {"600m", "60m"}, "web-2": {"150m", "10m"}, "db-0": {"900m", "1"}} {
		e.pm.Set(e.ns, name, map[string]corev1.ResourceList{
			"app":   list(t, "cpu="+use[0], "memory=128Mi"),
			"proxy": list(t, "cpu="+use[1], "memory=16Mi"),
		}, at, window)
	}

	info := func(name string) scaling.PodInfo {
		return scaling.PodInfo{Name: name, Phase: scaling.PodRunning, StartTime: start, HasStartTime: true, Ready: scaling.ConditionTrue, ReadyTransition: start}
	}
	pods := []scaling.PodInfo{info("web-0"), info("web-1"), info("web-2")}
	sample := func(value, request int64) scaling.PodSample {
		return scaling.PodSample{ValueMilli: value, RequestMilli: request, Timestamp: at, Window: window}
	}
	tests := []struct {
		name string
		trig *v1.ResourceTrigger
		want scaling.MetricValue
	}{
		{"cpu Utilization", cpuUtilization(50), scaling.MetricValue{Pods: pods, PodSamples: []scaling.PodSample{
			sample(360, 600), sample(660, 600), sample(160, 600)}}},
		{"cpu AverageValue: no requests read", trigger("cpu", "AverageValue", ""), scaling.MetricValue{Pods: pods, PodSamples: []scaling.PodSample{
			sample(360, 0), sample(660, 0), sample(160, 0)}}},
		{"memory Utilization", trigger("memory", "Utilization", ""), scaling.MetricValue{Pods: pods, PodSamples: []scaling.PodSample{
			sample(144*mi*1000, 320*mi*1000), sample(144*mi*1000, 320*mi*1000), sample(144*mi*1000, 320*mi*1000)}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.m.Observe(testContext(t), e.ns, selector(t, "app=web"), tc.trig, now)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Observe (-want +got):\n%s", diff)
			}
			_, counts := groups(got, tc.trig.ResourceName, now)
			if want := (scaling.PodCounts{Counted: 3}); counts != want {
				t.Errorf("pod groups %+v, want %+v", counts, want)
			}
		})
	}

	// The engine's proposal on it: int32(1180*100/1800) = 65% of 50% is
	// 1.3, ceil(1.3*3) = 4.
	got, err := e.m.Observe(testContext(t), e.ns, selector(t, "app=web"), cpuUtilization(50), now)
	if err != nil {
		t.Fatal(err)
	}
	ms := scaling.MetricSpec{Type: scaling.ResourceMetric, Target: scaling.UtilizationTarget, TargetUtilization: 50, Resource: "cpu"}
	r := propose(ms, got, 3, now)
	if !r.Valid || r.Replicas != 4 || r.Utilization != 65 || r.Rebalanced {
		t.Errorf("proposal %+v, want 4 replicas at 65%% utilization, not rebalanced", r)
	}
}

// Pods the HPA sets aside for CPU: a pod within its first 5 minutes whose
// sample does not cover a full window since it became ready, one not
// ready within that time, a pending one; a ready pod without metrics is
// missing. A pod that became unready long after it started counts. For
// memory, only the pending pod is unready.
func TestObserveUnreadyAndMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := time.Now().Truncate(time.Second)
	app := func() corev1.Container { return container(t, "app", "cpu=1", "memory=1Gi") }
	pods := []pod{
		ready("a-ready", now.Add(-10*time.Minute), app()),
		{name: "b-warming", containers: []corev1.Container{app()}, started: now.Add(-time.Minute), ready: corev1.ConditionTrue, readySince: now.Add(-20 * time.Second)},
		{name: "c-starting", containers: []corev1.Container{app()}, started: now.Add(-2 * time.Minute), ready: corev1.ConditionFalse, readySince: now.Add(-2 * time.Minute)},
		{name: "d-pending", containers: []corev1.Container{app()}, phase: corev1.PodPending},
		ready("e-no-metrics", now.Add(-10*time.Minute), app()),
		{name: "f-unready-later", containers: []corev1.Container{app()}, started: now.Add(-10 * time.Minute), ready: corev1.ConditionFalse, readySince: now.Add(-9 * time.Minute)},
	}
	for _, p := range pods {
		e.create(t, p)
	}
	for name, cpu := range map[string]string{"a-ready": "900m", "b-warming": "100m", "c-starting": "50m", "d-pending": "10m", "f-unready-later": "300m"} {
		e.pm.Set(e.ns, name, map[string]corev1.ResourceList{"app": list(t, "cpu="+cpu, "memory=512Mi")}, now, window)
	}

	got, err := e.m.Observe(testContext(t), e.ns, selector(t, "app=web"), cpuUtilization(50), now)
	if err != nil {
		t.Fatal(err)
	}
	wantPods := []scaling.PodInfo{
		{Name: "a-ready", Phase: scaling.PodRunning, StartTime: now.Add(-10 * time.Minute), HasStartTime: true, Ready: scaling.ConditionTrue, ReadyTransition: now.Add(-10 * time.Minute)},
		{Name: "b-warming", Phase: scaling.PodRunning, StartTime: now.Add(-time.Minute), HasStartTime: true, Ready: scaling.ConditionTrue, ReadyTransition: now.Add(-20 * time.Second)},
		{Name: "c-starting", Phase: scaling.PodRunning, StartTime: now.Add(-2 * time.Minute), HasStartTime: true, Ready: scaling.ConditionFalse, ReadyTransition: now.Add(-2 * time.Minute)},
		{Name: "d-pending", Phase: scaling.PodPending},
		{Name: "e-no-metrics", Phase: scaling.PodRunning, StartTime: now.Add(-10 * time.Minute), HasStartTime: true, Ready: scaling.ConditionTrue, ReadyTransition: now.Add(-10 * time.Minute)},
		{Name: "f-unready-later", Phase: scaling.PodRunning, StartTime: now.Add(-10 * time.Minute), HasStartTime: true, Ready: scaling.ConditionFalse, ReadyTransition: now.Add(-9 * time.Minute)},
	}
	if diff := cmp.Diff(wantPods, got.Pods); diff != "" {
		t.Errorf("pods (-want +got):\n%s", diff)
	}
	s := func(v int64) scaling.PodSample {
		return scaling.PodSample{ValueMilli: v, RequestMilli: 1000, Timestamp: now, Window: window}
	}
	wantSamples := []scaling.PodSample{s(900), s(100), s(50), s(10), {Missing: true, RequestMilli: 1000}, s(300)}
	if diff := cmp.Diff(wantSamples, got.PodSamples); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
	cpuGroups, _ := groups(got, "cpu", now)
	wantGroups := []scaling.PodGroup{scaling.PodCounted, scaling.PodUnready, scaling.PodUnready, scaling.PodUnready, scaling.PodMissing, scaling.PodCounted}
	if diff := cmp.Diff(wantGroups, cpuGroups); diff != "" {
		t.Errorf("cpu pod groups (-want +got):\n%s", diff)
	}
	// 1200m of 2000m counted is 60% (1.2): a scale-up, so the missing and
	// unready pods count at 0 of their requests: 1200m of 6000m is 20%,
	// which would reverse the direction: the count stays.
	ms := scaling.MetricSpec{Type: scaling.ResourceMetric, Target: scaling.UtilizationTarget, TargetUtilization: 50, Resource: "cpu"}
	r := propose(ms, got, 6, now)
	if want := (scaling.PodCounts{Counted: 2, Unready: 3, Missing: 1}); !r.Valid || r.Replicas != 6 || r.Utilization != 60 || !r.Rebalanced || !r.DirectionHeld || r.Pods != want {
		t.Errorf("proposal %+v, want 6 replicas at 60%%, rebalanced, direction held, pods %+v", r, want)
	}

	mem, err := e.m.Observe(testContext(t), e.ns, selector(t, "app=web"), trigger("memory", "AverageValue", ""), now)
	if err != nil {
		t.Fatal(err)
	}
	memGroups, _ := groups(mem, "memory", now)
	wantGroups = []scaling.PodGroup{scaling.PodCounted, scaling.PodCounted, scaling.PodCounted, scaling.PodUnready, scaling.PodMissing, scaling.PodCounted}
	if diff := cmp.Diff(wantGroups, memGroups); diff != "" {
		t.Errorf("memory pod groups (-want +got):\n%s", diff)
	}
}

// A ContainerResource trigger measures one container: the pod whose
// metrics lack it, or lack the resource in it, is missing (upstream v1.36
// no longer fails the metric); its request is that container's, a
// sidecar's too; a container the pods do not have fails a Utilization
// target and leaves an AverageValue one with no sample.
func TestObserveContainerResource(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := time.Now().Truncate(time.Second)
	start := now.Add(-time.Hour)
	for _, name := range []string{"p0", "p1", "p2"} {
		p := ready(name, start, container(t, "app", "cpu=500m"), container(t, "log", "cpu=100m"))
		p.init = []corev1.Container{sidecar(t, "proxy", "cpu=200m")}
		e.create(t, p)
	}
	e.pm.Set(e.ns, "p0", map[string]corev1.ResourceList{"app": list(t, "cpu=250m"), "log": list(t, "cpu=50m"), "proxy": list(t, "cpu=100m")}, now, window)
	e.pm.Set(e.ns, "p1", map[string]corev1.ResourceList{"log": list(t, "cpu=50m"), "proxy": list(t, "cpu=20m")}, now, window)
	e.pm.Set(e.ns, "p2", map[string]corev1.ResourceList{"app": list(t, "memory=10Mi"), "log": list(t, "cpu=40m"), "proxy": list(t, "cpu=30m")}, now, window)

	s := func(v, req int64) scaling.PodSample {
		return scaling.PodSample{ValueMilli: v, RequestMilli: req, Timestamp: now, Window: window}
	}
	tests := []struct {
		name    string
		trig    *v1.ResourceTrigger
		want    []scaling.PodSample
		wantErr string
	}{
		{name: "app", trig: trigger("cpu", "Utilization", "app"), want: []scaling.PodSample{s(250, 500), {Missing: true, RequestMilli: 500}, {Missing: true, RequestMilli: 500}}},
		{name: "sidecar", trig: trigger("cpu", "Utilization", "proxy"), want: []scaling.PodSample{s(100, 200), s(20, 200), s(30, 200)}},
		{name: "app AverageValue", trig: trigger("cpu", "AverageValue", "app"), want: []scaling.PodSample{s(250, 0), {Missing: true}, {Missing: true}}},
		// The whole pod: upstream sums the containers its PodMetrics
		// lists (p1's has no app: its sum is log's and proxy's); one
		// listed without the resource (p2's app) makes the pod missing.
		{name: "whole pod", trig: trigger("cpu", "Utilization", ""), want: []scaling.PodSample{s(400, 800), s(70, 800), {Missing: true, RequestMilli: 800}}},
		{name: "no such container, Utilization", trig: trigger("cpu", "Utilization", "nope"), wantErr: "container nope not found in Pod p0"},
		{name: "no such container, AverageValue", trig: trigger("cpu", "AverageValue", "nope"), want: []scaling.PodSample{{Missing: true}, {Missing: true}, {Missing: true}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := e.m.Observe(testContext(t), e.ns, selector(t, "app=web"), tc.trig, now)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr || !errors.Is(err, hparesource.ErrMissingRequest) {
					t.Fatalf("error %v, want %q (ErrMissingRequest)", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got.PodSamples); diff != "" {
				t.Errorf("samples (-want +got):\n%s", diff)
			}
		})
	}
}

// Memory AverageValue needs no requests; a PodMetrics without memory, one
// without containers and a pod without PodMetrics are missing.
func TestObserveMemoryAverageValue(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := time.Now().Truncate(time.Second)
	start := now.Add(-time.Hour)
	for _, name := range []string{"m0", "m1", "m2", "m3", "m4"} {
		p := ready(name, start, container(t, "app"))
		p.init = []corev1.Container{sidecar(t, "proxy")}
		e.create(t, p)
	}
	e.pm.Set(e.ns, "m0", map[string]corev1.ResourceList{"app": list(t, "memory=100Mi"), "proxy": list(t, "memory=28Mi")}, now, window)
	e.pm.Set(e.ns, "m1", map[string]corev1.ResourceList{"app": list(t, "memory=64Mi", "cpu=1m")}, now, window)
	e.pm.Set(e.ns, "m2", map[string]corev1.ResourceList{"app": list(t, "cpu=5m")}, now, window)
	e.pm.Set(e.ns, "m3", nil, now, window)

	got, err := e.m.Observe(testContext(t), e.ns, selector(t, "app=web"), trigger("memory", "AverageValue", ""), now)
	if err != nil {
		t.Fatal(err)
	}
	want := []scaling.PodSample{
		{ValueMilli: 128 * mi * 1000, Timestamp: now, Window: window},
		{ValueMilli: 64 * mi * 1000, Timestamp: now, Window: window},
		{Missing: true}, {Missing: true}, {Missing: true},
	}
	if diff := cmp.Diff(want, got.PodSamples); diff != "" {
		t.Errorf("samples (-want +got):\n%s", diff)
	}
	_, counts := groups(got, "memory", now)
	if want := (scaling.PodCounts{Counted: 2, Missing: 3}); counts != want {
		t.Errorf("pod groups %+v, want %+v", counts, want)
	}
	// A Utilization target needs the requests these pods do not have.
	_, err = e.m.Observe(testContext(t), e.ns, selector(t, "app=web"), trigger("memory", "Utilization", ""), now)
	if want := "missing request for memory in container app of Pod m0"; err == nil || err.Error() != want {
		t.Errorf("Utilization: error %v, want %q", err, want)
	}
}

// A container without a request of the resource fails a Utilization
// target (on any listed pod, a failed one too, as upstream reads every
// pod's request); an AverageValue target does not read requests.
func TestObserveMissingRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := time.Now().Truncate(time.Second)
	start := now.Add(-time.Hour)
	e.create(t, ready("web-0", start, container(t, "app", "cpu=500m", "memory=64Mi")))
	e.create(t, ready("web-1", start, container(t, "app", "memory=64Mi")))
	failed := pod{name: "batch-0", app: "batch", containers: []corev1.Container{container(t, "job", "memory=64Mi")}, phase: corev1.PodFailed, started: start}
	e.create(t, failed)
	e.create(t, pod{name: "batch-1", app: "batch", containers: []corev1.Container{container(t, "job", "cpu=1", "memory=64Mi")}, ready: corev1.ConditionTrue, readySince: start, started: start})
	for _, name := range []string{"web-0", "web-1", "batch-1"} {
		e.pm.Set(e.ns, name, map[string]corev1.ResourceList{"app": list(t, "cpu=100m", "memory=32Mi")}, now, window)
	}

	tests := []struct {
		name, selector string
		trig           *v1.ResourceTrigger
		wantErr        string
	}{
		{"cpu Utilization", "app=web", cpuUtilization(80), "missing request for cpu in container app of Pod web-1"},
		{"cpu AverageValue", "app=web", trigger("cpu", "AverageValue", ""), ""},
		{"memory Utilization", "app=web", trigger("memory", "Utilization", ""), ""},
		{"a failed pod's request", "app=batch", cpuUtilization(80), "missing request for cpu in container job of Pod batch-0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.m.Observe(testContext(t), e.ns, selector(t, tc.selector), tc.trig, now)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || err.Error() != tc.wantErr || !errors.Is(err, hparesource.ErrMissingRequest) {
				t.Fatalf("error %v, want %q (ErrMissingRequest)", err, tc.wantErr)
			}
		})
	}
}

// With pod-level requests (PodLevelResources, on by default) a pod's
// request is the pod-level one, unless a container is named; with the
// gate off the containers' requests are summed (and one without fails).
func TestObservePodLevelRequests(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := time.Now().Truncate(time.Second)
	start := now.Add(-time.Hour)
	p := ready("pl-0", start, container(t, "app", "cpu=300m"), container(t, "log"))
	p.podRequests = list(t, "cpu=1", "memory=512Mi")
	e.create(t, p)
	e.pm.Set(e.ns, "pl-0", map[string]corev1.ResourceList{"app": list(t, "cpu=400m", "memory=100Mi"), "log": list(t, "cpu=100m", "memory=20Mi")}, now, window)
	gateOff := hparesource.New(hparesource.Options{Pods: e.k.Client, Metrics: e.mc, PodLevelResourcesDisabled: true})

	tests := []struct {
		name    string
		m       *hparesource.Metrics
		trig    *v1.ResourceTrigger
		want    scaling.PodSample
		wantErr string
	}{
		{name: "cpu", m: e.m, trig: cpuUtilization(50), want: scaling.PodSample{ValueMilli: 500, RequestMilli: 1000}},
		{name: "memory", m: e.m, trig: trigger("memory", "Utilization", ""), want: scaling.PodSample{ValueMilli: 120 * mi * 1000, RequestMilli: 512 * mi * 1000}},
		{name: "container app", m: e.m, trig: trigger("cpu", "Utilization", "app"), want: scaling.PodSample{ValueMilli: 400, RequestMilli: 300}},
		{name: "gate off", m: gateOff, trig: cpuUtilization(50), wantErr: "missing request for cpu in container log of Pod pl-0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.m.Observe(testContext(t), e.ns, selector(t, "app=web"), tc.trig, now)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Timestamp, tc.want.Window = now, window
			if diff := cmp.Diff([]scaling.PodSample{tc.want}, got.PodSamples); diff != "" {
				t.Errorf("samples (-want +got):\n%s", diff)
			}
		})
	}
}

// Failed and deleting pods are listed (with their metrics) and the
// engine ignores them.
func TestObserveFailedAndDeletingPods(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := time.Now().Truncate(time.Second)
	start := now.Add(-time.Hour)
	e.create(t, ready("a-running", start, container(t, "app", "cpu=1")))
	e.create(t, pod{name: "b-failed", containers: []corev1.Container{container(t, "app", "cpu=1")}, phase: corev1.PodFailed, started: start})
	deleting := ready("c-deleting", start, container(t, "app", "cpu=1"))
	deleting.deleting = true
	e.create(t, deleting)
	for _, name := range []string{"a-running", "b-failed", "c-deleting"} {
		e.pm.Set(e.ns, name, map[string]corev1.ResourceList{"app": list(t, "cpu=500m")}, now, window)
	}
	got, err := e.m.Observe(testContext(t), e.ns, selector(t, "app=web"), cpuUtilization(50), now)
	if err != nil {
		t.Fatal(err)
	}
	var phases []string
	for _, p := range got.Pods {
		phases = append(phases, fmt.Sprintf("%s %s deleting=%t", p.Name, p.Phase, p.Deleting))
	}
	want := []string{"a-running Running deleting=false", "b-failed Failed deleting=false", "c-deleting Running deleting=true"}
	if diff := cmp.Diff(want, phases); diff != "" {
		t.Errorf("pods (-want +got):\n%s", diff)
	}
	g, _ := groups(got, "cpu", now)
	if diff := cmp.Diff([]scaling.PodGroup{scaling.PodCounted, scaling.PodIgnored, scaling.PodIgnored}, g); diff != "" {
		t.Errorf("pod groups (-want +got):\n%s", diff)
	}
}

// No PodMetrics at all for the selector is upstream's "no metrics" error,
// before the pods are listed.
func TestObserveNoMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := time.Now()
	e.create(t, ready("web-0", now.Add(-time.Hour), container(t, "app", "cpu=1")))
	for _, sel := range []string{"app=web", "app=nothing"} {
		_, err := e.m.Observe(testContext(t), e.ns, selector(t, sel), cpuUtilization(50), now)
		if !errors.Is(err, hparesource.ErrNoMetrics) || err.Error() != "no metrics returned from resource metrics API" {
			t.Errorf("%s: error %v, want ErrNoMetrics", sel, err)
		}
	}
}

// What the real metrics server cannot answer, as it only serves the pods
// the API server has: PodMetrics of pods that are not listed (deleted
// since, a cache behind), PodMetrics and no pod at all, a name twice.
// The metrics come from k8s.io/metrics' fake clientset; the pods from the
// API server.
func TestObserveUnlistedPods(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := time.Now().Truncate(time.Second)
	e.create(t, ready("web-0", now.Add(-time.Hour), container(t, "app", "cpu=1")))
	// The fake filters by label, so they carry the pods' labels, as
	// metrics-server's do.
	pm := func(name, cpu string) metricsapi.PodMetrics {
		app, _, _ := strings.Cut(name, "-")
		if app != "web" {
			app = "gone"
		}
		return metricsapi.PodMetrics{
			ObjectMeta: metav1.ObjectMeta{Namespace: e.ns, Name: name, Labels: map[string]string{"app": app}},
			Timestamp:  metav1.NewTime(now), Window: metav1.Duration{Duration: window},
			Containers: []metricsapi.ContainerMetrics{{Name: "app", Usage: list(t, cpu)}},
		}
	}
	tests := []struct {
		name     string
		selector string
		items    []metricsapi.PodMetrics
		want     scaling.MetricValue
		wantErr  error
	}{
		{"unlisted", "app in (web,gone)", []metricsapi.PodMetrics{pm("gone-1", "cpu=200m"), pm("web-0", "cpu=300m"), pm("gone-2", "memory=1Mi"), pm("gone-3", "cpu=50m")}, scaling.MetricValue{
			PodSamples:             []scaling.PodSample{{ValueMilli: 300, RequestMilli: 1000, Timestamp: now, Window: window}},
			UnlistedPodValuesMilli: []int64{200, 50},
		}, nil},
		{"listed twice: the last one", "app=web", []metricsapi.PodMetrics{pm("web-0", "cpu=100m"), pm("web-0", "cpu=300m")}, scaling.MetricValue{
			PodSamples: []scaling.PodSample{{ValueMilli: 300, RequestMilli: 1000, Timestamp: now, Window: window}},
		}, nil},
		{"no pods", "app=gone", []metricsapi.PodMetrics{pm("gone-1", "cpu=200m")}, scaling.MetricValue{}, hparesource.ErrNoPods},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake := &metricsfake.Clientset{}
			fake.AddReactor("list", "pods", func(clienttesting.Action) (bool, runtime.Object, error) {
				return true, &metricsapi.PodMetricsList{Items: tc.items}, nil
			})
			m := hparesource.New(hparesource.Options{Pods: e.k.Client, Metrics: fake.MetricsV1beta1()})
			got, err := m.Observe(testContext(t), e.ns, selector(t, tc.selector), cpuUtilization(50), now)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error %v, want %v", err, tc.wantErr)
			}
			got.Pods = nil
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("Observe (-want +got):\n%s", diff)
			}
		})
	}
}

// The agent's least privilege: list on pods and on pods.metrics.k8s.io.
// Without the second, the metrics API's Forbidden is the error.
func TestObserveRBAC(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	now := time.Now().Truncate(time.Second)
	e.create(t, ready("web-0", now.Add(-time.Hour), container(t, "app", "cpu=1")))
	e.pm.Set(e.ns, "web-0", map[string]corev1.ResourceList{"app": list(t, "cpu=250m")}, now, window)
	ctx := testContext(t)

	grant := func(sa string, rules []rbacRule) *hparesource.Metrics {
		t.Helper()
		createRole(t, e, sa, rules)
		cfg := serviceAccountConfig(t, e, sa)
		return hparesource.New(hparesource.Options{Pods: podsClient(t, e.k, cfg), Metrics: metricsClient(t, cfg)})
	}
	agent := grant("agent", []rbacRule{{"", "pods"}, {"metrics.k8s.io", "pods"}})
	// RBAC applies what the API server's informers have seen: wait.
	eventually(t, time.Minute, "the agent's Role to apply", func() error {
		got, err := agent.Observe(ctx, e.ns, selector(t, "app=web"), cpuUtilization(50), now)
		if err != nil {
			return err
		}
		if len(got.PodSamples) != 1 || got.PodSamples[0].ValueMilli != 250 {
			return fmt.Errorf("samples %+v, want one of 250m", got.PodSamples)
		}
		return nil
	})
	noMetrics := grant("no-metrics", []rbacRule{{"", "pods"}})
	_, err := noMetrics.Observe(ctx, e.ns, selector(t, "app=web"), cpuUtilization(50), now)
	if !errors.Is(err, hparesource.ErrMetricsAPI) || !apierrors.IsForbidden(err) {
		t.Errorf("without metrics.k8s.io: error %v, want ErrMetricsAPI and Forbidden", err)
	}
}

// A context that is done fails the metrics list with ErrMetricsAPI and
// the context's error.
func TestObserveContextDone(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.m.Observe(ctx, e.ns, selector(t, "app=web"), cpuUtilization(50), time.Now())
	if !errors.Is(err, hparesource.ErrMetricsAPI) || !errors.Is(err, context.Canceled) {
		t.Errorf("error %v, want ErrMetricsAPI and context.Canceled", err)
	}
}

// Observe refuses what it cannot measure, without a call.
func TestObserveInvalid(t *testing.T) {
	t.Parallel()
	metrics := (&metricsfake.Clientset{}).MetricsV1beta1()
	valid := hparesource.New(hparesource.Options{Pods: kube.Get(t).Client, Metrics: metrics})
	tests := []struct {
		name     string
		m        *hparesource.Metrics
		selector labels.Selector
		trig     *v1.ResourceTrigger
		want     string
	}{
		{"no options", hparesource.New(hparesource.Options{}), labels.Everything(), cpuUtilization(50),
			"resource: Options.Pods is required (a client.Reader for Pods)\nresource: Options.Metrics is required (a metrics.k8s.io PodMetricses client)"},
		{"no pods reader", hparesource.New(hparesource.Options{Metrics: metrics}), labels.Everything(), cpuUtilization(50),
			"resource: Options.Pods is required (a client.Reader for Pods)"},
		{"no trigger", valid, labels.Everything(), nil, "no resource trigger"},
		{"no selector", valid, nil, cpuUtilization(50), "no pod selector"},
		{"no resource", valid, labels.Everything(), &v1.ResourceTrigger{TargetType: "Utilization"}, "resourceName is empty"},
		{"Value target", valid, labels.Everything(), &v1.ResourceTrigger{ResourceName: "cpu", TargetType: "Value"}, `targetType "Value": expected Utilization or AverageValue`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.m.Observe(context.Background(), "ns", tc.selector, tc.trig, time.Now())
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
}

// TestMetricsAPIDown takes metrics.k8s.io away (the metrics-server
// Service's EndpointSlice deleted, as when metrics-server's pods are
// gone): Observe fails with ErrMetricsAPI and the API server's
// ServiceUnavailable, and measures again once it is back. It does not run
// in parallel (see TestMain).
func TestMetricsAPIDown(t *testing.T) {
	e := newEnv(t)
	now := time.Now().Truncate(time.Second)
	e.create(t, ready("web-0", now.Add(-time.Hour), container(t, "app", "cpu=1")))
	e.pm.Set(e.ns, "web-0", map[string]corev1.ResourceList{"app": list(t, "cpu=250m")}, now, window)
	ctx := testContext(t)
	observe := func() error {
		_, err := e.m.Observe(ctx, e.ns, selector(t, "app=web"), cpuUtilization(50), now)
		return err
	}
	if err := observe(); err != nil {
		t.Fatal(err)
	}

	slices := e.k.Clientset.DiscoveryV1().EndpointSlices("kube-system")
	saved, err := slices.List(ctx, metav1.ListOptions{LabelSelector: "kubernetes.io/service-name=metrics-server"})
	if err != nil || len(saved.Items) == 0 {
		t.Fatalf("metrics-server EndpointSlices: %v, %d", err, len(saved.Items))
	}
	restored := false
	restore := func() {
		if restored {
			return
		}
		restored = true
		for _, s := range saved.Items {
			s.ResourceVersion, s.UID, s.CreationTimestamp, s.ManagedFields = "", "", metav1.Time{}, nil
			if _, err := slices.Create(context.Background(), &s, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
				t.Errorf("restore EndpointSlice %s: %v", s.Name, err)
			}
		}
	}
	t.Cleanup(restore) // should the test stop before it restores them
	for _, s := range saved.Items {
		if err := slices.Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}

	var down error
	eventually(t, time.Minute, "Observe to fail with metrics.k8s.io down", func() error {
		if down = observe(); down == nil {
			return errNotYet
		}
		return nil
	})
	if !errors.Is(down, hparesource.ErrMetricsAPI) || !apierrors.IsServiceUnavailable(down) {
		t.Errorf("down: error %v, want ErrMetricsAPI and ServiceUnavailable", down)
	}
	if !strings.HasPrefix(down.Error(), "unable to fetch metrics from resource metrics API: ") {
		t.Errorf("down: error %q does not start as upstream's", down)
	}
	t.Logf("down: %v", down)

	restore()
	eventually(t, 2*time.Minute, "Observe to measure again with metrics.k8s.io back", observe)
}

package controller_test

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hpa-autoscaler/hpa-autoscaler/api/v1"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/scalertest"
	"github.com/hpa-autoscaler/hpa-autoscaler/internal/testenv"
)

// TestCustomResourceTarget: any kind with a /scale subresource is a
// target: a custom resource is scaled through its /scale, mapped from
// targetRef's apiVersion and kind by discovery.
func TestCustomResourceTarget(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A CRD of its own (cluster-scoped: a group no other test uses).
	group := "widgets.test.hpa-agent.io"
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "widgets." + group},
		"spec": map[string]any{
			"group": group, "scope": "Namespaced",
			"names": map[string]any{"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
			"versions": []any{map[string]any{
				"name": "v1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}},
				"subresources": map[string]any{"scale": map[string]any{
					"specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas", "labelSelectorPath": ".status.selector"}},
			}},
		},
	}}
	e.create(t, crd)
	t.Cleanup(func() { _ = e.c.Delete(context.Background(), crd) })
	widget := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": group + "/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w", "namespace": e.ns},
		"spec":     map[string]any{"replicas": int64(1)},
	}}
	scalertest.Eventually(t, wait, "the Widget CRD served", func() error { return e.c.Create(t.Context(), widget) })

	r := testenv.StartRedis(t)
	e.create(t, e.redisScaler("widget", "w", r.Addr(), "jobs", func(s *v1.Scaler) {
		s.Spec.TargetRef = v1.TargetRef{APIVersion: group + "/v1", Kind: "Widget", Name: "w"}
	}))
	push(t, r, "jobs", 14)
	e.startAgent(t, nil, nil)
	scalertest.Eventually(t, wait, "the Widget scaled to 3 through its /scale", func() error {
		var w unstructured.Unstructured
		w.SetGroupVersionKind(schema.GroupVersionKind{Group: group, Version: "v1", Kind: "Widget"})
		if err := e.c.Get(t.Context(), client.ObjectKey{Namespace: e.ns, Name: "w"}, &w); err != nil {
			return err
		}
		n, _, _ := unstructured.NestedInt64(w.Object, "spec", "replicas")
		if n != 3 {
			return fmt.Errorf("spec.replicas %d; %s", n, e.describe(t, "widget"))
		}
		return nil
	})
	e.waitEvent(t, "widget", "Scaled", "1 -> 3: ")
	e.waitStatus(t, "widget", "the target", func(s *v1.Scaler) error {
		if s.Status.Target != "Widget/w" {
			return fmt.Errorf("target %q", s.Status.Target)
		}
		return nil
	})
}

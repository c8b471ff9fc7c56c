package controller

// The agent's RBAC, generated into config/rbac/role.yaml by make generate
// (controller-gen rbac:roleName=hpa-autoscaler-agent): least privilege for
// what the reconciler reads and writes. Secrets: get only (each Secret a
// trigger references is read by name at every sync; never listed or
// watched). /scale: Deployments and StatefulSets here; a custom resource
// with /scale needs its own rule (get, update, patch on <plural>/scale of
// its group) added to the ClusterRole. Leases (leader election): a Role
// of the agent's namespace, hpa-system (change it with the namespace of
// the manifests).
//
// +kubebuilder:rbac:groups=coordination.k8s.io,resources=leases,verbs=get;create;update,namespace=hpa-system
// +kubebuilder:rbac:groups=autoscaling.hpa-agent.io,resources=scalers,verbs=get;list;watch
// +kubebuilder:rbac:groups=autoscaling.hpa-agent.io,resources=scalers/status,verbs=get;update;patch
// +kubebuilder:rbac:groups="",resources=secrets,verbs=get
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list
// +kubebuilder:rbac:groups="",resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=events.k8s.io,resources=events,verbs=create;patch
// +kubebuilder:rbac:groups=apps,resources=deployments/scale;statefulsets/scale,verbs=get;update;patch
// +kubebuilder:rbac:groups=autoscaling,resources=horizontalpodautoscalers,verbs=get;list;watch
// +kubebuilder:rbac:groups=policy,resources=poddisruptionbudgets,verbs=get;list;watch
// +kubebuilder:rbac:groups=keda.sh,resources=scaledobjects,verbs=get;list;watch
// +kubebuilder:rbac:groups=metrics.k8s.io,resources=pods,verbs=get;list

{{/* The chart's name. */}}
{{- define "hpa.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The full name: release-chart, or the release alone when it holds the chart's name. */}}
{{- define "hpa.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* Labels of every object. */}}
{{- define "hpa.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
app.kubernetes.io/name: {{ include "hpa.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: hpa-autoscaler
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Selector labels of a component: include "hpa.selectorLabels" (list . "backend") */}}
{{- define "hpa.selectorLabels" -}}
{{- $ctx := index . 0 }}
app.kubernetes.io/name: {{ include "hpa.name" $ctx }}
app.kubernetes.io/instance: {{ $ctx.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Labels of a component's objects. */}}
{{- define "hpa.componentLabels" -}}
{{ include "hpa.labels" (index . 0) }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* The image of a component: include "hpa.image" (list . .Values.backend.image) */}}
{{- define "hpa.image" -}}
{{- $ctx := index . 0 }}
{{- $img := index . 1 }}
{{- $repo := $img.repository | default $ctx.Values.image.repository }}
{{- if $ctx.Values.image.digest }}
{{- printf "%s@%s" $repo $ctx.Values.image.digest }}
{{- else }}
{{- $tag := $img.tag | default $ctx.Values.image.tag | default $ctx.Chart.AppVersion }}
{{- printf "%s:%s" $repo (toString $tag) }}
{{- end }}
{{- end }}

{{- define "hpa.backend.fullname" -}}
{{ include "hpa.fullname" . }}-backend
{{- end }}

{{- define "hpa.agent.fullname" -}}
{{ include "hpa.fullname" . }}-agent
{{- end }}

{{- define "hpa.backend.serviceAccountName" -}}
{{- if .Values.backend.serviceAccount.create }}
{{- default (include "hpa.backend.fullname" .) .Values.backend.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.backend.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "hpa.agent.serviceAccountName" -}}
{{- if .Values.agent.serviceAccount.create }}
{{- default (include "hpa.agent.fullname" .) .Values.agent.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.agent.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* TLS on: the backend's ports and the agent's link use certificates. */}}
{{- define "hpa.tls" -}}
{{- if .Values.backend.grpc.tls.enabled }}true{{ end }}
{{- end }}

{{/* Secret names of the certificates. */}}
{{- define "hpa.backend.tlsSecret" -}}
{{- if eq .Values.certificates.mode "existingSecret" }}
{{- required "certificates.existingSecret.backend: required with certificates.mode existingSecret" .Values.certificates.existingSecret.backend }}
{{- else }}
{{- include "hpa.fullname" . }}-backend-tls
{{- end }}
{{- end }}

{{- define "hpa.agent.tlsSecret" -}}
{{- if eq .Values.certificates.mode "existingSecret" }}
{{- required "certificates.existingSecret.agent: required with certificates.mode existingSecret" .Values.certificates.existingSecret.agent }}
{{- else }}
{{- include "hpa.fullname" . }}-agent-tls
{{- end }}
{{- end }}

{{- define "hpa.client.tlsSecret" -}}
{{- include "hpa.fullname" . }}-client-tls
{{- end }}

{{/* PostgreSQL: backend.database.host set. */}}
{{- define "hpa.postgres" -}}
{{- if .Values.backend.database.host }}true{{ end }}
{{- end }}

{{- define "hpa.database.secretName" -}}
{{- .Values.backend.database.existingSecret | default (printf "%s-database" (include "hpa.backend.fullname" .)) }}
{{- end }}

{{/* The DNS names of the backend's Service. */}}
{{- define "hpa.backend.dnsNames" -}}
{{- $svc := include "hpa.backend.fullname" . }}
{{- $ns := .Release.Namespace }}
{{- list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) "localhost" | toJson }}
{{- end }}

{{/* The backend's gRPC address inside the cluster. */}}
{{- define "hpa.backend.grpcAddress" -}}
{{- printf "%s.%s.svc:%d" (include "hpa.backend.fullname" .) .Release.Namespace (int .Values.backend.service.grpcPort) }}
{{- end }}

{{/* Checks of values the schema cannot express. */}}
{{- define "hpa.validate" -}}
{{- if and .Values.backend.enabled (not (include "hpa.postgres" .)) (gt (int .Values.backend.replicas) 1) }}
{{- fail "backend.replicas: more than 1 needs PostgreSQL (backend.database.host): the embedded SQLite is one pod's file" }}
{{- end }}
{{- if and .Values.backend.enabled (include "hpa.postgres" .) (gt (int .Values.backend.replicas) 1) (not .Values.backend.audit.signingKeySecret) }}
{{- fail "backend.audit.signingKeySecret: required with PostgreSQL and more than one replica: every replica must sign the audit log with the same key (see docs/install.md)" }}
{{- end }}
{{- if and (include "hpa.postgres" .) .Values.backend.database.password .Values.backend.database.existingSecret }}
{{- fail "backend.database.password: given with backend.database.existingSecret: keep one" }}
{{- end }}
{{- if and (include "hpa.postgres" .) (not .Values.backend.database.password) (not .Values.backend.database.existingSecret) }}
{{- fail "backend.database.existingSecret: required with PostgreSQL (or backend.database.password)" }}
{{- end }}
{{- $t := .Values.backend.grpc.tls }}
{{- if and $t.enabled (or (ne (dir $t.certFile) (dir $t.keyFile)) (ne (dir $t.certFile) (dir $t.caFile))) }}
{{- fail "backend.grpc.tls: certFile, keyFile and caFile must be in one directory (the certificate Secret is mounted there)" }}
{{- end }}
{{- if and $t.enabled (not (hasPrefix "/" $t.certFile)) }}
{{- fail "backend.grpc.tls.certFile: must be an absolute path" }}
{{- end }}
{{- if and .Values.agent.config.backend.enabled (not .Values.agent.config.backend.tokenSecret) }}
{{- fail "agent.config.backend.tokenSecret: required with agent.config.backend.enabled" }}
{{- end }}
{{- if and .Values.agent.config.backend.enabled (not .Values.agent.config.backend.clusterID) }}
{{- fail "agent.config.backend.clusterID: required with agent.config.backend.enabled" }}
{{- end }}
{{- end }}

{{/* The agent's TLS flags of the backend link (its client certificate and the backend's CA). */}}
{{- define "hpa.agent.tlsArgs" -}}
- --backend-tls-ca=/etc/hpa-autoscaler/tls/ca.crt
- --backend-tls-cert=/etc/hpa-autoscaler/tls/tls.crt
- --backend-tls-key=/etc/hpa-autoscaler/tls/tls.key
{{- end }}

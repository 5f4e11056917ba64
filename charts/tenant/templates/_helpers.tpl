{{/* Chart name, overridable. */}}
{{- define "tenant.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tenant.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The tenant's namespace: tenant.namespace, or tenant-<name> as the site model names it. */}}
{{- define "tenant.namespace" -}}
{{- default (printf "tenant-%s" .Values.tenant.name) .Values.tenant.namespace }}
{{- end }}

{{/* Object names are prefixed with the tenant name (they live in its namespace). */}}
{{- define "tenant.fullname" -}}
{{- printf "tenant-%s" .Values.tenant.name | trunc 55 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries, including gigafactory.io/tenant. */}}
{{- define "tenant.labels" -}}
helm.sh/chart: {{ include "tenant.chart" . | quote }}
{{ include "tenant.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/part-of: gigafactory
gigafactory.io/tenant: {{ .Values.tenant.name | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "tenant.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tenant.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{/*
Guards: stop the render on missing or contradictory values. Included once, from
namespace.yaml (always rendered). Each message names the value to change.
*/}}
{{- define "tenant.validate" -}}
{{- $v := .Values -}}
{{- if not $v.tenant.name -}}
{{- fail "tenant: tenant.name is required (the tenant's name from the site model)" -}}
{{- end -}}
{{- if and $v.kueue.enabled (not $v.kueue.clusterQueue) -}}
{{- fail "tenant: kueue.clusterQueue is required when kueue.enabled (the ClusterQueue holding the tenant's GPU share)" -}}
{{- end -}}
{{- if and $v.networkPolicy.enabled (not $v.networkPolicy.apiServer.cidrs) -}}
{{- fail "tenant: networkPolicy.apiServer.cidrs is required when networkPolicy.enabled (default deny would cut jobs off the Kubernetes API)" -}}
{{- end -}}
{{- if not $v.rbac.groups -}}
{{- fail "tenant: rbac.groups needs at least one group (the tenant team's identity-provider group)" -}}
{{- end -}}
{{- range $v.rbac.viewerGroups -}}
{{- if has . $v.rbac.groups -}}
{{- fail (printf "tenant: group %q is in both rbac.groups and rbac.viewerGroups; give each group one role" .) -}}
{{- end -}}
{{- end -}}
{{- if and $v.rdma.ipcLock (ne $v.tenant.podSecurity "baseline") -}}
{{- fail (printf "tenant: rdma.ipcLock adds IPC_LOCK to the baseline level, but tenant.podSecurity is %q; set it to baseline" $v.tenant.podSecurity) -}}
{{- end -}}
{{- if and $v.limitRange.enabled (gt (int $v.quota.gpus) 0) (gt (int $v.limitRange.maxGpusPerContainer) (int $v.quota.gpus)) -}}
{{- fail (printf "tenant: limitRange.maxGpusPerContainer=%d exceeds quota.gpus=%d: no such container could ever start" (int $v.limitRange.maxGpusPerContainer) (int $v.quota.gpus)) -}}
{{- end -}}
{{- end }}

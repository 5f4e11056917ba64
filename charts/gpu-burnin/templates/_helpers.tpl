{{/*
Node label keys written by the site model (gigafactory/ computes them once; the
kubelet flags, kind config and Kueue flavors use the same keys).
*/}}
{{- define "gpu-burnin.labelKey.pool" -}}gigafactory.io/pool{{- end }}
{{- define "gpu-burnin.labelKey.hall" -}}gigafactory.io/hall{{- end }}
{{- define "gpu-burnin.labelKey.su" -}}gigafactory.io/su{{- end }}
{{- define "gpu-burnin.labelKey.rack" -}}gigafactory.io/rack{{- end }}
{{/*
Taint new nodes register with until a burn-in passes (gigafactory.site.model.UNTESTED_TAINT).
*/}}
{{- define "gpu-burnin.untestedTaintKey" -}}gigafactory.io/untested{{- end }}

{{/* Chart name, overridable. */}}
{{- define "gpu-burnin.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified name. Kept to 40 characters: Indexed Job pods are named
<job>-<index>-<suffix> and their hostnames <job>-<index> must stay DNS labels.
*/}}
{{- define "gpu-burnin.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 40 | trimSuffix "-" }}
{{- else if contains (include "gpu-burnin.name" .) .Release.Name }}
{{- .Release.Name | trunc 40 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "gpu-burnin.name" .) | trunc 40 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "gpu-burnin.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "gpu-burnin.labels" -}}
helm.sh/chart: {{ include "gpu-burnin.chart" . | quote }}
{{ include "gpu-burnin.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service | quote }}
app.kubernetes.io/part-of: gigafactory
gigafactory.io/pool: {{ .Values.target.pool | quote }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "gpu-burnin.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gpu-burnin.name" . | quote }}
app.kubernetes.io/instance: {{ .Release.Name | quote }}
{{- end }}

{{/* Job names (the summary and NOTES refer to them too). */}}
{{- define "gpu-burnin.perNodeJob" -}}{{ include "gpu-burnin.fullname" . }}-node{{- end }}
{{- define "gpu-burnin.multiNodeJob" -}}{{ include "gpu-burnin.fullname" . }}-mn{{- end }}
{{/* The ComputeDomain of a multi-node run and the claim template its driver creates. */}}
{{- define "gpu-burnin.computeDomain" -}}{{ include "gpu-burnin.fullname" . }}-cd{{- end }}
{{- define "gpu-burnin.computeDomainChannel" -}}{{ include "gpu-burnin.fullname" . }}-cd-channel{{- end }}
{{/* Identity of the admission step; cluster-scoped RBAC, so the namespace is in the name. */}}
{{- define "gpu-burnin.admitName" -}}
{{- printf "%s-%s-admit" .Release.Namespace (include "gpu-burnin.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end }}
{{/* The ResourceClaimTemplate each multi-node pod claims: the ComputeDomain's, a named one, or none. */}}
{{- define "gpu-burnin.claimTemplate" -}}
{{- if .Values.multiNode.computeDomain.enabled -}}
{{ include "gpu-burnin.computeDomainChannel" . }}
{{- else -}}
{{ .Values.multiNode.resourceClaimTemplateName }}
{{- end -}}
{{- end }}

{{/* "repository:tag" of one entry of .Values.images; call with (list $ "dcgm"). */}}
{{- define "gpu-burnin.image" -}}
{{- $root := index . 0 -}}
{{- $img := index $root.Values.images (index . 1) -}}
{{- printf "%s:%s" $img.repository $img.tag -}}
{{- end }}

{{/* nodeSelector: the pool plus the optional hall/su/rack narrowing and extras. */}}
{{- define "gpu-burnin.nodeSelector" -}}
{{ include "gpu-burnin.labelKey.pool" . }}: {{ .Values.target.pool | quote }}
{{- with .Values.target.hall }}
{{ include "gpu-burnin.labelKey.hall" $ }}: {{ . | quote }}
{{- end }}
{{- with .Values.target.su }}
{{ include "gpu-burnin.labelKey.su" $ }}: {{ . | quote }}
{{- end }}
{{- with .Values.target.rack }}
{{ include "gpu-burnin.labelKey.rack" $ }}: {{ . | quote }}
{{- end }}
{{- with .Values.target.extraNodeSelector }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Tolerations: the GPU pool taint and the new-node taint always, then the extras. */}}
{{- define "gpu-burnin.tolerations" -}}
- key: nvidia.com/gpu
  operator: Equal
  value: present
  effect: NoSchedule
- key: {{ include "gpu-burnin.untestedTaintKey" . }}
  operator: Equal
  value: "true"
  effect: NoSchedule
{{- with .Values.target.extraTolerations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* Volumes shared by the test pods. */}}
{{- define "gpu-burnin.volumes" -}}
- name: scripts
  configMap:
    name: {{ printf "%s-scripts" (include "gpu-burnin.fullname" .) | quote }}
    defaultMode: 0555
- name: results
  emptyDir: {}
- name: shm
  emptyDir:
    medium: Memory
    sizeLimit: {{ .Values.shmSize | quote }}
{{- end }}

{{- define "gpu-burnin.volumeMounts" -}}
- name: scripts
  mountPath: /opt/burnin
  readOnly: true
- name: results
  mountPath: /results
- name: shm
  mountPath: /dev/shm
{{- end }}

{{/* Resources of a GPU test container: CPU/memory from values, all GPUs of the node. */}}
{{- define "gpu-burnin.gpuResources" -}}
{{- $root := index . 0 -}}
{{- $extra := index . 1 -}}
requests:
  {{- range $k, $v := $root.Values.resources.requests }}
  {{ $k | quote }}: {{ $v | quote }}
  {{- end }}
  nvidia.com/gpu: {{ $root.Values.target.gpusPerNode }}
  {{- range $k, $v := $extra }}
  {{ $k | quote }}: {{ $v | quote }}
  {{- end }}
limits:
  {{- range $k, $v := $root.Values.resources.limits }}
  {{ $k | quote }}: {{ $v | quote }}
  {{- end }}
  nvidia.com/gpu: {{ $root.Values.target.gpusPerNode }}
  {{- range $k, $v := $extra }}
  {{ $k | quote }}: {{ $v | quote }}
  {{- end }}
{{- end }}

{{/*
Guards: stop the render on missing or contradictory values. Included once, from
configmap.yaml (always rendered). Each message names the value to change.
*/}}
{{- define "gpu-burnin.validate" -}}
{{- $t := .Values.target -}}
{{- $p := .Values.perNode -}}
{{- $m := .Values.multiNode -}}
{{- $suNodes := mul .Values.topology.nodesPerRack .Values.topology.racksPerSU -}}
{{- if not $t.pool -}}
{{- fail "gpu-burnin: target.pool is required (the gigafactory.io/pool label value of the pool to test)" -}}
{{- end -}}
{{- if and $p.enabled $m.enabled -}}
{{- fail "gpu-burnin: perNode.enabled and multiNode.enabled are both true; they would compete for the same GPUs. Run the per-node release first, then a multi-node release" -}}
{{- end -}}
{{- if not (or $p.enabled $m.enabled) -}}
{{- fail "gpu-burnin: nothing to run: enable perNode or multiNode" -}}
{{- end -}}
{{- if and $p.enabled (not (or $p.dcgm.enabled $p.nccl.enabled)) -}}
{{- fail "gpu-burnin: perNode.enabled is true but perNode.dcgm.enabled and perNode.nccl.enabled are both false" -}}
{{- end -}}
{{- if and $p.enabled (lt (int $t.nodes) 1) -}}
{{- fail "gpu-burnin: target.nodes is required for perNode (how many nodes the selection holds; one test pod each)" -}}
{{- end -}}
{{- if and $t.rack (gt (int $t.nodes) (int .Values.topology.nodesPerRack)) -}}
{{- fail (printf "gpu-burnin: target.nodes=%d but target.rack selects one rack of topology.nodesPerRack=%d nodes" (int $t.nodes) (int .Values.topology.nodesPerRack)) -}}
{{- end -}}
{{- if and $t.su (gt (int $t.nodes) (int $suNodes)) -}}
{{- fail (printf "gpu-burnin: target.nodes=%d but target.su selects one scalable unit of %d nodes" (int $t.nodes) (int $suNodes)) -}}
{{- end -}}
{{- if $m.enabled -}}
{{- if lt (int $m.nodes) 2 -}}
{{- fail "gpu-burnin: multiNode.nodes must be at least 2 (use perNode for single-node tests)" -}}
{{- end -}}
{{- if and (eq $m.domain "su") $t.rack -}}
{{- fail "gpu-burnin: multiNode.domain=su cannot span a scalable unit while target.rack restricts the test to one rack; use domain=rack or clear target.rack" -}}
{{- end -}}
{{- if and (eq $m.domain "rack") (gt (int $m.nodes) (int .Values.topology.nodesPerRack)) -}}
{{- fail (printf "gpu-burnin: multiNode.nodes=%d does not fit one NVLink domain (topology.nodesPerRack=%d)" (int $m.nodes) (int .Values.topology.nodesPerRack)) -}}
{{- end -}}
{{- if and (eq $m.domain "su") (gt (int $m.nodes) (int $suNodes)) -}}
{{- fail (printf "gpu-burnin: multiNode.nodes=%d does not fit one scalable unit (%d nodes)" (int $m.nodes) (int $suNodes)) -}}
{{- end -}}
{{- if and $m.computeDomain.enabled $m.resourceClaimTemplateName -}}
{{- fail "gpu-burnin: multiNode.resourceClaimTemplateName is set while multiNode.computeDomain.enabled is true; claim either the chart's ComputeDomain or your own template, not both" -}}
{{- end -}}
{{- if and $m.ib.enabled (ne (mod (int $m.nodes) 2) 0) -}}
{{- fail (printf "gpu-burnin: multiNode.ib.enabled pairs pods for ib_write_bw, so multiNode.nodes=%d must be even" (int $m.nodes)) -}}
{{- end -}}
{{- end -}}
{{- end }}

{{/*
The per-node report step: combines the node's verdicts into one JSON line (log and
termination message) and exits 1 if a test failed. The last init container when
admission is on (the admit step runs only after it passed), else the pod's container.
*/}}
{{- define "gpu-burnin.reportContainer" -}}
# Combines the verdicts into one JSON line (log and termination message);
# exits 1 if a test failed, which marks this node's index failed.
- name: report
  image: {{ include "gpu-burnin.image" (list . "dcgm") | quote }}
  imagePullPolicy: {{ .Values.images.dcgm.pullPolicy | quote }}
  command: ["/bin/bash", "/opt/burnin/report.sh"]
  env:
    - name: NODE_NAME
      valueFrom:
        fieldRef:
          fieldPath: spec.nodeName
    - name: POD_NAME
      valueFrom:
        fieldRef:
          fieldPath: metadata.name
    - name: DCGM_ENABLED
      value: {{ .Values.perNode.dcgm.enabled | quote }}
    - name: NCCL_ENABLED
      value: {{ .Values.perNode.nccl.enabled | quote }}
    - name: NVLINK_ENABLED
      value: {{ .Values.perNode.nvlink.enabled | quote }}
  resources:
    requests:
      cpu: 10m
      memory: 16Mi
    limits:
      memory: 64Mi
  volumeMounts:
    - name: scripts
      mountPath: /opt/burnin
      readOnly: true
    - name: results
      mountPath: /results
      readOnly: true
{{- end }}

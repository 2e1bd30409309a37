{{/* The chart name, or nameOverride, as a DNS label. */}}
{{- define "sockrun.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's full name: fullnameOverride, else "<release>-<name>" (just the release when it contains the name). */}}
{{- define "sockrun.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "sockrun.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "sockrun.selectorLabels" -}}
app.kubernetes.io/name: {{ include "sockrun.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "sockrun.labels" -}}
helm.sh/chart: {{ include "sockrun.chart" . }}
{{ include "sockrun.selectorLabels" . }}
app.kubernetes.io/version: {{ include "sockrun.imageTag" . | trunc 63 | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "sockrun.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "sockrun.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{- define "sockrun.imageTag" -}}
{{- .Values.image.tag | default .Chart.AppVersion }}
{{- end }}

{{/* sockrun's own deadline: SIGTERM → drain delay → graceful timeout → forced kill. */}}
{{- define "sockrun.drainSeconds" -}}
{{- add (int .Values.sockrun.drainDelaySeconds) (int .Values.sockrun.gracefulTimeoutSeconds) }}
{{- end }}

{{/*
terminationGracePeriodSeconds: the kubelet's SIGKILL must come after sockrun's own deadline, or a
drain in progress is cut short and in-flight requests are dropped.
*/}}
{{- define "sockrun.terminationGracePeriodSeconds" -}}
{{- if kindIs "invalid" .Values.terminationGracePeriodSeconds }}
{{- add (include "sockrun.drainSeconds" . | int) (int .Values.terminationGraceMarginSeconds) }}
{{- else }}
{{- int .Values.terminationGracePeriodSeconds }}
{{- end }}
{{- end }}

{{/* Whether the headless admin Service exists. */}}
{{- define "sockrun.adminService" -}}
{{- if or .Values.admin.service.enabled .Values.serviceMonitor.enabled }}true{{ end }}
{{- end }}

{{/*
Checks across values that values.schema.json cannot express. Each failure says what is wrong, why
it matters and how to fix it.
*/}}
{{- define "sockrun.validate" -}}
{{- $drain := include "sockrun.drainSeconds" . | int }}
{{- $grace := include "sockrun.terminationGracePeriodSeconds" . | int }}
{{- if le $grace $drain }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must be longer than sockrun.drainDelaySeconds (%d) + sockrun.gracefulTimeoutSeconds (%d) = %d: the kubelet would SIGKILL the pod in the middle of its drain and drop in-flight requests. Leave terminationGracePeriodSeconds null to derive it (%d + terminationGraceMarginSeconds), or set it above %d." $grace (int .Values.sockrun.drainDelaySeconds) (int .Values.sockrun.gracefulTimeoutSeconds) $drain $drain $drain) }}
{{- end }}
{{- $startupWindow := mul (int .Values.probes.startup.periodSeconds) (int .Values.probes.startup.failureThreshold) }}
{{- if lt $startupWindow (int .Values.sockrun.bootTimeoutSeconds) }}
{{- fail (printf "probes.startup allows %ds (periodSeconds %d x failureThreshold %d), less than sockrun.bootTimeoutSeconds (%d): the kubelet would restart a pod whose workers are still booting. Raise probes.startup.failureThreshold." $startupWindow (int .Values.probes.startup.periodSeconds) (int .Values.probes.startup.failureThreshold) (int .Values.sockrun.bootTimeoutSeconds)) }}
{{- end }}
{{- if eq (toString .Values.sockrun.workers) "auto" }}
{{- $limits := (.Values.resources).limits | default dict }}
{{- $requests := (.Values.resources).requests | default dict }}
{{- if not (or $limits.cpu $requests.cpu) }}
{{- fail "sockrun.workers is \"auto\" but resources set no CPU limit or request: the worker count follows the CPU limit (else the request), and without either it would be one worker per node core. Set resources.limits.cpu, resources.requests.cpu or sockrun.workers." }}
{{- end }}
{{- end }}
{{- if and .Values.pdb.enabled (kindIs "invalid" .Values.pdb.maxUnavailable) (kindIs "invalid" .Values.pdb.minAvailable) }}
{{- fail "pdb.enabled needs pdb.maxUnavailable or pdb.minAvailable." }}
{{- end }}
{{- if and .Values.autoscaling.enabled (lt (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas)) }}
{{- fail (printf "autoscaling.maxReplicas (%d) is below autoscaling.minReplicas (%d)." (int .Values.autoscaling.maxReplicas) (int .Values.autoscaling.minReplicas)) }}
{{- end }}
{{- if and .Values.autoscaling.enabled (not .Values.autoscaling.targetCPUUtilizationPercentage) (not .Values.autoscaling.targetMemoryUtilizationPercentage) }}
{{- fail "autoscaling.enabled needs autoscaling.targetCPUUtilizationPercentage or autoscaling.targetMemoryUtilizationPercentage." }}
{{- end }}
{{- if and .Values.serviceMonitor.enabled .Values.podMonitor.enabled }}
{{- fail "serviceMonitor.enabled and podMonitor.enabled would scrape every pod twice: enable one of them." }}
{{- end }}
{{- if eq (int .Values.admin.port) (int .Values.app.port) }}
{{- fail (printf "admin.port and app.port are both %d: the admin server needs a port of its own." (int .Values.app.port)) }}
{{- end }}
{{- end }}

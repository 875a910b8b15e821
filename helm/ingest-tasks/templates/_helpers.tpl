{{/* Chart name. */}}
{{- define "ingest-tasks.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Resource name prefix: the release name, plus the chart name unless the release name holds it. */}}
{{- define "ingest-tasks.fullname" -}}
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

{{- define "ingest-tasks.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ingest-tasks.selectorLabels" . }}
app.kubernetes.io/version: {{ include "ingest-tasks.tag" . | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ingest-tasks
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "ingest-tasks.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ingest-tasks.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* The release tag of the images. */}}
{{- define "ingest-tasks.tag" -}}
{{- default .Chart.AppVersion .Values.image.tag }}
{{- end }}

{{/* Image reference from a dict: root (the chart context), name (image name), image (overrides). */}}
{{- define "ingest-tasks.imageRef" -}}
{{- $v := .root.Values }}
{{- $repo := default (printf "%s/%s" (trimSuffix "/" $v.image.registry) .name) .image.repository }}
{{- if .image.digest }}
{{- printf "%s@%s" $repo .image.digest }}
{{- else }}
{{- printf "%s:%s" $repo (default (include "ingest-tasks.tag" .root) .image.tag) }}
{{- end }}
{{- end }}

{{/* `push-logs` -> `PUSH_LOGS`: the suffix of a job's settings (as dags/ingest/config.py env_key). */}}
{{- define "ingest-tasks.envKey" -}}
{{- regexReplaceAll "[^A-Za-z0-9]+" . "_" | trimAll "_" | upper }}
{{- end }}

{{- define "ingest-tasks.configMapName" -}}
{{- default (printf "%s-config" (include "ingest-tasks.fullname" .)) .Values.configMap.name }}
{{- end }}

{{- define "ingest-tasks.secretName" -}}
{{- if .Values.secret.existingSecret }}
{{- .Values.secret.existingSecret }}
{{- else }}
{{- default (include "ingest-tasks.fullname" .) .Values.secret.name }}
{{- end }}
{{- end }}

{{- define "ingest-tasks.serviceAccountName" -}}
{{- default (include "ingest-tasks.fullname" .) .Values.serviceAccount.name }}
{{- end }}

{{- define "ingest-tasks.preflightName" -}}
{{- printf "%s-preflight" (include "ingest-tasks.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Names of the enabled jobs, comma-separated. */}}
{{- define "ingest-tasks.enabledJobs" -}}
{{- $names := list }}
{{- range $job, $cfg := .Values.jobs }}{{ if $cfg.enabled }}{{ $names = append $names $job }}{{ end }}{{ end }}
{{- join "," $names }}
{{- end }}

{{/* Container securityContext of every pod this chart starts (the images run as 65532). */}}
{{- define "ingest-tasks.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 65532
runAsGroup: 65532
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* Pod-level scheduling and pull settings shared by the chart's pods. */}}
{{- define "ingest-tasks.podCommon" -}}
{{- with .Values.image.pullSecrets }}
imagePullSecrets:
{{- range . }}
  - name: {{ . }}
{{- end }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
{{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The watchdog CronJob (a CronJob name may have at most 52 characters). */}}
{{- define "ingest-tasks.watchdogName" -}}
{{- printf "%s-watchdog" (include "ingest-tasks.fullname" .) | trunc 52 | trimSuffix "-" }}
{{- end }}

{{- define "ingest-tasks.preflightHookName" -}}
{{- printf "%s-preflight-hook" (include "ingest-tasks.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* With a chart-managed Secret, the hook checks a copy of this release's values (a hook
     Secret, created just before the hook Job): the real Secret is only updated after the hook,
     so checking it would check the values being replaced (a rotation would pass unchecked). */}}
{{- define "ingest-tasks.hookChecksCandidate" -}}
{{- if and .Values.preflight.hook.enabled .Values.secret.create (not .Values.secret.existingSecret) }}true{{ end }}
{{- end }}

{{- define "ingest-tasks.preflightCandidateName" -}}
{{- printf "%s-preflight-candidate" (include "ingest-tasks.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The chart-managed Secret's stringData: every key the DAGs know exists (empty when not
     given), so the Secret's shape does not depend on which values were given. */}}
{{- define "ingest-tasks.secretStringData" -}}
{{- $data := dict }}
{{- range (concat (list "mattermost-webhook-url" "snowflake-private-key" "snowflake-password") .Values.secret.requiredKeys) }}{{ $_ := set $data . "" }}{{ end }}
{{- range $key, $value := .Values.secret.stringData }}{{ $_ := set $data $key $value }}{{ end }}
{{- with $data }}
stringData:
  {{- range $key, $value := . }}
  {{ $key }}: {{ $value | quote }}
  {{- end }}
{{- end }}
{{- end }}

{{/* The preflight identity: ServiceAccount, a Role that may only `get` the jobs' Secret (and
     `patch` it with preflight.sync; the hook also its candidate copy), `get` the jobs'
     ServiceAccount, and its RoleBinding. Args: root (the chart context), name, hook (true:
     pre-install/pre-upgrade hook resources). */}}
{{- define "ingest-tasks.preflightRbac" -}}
{{- $root := .root }}
{{- $annotations := dict }}
{{- if .hook }}
{{- $annotations = dict "helm.sh/hook" "pre-install,pre-upgrade" "helm.sh/hook-weight" "-10" "helm.sh/hook-delete-policy" "before-hook-creation,hook-succeeded" }}
{{- end }}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ .name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "ingest-tasks.labels" $root | nindent 4 }}
    app.kubernetes.io/component: preflight
  {{- with merge (deepCopy $annotations) $root.Values.preflight.serviceAccountAnnotations $root.Values.serviceAccount.annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
automountServiceAccountToken: true
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ .name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "ingest-tasks.labels" $root | nindent 4 }}
    app.kubernetes.io/component: preflight
  {{- with $annotations }}
  annotations:
    {{- toYaml . | nindent 4 }}
  {{- end }}
rules:
  - apiGroups: [""]
    resources: ["secrets"]
    resourceNames: [{{ include "ingest-tasks.secretName" $root | quote }}]
    verbs: [{{ if $root.Values.preflight.sync }}"get", "patch"{{ else }}"get"{{ end }}]
  {{- if and .hook (include "ingest-tasks.hookChecksCandidate" $root) }}
  - apiGroups: [""]
    resources: ["secrets"]
    resourceNames: [{{ include "ingest-tasks.preflightCandidateName" $root | quote }}]
    verbs: ["get"]
  {{- end }}
  # The jobs' ServiceAccount and its IRSA annotation.
  - apiGroups: [""]
    resources: ["serviceaccounts"]
    resourceNames: [{{ include "ingest-tasks.serviceAccountName" $root | quote }}]
    verbs: ["get"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ .name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "ingest-tasks.labels" $root | nindent 4 }}
    app.kubernetes.io/component: preflight
  {{- with $annotations }}
  annotations:
    {{- toYaml (set (deepCopy .) "helm.sh/hook-weight" "-9") | nindent 4 }}
  {{- end }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ .name }}
subjects:
  - kind: ServiceAccount
    name: {{ .name }}
    namespace: {{ $root.Release.Namespace }}
{{- end }}

{{/* The preflight container (hook Job and helm test). */}}
{{- define "ingest-tasks.preflightContainer" -}}
{{- $hook := .hook }}
{{- $root := .root }}
{{- with .root }}
- name: preflight
  image: {{ include "ingest-tasks.imageRef" (dict "root" . "name" "preflight" "image" .Values.preflight.image) | quote }}
  imagePullPolicy: {{ .Values.image.pullPolicy }}
  {{- with .Values.preflight.args }}
  args:
    {{- toYaml . | nindent 4 }}
  {{- end }}
  env:
    # Besides the DAG settings below (which include INGEST_NAMESPACE and INGEST_SECRET_NAME):
    - name: INGEST_REQUIRED_SECRET_KEYS
      {{- /* The keys the job pods reference and need (dags/ingest/secrets.py): the webhook
           always; with a warehouse, one of the two Snowflake keys (both optional refs). */}}
      {{- $required := .Values.secret.requiredKeys }}
      {{- if (include "ingest-tasks.settings" . | fromYaml).INGEST_WAREHOUSE }}{{ $required = append $required "snowflake-private-key|snowflake-password" }}{{ end }}
      value: {{ join "," $required | quote }}
    - name: INGEST_JOBS
      value: {{ include "ingest-tasks.enabledJobs" . | quote }}
    - name: INGEST_PREFLIGHT_WEBHOOK_CHECK
      value: {{ .Values.preflight.webhookCheck | quote }}
    - name: INGEST_PREFLIGHT_WAREHOUSE_CHECK
      value: {{ .Values.preflight.warehouseCheck | quote }}
    {{- with .Values.preflight.sync }}
    - name: INGEST_PREFLIGHT_SYNC
      value: {{ join "," . | quote }}
    {{- end }}
    - name: INGEST_LOG_FORMAT
      value: json
    {{- range $name, $value := .Values.preflight.env }}
    - name: {{ $name }}
      value: {{ $value | quote }}
    {{- end }}
    # The DAGs' settings as this release renders them (not the ConfigMap, which a pre-upgrade
    # hook would see as it was before the upgrade): INGEST_SOURCE_*, INGEST_LAKE, images.
    {{- $settings := include "ingest-tasks.settings" . | fromYaml }}
    {{- $candidate := and $hook (include "ingest-tasks.hookChecksCandidate" .) }}
    {{- range $name, $value := $settings }}
    {{- if not (and $candidate (eq $name "INGEST_SECRET_NAME")) }}
    - name: {{ $name }}
      value: {{ $value | quote }}
    {{- end }}
    {{- end }}
    {{- if $candidate }}
    # This release's Secret values, not the live Secret's (see hookChecksCandidate).
    - name: INGEST_SECRET_NAME
      value: {{ include "ingest-tasks.preflightCandidateName" . | quote }}
    {{- end }}
    # The jobs' ServiceAccount (INGEST_SERVICE_ACCOUNT above) must carry these annotations.
    {{- with .Values.serviceAccount.annotations }}
    - name: INGEST_SERVICE_ACCOUNT_ANNOTATIONS
      value: {{ $pairs := list }}{{ range $k, $v := . }}{{ $pairs = append $pairs (printf "%s=%s" $k $v) }}{{ end }}{{ join "," $pairs | quote }}
    {{- end }}
    {{- if and $hook .Values.serviceAccount.create }}
    # Created or updated by this very release, after the hook: nothing to check yet.
    - name: INGEST_PREFLIGHT_SKIP_SERVICE_ACCOUNT
      value: "true"
    {{- end }}
    # The same settings under the names the binaries read, as the DAGs hand them to the job pods
    # (dags/ingest/job.py): preflight checks what the jobs will use. preflight.env wins.
    {{- range $binaryEnv, $setting := dict "SNOWFLAKE_USER" "INGEST_WAREHOUSE_USER" "MATTERMOST_CHANNEL" "INGEST_ALERT_CHANNEL" "MATTERMOST_USERNAME" "INGEST_ALERT_USERNAME" }}
    {{- if and (hasKey $settings $setting) (not (hasKey $root.Values.preflight.env $binaryEnv)) }}
    - name: {{ $binaryEnv }}
      value: {{ get $settings $setting | quote }}
    {{- end }}
    {{- end }}
  securityContext:
    {{- include "ingest-tasks.containerSecurityContext" . | nindent 4 }}
  {{- with .Values.preflight.resources }}
  resources:
    {{- toYaml . | nindent 4 }}
  {{- end }}
{{- end }}
{{- end }}

{{/* The DAGs' deploy-time settings (docs/dags.md), as a YAML map: the ConfigMap's data. Empty
     settings are left out, so the DAGs report them as missing by name. */}}
{{- define "ingest-tasks.settings" -}}
{{- $settings := dict }}
{{- $_ := set $settings "INGEST_IMAGE_REGISTRY" (trimSuffix "/" .Values.image.registry) }}
{{- $_ = set $settings "INGEST_IMAGE_TAG" (include "ingest-tasks.tag" .) }}
{{- $_ = set $settings "INGEST_NAMESPACE" .Release.Namespace }}
{{- $_ = set $settings "INGEST_SERVICE_ACCOUNT" (include "ingest-tasks.serviceAccountName" .) }}
{{- $_ = set $settings "INGEST_SECRET_NAME" (include "ingest-tasks.secretName" .) }}
{{- if .Values.lake }}{{ $_ = set $settings "INGEST_LAKE" .Values.lake }}{{ end }}
{{- if .Values.warehouse.url }}{{ $_ = set $settings "INGEST_WAREHOUSE" .Values.warehouse.url }}{{ end }}
{{- if .Values.warehouse.user }}{{ $_ = set $settings "INGEST_WAREHOUSE_USER" .Values.warehouse.user }}{{ end }}
{{- if .Values.alerts.channel }}{{ $_ = set $settings "INGEST_ALERT_CHANNEL" .Values.alerts.channel }}{{ end }}
{{- if .Values.alerts.username }}{{ $_ = set $settings "INGEST_ALERT_USERNAME" .Values.alerts.username }}{{ end }}
{{- if .Values.alerts.connId }}{{ $_ = set $settings "INGEST_ALERT_CONN_ID" .Values.alerts.connId }}{{ end }}
{{- with .Values.podScheduling }}{{ $_ = set $settings "INGEST_POD_SCHEDULING" (toJson .) }}{{ end }}
{{- range $job, $cfg := .Values.jobs }}
{{- if $cfg.enabled }}
{{- $key := include "ingest-tasks.envKey" $job }}
{{- $_ = set $settings (printf "INGEST_IMAGE_%s" $key) (include "ingest-tasks.imageRef" (dict "root" $ "name" $job "image" $cfg.image)) }}
{{- with $cfg.sources }}
{{- $_ = set $settings (printf "INGEST_SOURCE_%s" $key) (join "," .) }}
{{- end }}
{{- with $cfg.deployments }}
{{- $_ = set $settings (printf "INGEST_%s_DEPLOYMENTS" $key) (join "," .) }}
{{- end }}
{{- with $cfg.podScheduling }}
{{- $_ = set $settings (printf "INGEST_POD_SCHEDULING_%s" $key) (toJson .) }}
{{- end }}
{{- range $deployment, $source := $cfg.sourcesByDeployment }}
{{- if $source }}
{{- $_ = set $settings (printf "INGEST_SOURCE_%s_%s" $key (include "ingest-tasks.envKey" $deployment)) $source }}
{{- end }}
{{- end }}
{{- end }}
{{- end }}
{{- range $name, $value := .Values.configMap.extraSettings }}
{{- $_ = set $settings $name (toString $value) }}
{{- end }}
{{- toYaml $settings }}
{{- end }}

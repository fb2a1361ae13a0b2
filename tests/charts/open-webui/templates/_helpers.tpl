{{/* Every object is named nameOverride or the chart name; the release name is not part of it. */}}
{{- define "standin.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "standin.selector" -}}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: {{ include "standin.name" . }}
{{- end -}}

{{/* A StatefulSet for local persistence unless workload.kind says otherwise. */}}
{{- define "standin.kind" -}}
{{- if .Values.workload.kind -}}
{{- .Values.workload.kind -}}
{{- else if and .Values.persistence.enabled (eq .Values.persistence.provider "local") -}}
StatefulSet
{{- else -}}
Deployment
{{- end -}}
{{- end -}}

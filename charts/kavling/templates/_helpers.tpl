{{/* The one namespace Kavling's RBAC and admission policies name. */}}
{{- define "kavling.namespaceCheck" -}}
{{- if ne .Release.Namespace "kavling-system" -}}
{{- fail (printf "install Kavling into the namespace kavling-system (its RBAC and admission policies name it), not %q: helm install kavling charts/kavling -n kavling-system --create-namespace" .Release.Namespace) -}}
{{- end -}}
{{- end -}}

{{- define "kavling.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag }}
{{- end -}}

{{- define "kavling.labels" -}}
app.kubernetes.io/part-of: kavling
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ .Chart.Name }}-{{ .Chart.Version }}
{{- end -}}

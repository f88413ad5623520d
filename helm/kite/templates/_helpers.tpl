{{/*
Shared helpers. The chart sticks to what deploy/helm-render (CI's renderer: Go text/template +
Sprig + include/tpl/required/lookup/toYaml) supports; see docs/deploy.md.
*/}}

{{- define "kite.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "kite.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "kite.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The daemons in start order. */}}
{{- define "kite.daemonNames" -}}
auth mta submission delivery imap pop3 caldav freebusy
{{- end -}}

{{/* Labels. Call with (dict "root" $ "component" "mta"). */}}
{{- define "kite.labels" -}}
helm.sh/chart: {{ include "kite.chart" .root }}
{{ include "kite.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
app.kubernetes.io/part-of: kite
{{- end -}}

{{- define "kite.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kite.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Image reference. Call with (dict "root" $ "image" "kite-mta"). */}}
{{- define "kite.image" -}}
{{- $img := .root.Values.image -}}
{{- $repo := printf "%s/%s" $img.repository .image -}}
{{- if $img.registry -}}{{- $repo = printf "%s/%s" (trimSuffix "/" $img.registry) $repo -}}{{- end -}}
{{- printf "%s:%s" $repo (default .root.Chart.AppVersion $img.tag) -}}
{{- end -}}

{{- define "kite.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "kite.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "kite.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "kite.fullname" .)) .Values.tls.secretName -}}
{{- end -}}

{{- define "kite.secretName" -}}
{{- printf "%s-secrets" (include "kite.fullname" .) -}}
{{- end -}}

{{/* Internal (ClusterIP) Service of a daemon: gRPC and metrics. (dict "root" $ "d" "auth") */}}
{{- define "kite.internalService" -}}
{{- printf "%s-%s-internal" (include "kite.fullname" .root) .d | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Does the daemon have client ports (a public Service)? "true" or "". */}}
{{- define "kite.hasClientPorts" -}}
{{- $v := index .root.Values.daemons .d -}}
{{- if $v.ports -}}true{{- end -}}
{{- end -}}

{{/* PROXY protocol for a daemon: "true" when any exposed port enables it; fails when its
     exposed ports disagree or no trusted CIDRs are set. (dict "root" $ "d" "imap") */}}
{{- define "kite.proxyEnabled" -}}
{{- $v := index .root.Values.daemons .d -}}
{{- $on := list -}}{{- $off := list -}}
{{- range $name, $p := ($v.ports | default dict) -}}
{{- if $p.expose -}}
{{- if $p.proxyProtocol -}}{{- $on = append $on $name -}}{{- else -}}{{- $off = append $off $name -}}{{- end -}}
{{- end -}}
{{- end -}}
{{- if and $on $off -}}
{{- fail (printf "daemons.%s.ports: proxyProtocol is on for %s but off for %s; kite-%s expects a PROXY header from trusted sources on every listener, so all its exposed ports must agree" .d (join "," $on) (join "," $off) .d) -}}
{{- end -}}
{{- if $on -}}
{{- if not .root.Values.proxyProtocol.trustedCIDRs -}}
{{- fail (printf "daemons.%s.ports enable proxyProtocol: set proxyProtocol.trustedCIDRs to the load balancers' source ranges" .d) -}}
{{- end -}}
true
{{- end -}}
{{- end -}}

{{/* DNS servers for global.dns_servers: dns.servers, else the cluster DNS Service's ClusterIP. */}}
{{- define "kite.dnsServers" -}}
{{- if .Values.dns.servers -}}
{{- join "," .Values.dns.servers -}}
{{- else -}}
{{- $svc := lookup "v1" "Service" .Values.dns.clusterDNSService.namespace .Values.dns.clusterDNSService.name -}}
{{- $ip := "" -}}
{{- if $svc -}}{{- $ip = $svc.spec.clusterIP | default "" -}}{{- end -}}
{{- if or (not $ip) (eq $ip "None") -}}
{{- fail (printf "dns.servers is empty and the cluster DNS Service %s/%s could not be looked up (helm template and GitOps renderers cannot): set dns.servers to your cluster DNS IP (kubectl -n %s get svc %s -o jsonpath='{.spec.clusterIP}')" .Values.dns.clusterDNSService.namespace .Values.dns.clusterDNSService.name .Values.dns.clusterDNSService.namespace .Values.dns.clusterDNSService.name) -}}
{{- end -}}
{{- $ip -}}
{{- end -}}
{{- end -}}

{{/* The configuration file (non-secret keys) as YAML. */}}
{{- define "kite.configFile" -}}
{{- $root := . -}}
{{- $user := deepCopy (.Values.config | default dict) -}}
{{- range $d := splitList " " (include "kite.daemonNames" .) -}}
{{- $v := index $root.Values.daemons $d -}}
{{- if $v.config -}}
{{- $_ := set $user $d (mergeOverwrite (deepCopy (index $user $d | default dict)) $v.config) -}}
{{- end -}}
{{- end -}}
{{- $global := dict
    "hostname" .Values.hostname
    "auth_address" (printf "%s:%d" (include "kite.internalService" (dict "root" . "d" "auth")) (int .Values.daemons.auth.grpcPort))
    "caldav_address" (printf "%s:%d" (include "kite.internalService" (dict "root" . "d" "caldav")) (int .Values.daemons.caldav.grpcPort))
    "freebusy_address" (printf "%s:%d" (include "kite.internalService" (dict "root" . "d" "freebusy")) (int .Values.daemons.freebusy.grpcPort))
    "redis" (include "kite.redisAddress" .)
    "postgres_pool_size" (int .Values.postgresql.poolSize)
    "tls_cert" "/etc/kite/tls/tls.crt"
    "tls_key" "/etc/kite/tls/tls.key"
    "log_level" .Values.logLevel
    "log_format" "json"
    "dns_servers" (include "kite.dnsServers" .)
-}}
{{- if .Values.grpcTLS.enabled -}}
{{- $_ := set $global "grpc_tls_cert" "/etc/kite/grpc-tls/tls.crt" -}}
{{- $_ := set $global "grpc_tls_key" "/etc/kite/grpc-tls/tls.key" -}}
{{- $_ := set $global "grpc_tls_ca" "/etc/kite/grpc-tls/ca.crt" -}}
{{- end -}}
{{- $fixed := dict "global" $global -}}
{{- range $d := splitList " " (include "kite.daemonNames" .) -}}
{{- $v := index $root.Values.daemons $d -}}
{{- $s := dict "grpc_listen" (printf "0.0.0.0:%d" (int $v.grpcPort)) "metrics_listen" (printf "0.0.0.0:%d" (int $v.metricsPort)) -}}
{{- range $name, $p := ($v.ports | default dict) -}}
{{- $_ := set $s (printf "%s_listen" $name) (printf "0.0.0.0:%d" (int $p.containerPort)) -}}
{{- end -}}
{{- $_ := set $fixed $d $s -}}
{{- end -}}
{{- toYaml (mergeOverwrite $user $fixed) -}}
{{- end -}}

{{- define "kite.redisAddress" -}}
{{- if .Values.redis.bundled.enabled -}}
{{- printf "%s-redis:6379" (include "kite.fullname" .) -}}
{{- else -}}
{{- required "redis.external.address (host:port) is required when redis.bundled.enabled is false" .Values.redis.external.address -}}
{{- end -}}
{{- end -}}

{{/* Environment shared by every Kite container: secrets only (the rest is in kite.yaml). */}}
{{- define "kite.secretEnv" -}}
- name: KITE_GLOBAL_POSTGRES_URL
  valueFrom:
    secretKeyRef:
{{- if and (not .Values.postgresql.bundled.enabled) .Values.postgresql.external.existingSecret }}
      name: {{ .Values.postgresql.external.existingSecret }}
      key: {{ .Values.postgresql.external.existingSecretKey }}
{{- else }}
      name: {{ include "kite.secretName" . }}
      key: postgres-url
{{- end }}
{{- if .Values.redis.bundled.enabled }}
- name: KITE_GLOBAL_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "kite.secretName" . }}
      key: redis-password
{{- else if .Values.redis.external.existingSecret }}
- name: KITE_GLOBAL_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.redis.external.existingSecret }}
      key: {{ .Values.redis.external.existingSecretKey }}
{{- else if .Values.redis.external.password }}
- name: KITE_GLOBAL_REDIS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "kite.secretName" . }}
      key: redis-password
{{- end }}
{{- end -}}

{{/* Pod-level security context. (dict "root" $ "minPort" 25) - minPort 0: no privileged port. */}}
{{- define "kite.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- if and .minPort (lt (int .minPort) 1024) }}
# A non-root process cannot use NET_BIND_SERVICE without ambient capabilities (which
# Kubernetes does not grant), so the pod lowers the privileged-port boundary to its lowest port
# (a namespaced "safe" sysctl since Kubernetes 1.22).
sysctls:
  - name: net.ipv4.ip_unprivileged_port_start
    value: {{ .minPort | int | toString | quote }}
{{- end }}
{{- end -}}

{{/* Container security context. (dict "bind" true) adds NET_BIND_SERVICE. */}}
{{- define "kite.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
{{- if .bind }}
  add: [NET_BIND_SERVICE]
{{- end }}
{{- end -}}

{{/* Default affinity: spread a daemon's replicas across nodes (preferred, so one-node trials
     still schedule). (dict "root" $ "d" "mta") */}}
{{- define "kite.affinity" -}}
{{- $v := index .root.Values.daemons .d -}}
{{- if $v.affinity -}}
{{- toYaml $v.affinity -}}
{{- else -}}
podAntiAffinity:
  preferredDuringSchedulingIgnoredDuringExecution:
    - weight: 100
      podAffinityTerm:
        topologyKey: kubernetes.io/hostname
        labelSelector:
          matchLabels:
            {{- include "kite.selectorLabels" (dict "root" .root "component" .d) | nindent 12 }}
    - weight: 50
      podAffinityTerm:
        topologyKey: topology.kubernetes.io/zone
        labelSelector:
          matchLabels:
            {{- include "kite.selectorLabels" (dict "root" .root "component" .d) | nindent 12 }}
{{- end -}}
{{- end -}}

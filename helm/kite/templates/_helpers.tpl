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

{{/* Labels of every object: the standard ones over commonLabels (a commonLabels key cannot
     replace a standard label). Call with (dict "root" $ "component" "mta"). */}}
{{- define "kite.labels" -}}
{{- $std := dict "helm.sh/chart" (include "kite.chart" .root) "app.kubernetes.io/version" (.root.Chart.AppVersion | toString) "app.kubernetes.io/managed-by" .root.Release.Service "app.kubernetes.io/part-of" "kite" -}}
{{- $std = merge $std (include "kite.selectorLabels" . | fromYaml) -}}
{{- toYaml (merge $std (deepCopy (.root.Values.commonLabels | default dict))) -}}
{{- end -}}

{{- define "kite.selectorLabels" -}}
app.kubernetes.io/name: {{ include "kite.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{/* Labels of a pod template: selector labels over podLabels and commonLabels, plus
     (dict ... "extra" dict) e.g. the shared load balancer's label. */}}
{{- define "kite.podLabels" -}}
{{- $l := include "kite.selectorLabels" . | fromYaml -}}
{{- $l = merge $l (deepCopy (.extra | default dict)) (deepCopy (.root.Values.podLabels | default dict)) (deepCopy (.root.Values.commonLabels | default dict)) -}}
{{- toYaml $l -}}
{{- end -}}

{{/* Image reference: <registry>/<repository>/<image>@<digest> when image.digests names a
     digest for it, else :<tag>. Call with (dict "root" $ "image" "kite-mta"). */}}
{{- define "kite.image" -}}
{{- $img := .root.Values.image -}}
{{- $repo := printf "%s/%s" $img.repository .image -}}
{{- if $img.registry -}}{{- $repo = printf "%s/%s" (trimSuffix "/" $img.registry) $repo -}}{{- end -}}
{{- $digest := index ($img.digests | default dict) .image | default "" -}}
{{- if $digest -}}
{{- printf "%s@%s" $repo $digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .root.Chart.AppVersion $img.tag) -}}
{{- end -}}
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

{{/* The container port name of a client port: its IANA service name, unique across daemons, so
     one Service (the shared load balancer) can carry every daemon's ports by name.
     (dict "d" "imap" "p" "tls") -> imaps */}}
{{- define "kite.portName" -}}
{{- $names := dict "mta.smtp" "smtp" "submission.starttls" "submission" "submission.tls" "submissions" "delivery.managesieve" "sieve" "imap.starttls" "imap" "imap.tls" "imaps" "pop3.stls" "pop3" "pop3.tls" "pop3s" "caldav.http" "http" "caldav.https" "https" -}}
{{- index $names (printf "%s.%s" .d .p) | default .p -}}
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
{{- /* What kite-caldav tells clients (autoconfig, Autodiscover, free/busy URLs) are the ports
     the Services offer, unless config.caldav sets them. */ -}}
{{- $public := dict -}}
{{- range $k, $dp := dict "public_imap_port" "imap.tls" "public_imap_starttls_port" "imap.starttls" "public_pop3_port" "pop3.tls" "public_pop3_starttls_port" "pop3.stls" "public_submission_port" "submission.tls" "public_submission_starttls_port" "submission.starttls" "public_https_port" "caldav.https" -}}
{{- $parts := splitList "." $dp -}}
{{- $p := index ((index $root.Values.daemons (first $parts)).ports | default dict) (last $parts) -}}
{{- if and $p (not (hasKey (index $user "caldav" | default dict) $k)) -}}
{{- $_ := set $public $k (int $p.servicePort) -}}
{{- end -}}
{{- end -}}
{{- range $d := splitList " " (include "kite.daemonNames" .) -}}
{{- $v := index $root.Values.daemons $d -}}
{{- $s := dict "grpc_listen" (printf "0.0.0.0:%d" (int $v.grpcPort)) "metrics_listen" (printf "0.0.0.0:%d" (int $v.metricsPort)) -}}
{{- range $name, $p := ($v.ports | default dict) -}}
{{- $_ := set $s (printf "%s_listen" $name) (printf "0.0.0.0:%d" (int $p.containerPort)) -}}
{{- end -}}
{{- $_ := set $fixed $d $s -}}
{{- end -}}
{{- $_ := set $user "caldav" (mergeOverwrite $public (index $user "caldav" | default dict)) -}}
{{- toYaml (mergeOverwrite $user $fixed) -}}
{{- end -}}

{{- define "kite.redisAddress" -}}
{{- if .Values.redis.bundled.enabled -}}
{{- printf "%s-redis:6379" (include "kite.fullname" .) -}}
{{- else -}}
{{- required "redis.external.address (host:port) is required when redis.bundled.enabled is false" .Values.redis.external.address -}}
{{- end -}}
{{- end -}}

{{/* Passwords the chart generates, created once per render and shared by every template that
     needs them (the release's Secrets and the migration hook's copy must agree): kept across
     upgrades by looking up the existing Secrets. Returns JSON:
     {"postgres": "...", "redis": "...", "roles": {"auth": "...", ...}}. */}}
{{- define "kite.generated" -}}
{{- if not (hasKey .Values "__kiteGenerated") -}}
{{- $old := (lookup "v1" "Secret" .Release.Namespace (include "kite.secretName" .)).data | default dict -}}
{{- $g := dict -}}
{{- if hasKey $old "postgres-password" -}}{{- $_ := set $g "postgres" (index $old "postgres-password" | b64dec) -}}{{- else -}}{{- $_ := set $g "postgres" (randAlphaNum 32) -}}{{- end -}}
{{- if hasKey $old "redis-password" -}}{{- $_ := set $g "redis" (index $old "redis-password" | b64dec) -}}{{- else -}}{{- $_ := set $g "redis" (randAlphaNum 32) -}}{{- end -}}
{{- $oldRoles := (lookup "v1" "Secret" .Release.Namespace (printf "%s-db-roles" (include "kite.fullname" .))).data | default dict -}}
{{- $roles := dict -}}
{{- range $d := splitList " " (include "kite.daemonNames" .) -}}
{{- if hasKey $oldRoles $d -}}{{- $_ := set $roles $d (index $oldRoles $d | b64dec) -}}{{- else -}}{{- $_ := set $roles $d (randAlphaNum 32) -}}{{- end -}}
{{- end -}}
{{- $_ := set $g "roles" $roles -}}
{{- $_ := set .Values "__kiteGenerated" $g -}}
{{- end -}}
{{- toJson .Values.__kiteGenerated -}}
{{- end -}}

{{/* The database owner's URL as the chart's Secret stores it ("" with an existingSecret). */}}
{{- define "kite.ownerUrl" -}}
{{- if .Values.postgresql.bundled.enabled -}}
{{- $gen := include "kite.generated" . | fromJson -}}
{{- printf "postgresql://%s:%s@%s-postgresql:5432/%s" .Values.postgresql.bundled.username $gen.postgres (include "kite.fullname" .) .Values.postgresql.bundled.database -}}
{{- else if not .Values.postgresql.external.existingSecret -}}
{{- required "postgresql.external.url or postgresql.external.existingSecret is required when postgresql.bundled.enabled is false" .Values.postgresql.external.url -}}
{{- end -}}
{{- end -}}

{{/* The secretKeyRef of the owner's URL in the release (JSON {name, key}). */}}
{{- define "kite.ownerUrlRef" -}}
{{- if and (not .Values.postgresql.bundled.enabled) .Values.postgresql.external.existingSecret -}}
{{- toJson (dict "name" .Values.postgresql.external.existingSecret "key" .Values.postgresql.external.existingSecretKey) -}}
{{- else -}}
{{- toJson (dict "name" (include "kite.secretName" .) "key" "postgres-url") -}}
{{- end -}}
{{- end -}}

{{/* Per-daemon database roles: "true" when on. */}}
{{- define "kite.dbRoles" -}}
{{- if .Values.postgresql.perDaemonRoles.enabled -}}true{{- end -}}
{{- end -}}

{{- define "kite.dbRolesSecretName" -}}
{{- default (printf "%s-db-roles" (include "kite.fullname" .)) .Values.postgresql.perDaemonRoles.existingSecret -}}
{{- end -}}

{{/* Where the daemons' own roles connect (JSON {host, port, database, sslmode}): the bundled
     database, or postgresql.external.host/port/database/sslmode, the inline URL filling in
     what they leave empty. An owner URL in an existingSecret cannot be read at render time,
     so then host and database are required. */}}
{{- define "kite.dbEndpoint" -}}
{{- $pg := .Values.postgresql -}}
{{- if $pg.bundled.enabled -}}
{{- toJson (dict "host" (printf "%s-postgresql" (include "kite.fullname" .)) "port" 5432 "database" $pg.bundled.database "sslmode" "") -}}
{{- else -}}
{{- $ext := $pg.external -}}
{{- $host := $ext.host | default "" -}}{{- $db := $ext.database | default "" -}}{{- $mode := $ext.sslmode | default "" -}}
{{- if and $ext.url (not $ext.existingSecret) -}}
{{- $u := urlParse $ext.url -}}
{{- $host = $host | default $u.hostname -}}
{{- $db = $db | default (trimPrefix "/" $u.path) -}}
{{- $mode = $mode | default (regexFind "[a-z-]+$" (regexFind "(^|&)sslmode=[a-z-]+" $u.query)) -}}
{{- $urlPort := regexFind "[0-9]+$" (regexFind ":[0-9]+$" $u.host) -}}
{{- if and $urlPort (ne (int $urlPort) (int $ext.port)) -}}
{{- fail (printf "postgresql.external.url connects to port %s but postgresql.external.port is %d: set postgresql.external.port (the NetworkPolicy and the per-daemon URLs use it)" $urlPort (int $ext.port)) -}}
{{- end -}}
{{- end -}}
{{- if not $mode -}}{{- $mode = ternary "verify-full" "require" (not (empty $ext.caSecret.name)) -}}{{- end -}}
{{- toJson (dict "host" $host "port" (int $ext.port) "database" $db "sslmode" $mode) -}}
{{- end -}}
{{- end -}}

{{/* Checks of the database settings that libpq would only report at run time. */}}
{{- define "kite.dbValidate" -}}
{{- $pg := .Values.postgresql -}}
{{- if not $pg.bundled.enabled -}}
{{- $ep := include "kite.dbEndpoint" . | fromJson -}}
{{- if and (has $ep.sslmode (list "verify-ca" "verify-full")) (not $pg.external.caSecret.name) (not (contains "sslrootcert=" ($pg.external.url | default ""))) -}}
{{- fail (printf "PostgreSQL sslmode=%s verifies the server against a CA the pods do not have: set postgresql.external.caSecret.name (a Secret holding the CA certificate; mounted as PGSSLROOTCERT)" $ep.sslmode) -}}
{{- end -}}
{{- if $pg.perDaemonRoles.enabled -}}
{{- if or (not $ep.host) (not $ep.database) -}}
{{- fail "postgresql.perDaemonRoles.enabled with an external database whose URL is in an existingSecret: set postgresql.external.host and postgresql.external.database (and port, sslmode) so the chart can build each daemon's URL" -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* PGSSLROOTCERT and the CA volume for an external PostgreSQL with postgresql.external.caSecret. */}}
{{- define "kite.pgCA" -}}
{{- if and (not .Values.postgresql.bundled.enabled) .Values.postgresql.external.caSecret.name -}}true{{- end -}}
{{- end -}}

{{- define "kite.pgCAEnv" -}}
{{- if include "kite.pgCA" . }}
- name: PGSSLROOTCERT
  value: /etc/kite/postgresql-ca/ca.crt
{{- end }}
{{- end -}}

{{- define "kite.pgCAMount" -}}
{{- if include "kite.pgCA" . }}
- {name: postgresql-ca, mountPath: /etc/kite/postgresql-ca, readOnly: true}
{{- end }}
{{- end -}}

{{- define "kite.pgCAVolume" -}}
{{- if include "kite.pgCA" . }}
- name: postgresql-ca
  secret:
    secretName: {{ .Values.postgresql.external.caSecret.name }}
    items:
      - {key: {{ .Values.postgresql.external.caSecret.key | default "ca.crt" }}, path: ca.crt}
{{- end }}
{{- end -}}

{{/* The owner's URL (KITE_GLOBAL_POSTGRES_URL): migrations, roles, kitectl. Never a daemon. */}}
{{- define "kite.ownerUrlEnv" -}}
{{- $ref := include "kite.ownerUrlRef" . | fromJson -}}
- name: KITE_GLOBAL_POSTGRES_URL
  valueFrom:
    secretKeyRef: {name: {{ $ref.name }}, key: {{ $ref.key }}}
{{- include "kite.pgCAEnv" . }}
{{- end -}}

{{- define "kite.redisPasswordEnv" -}}
{{- if .Values.redis.bundled.enabled }}
- name: KITE_GLOBAL_REDIS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "kite.secretName" . }}, key: redis-password}
{{- else if .Values.redis.external.existingSecret }}
- name: KITE_GLOBAL_REDIS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ .Values.redis.external.existingSecret }}, key: {{ .Values.redis.external.existingSecretKey }}}
{{- else if .Values.redis.external.password }}
- name: KITE_GLOBAL_REDIS_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "kite.secretName" . }}, key: redis-password}
{{- end }}
{{- end -}}

{{/* A daemon's secrets: its own database role (KITE_<SECTION>_POSTGRES_URL, the password
     expanded by the kubelet from DB_ROLE_PASSWORD) or, with perDaemonRoles off, the owner's
     URL; the Redis password; PGSSLROOTCERT. (dict "root" $ "d" "mta") */}}
{{- define "kite.daemonSecretEnv" -}}
{{- $root := .root -}}
{{- if include "kite.dbRoles" $root -}}
{{- $ep := include "kite.dbEndpoint" $root | fromJson -}}
{{- $host := ternary (printf "[%s]" $ep.host) $ep.host (contains ":" $ep.host) -}}
- name: DB_ROLE_PASSWORD
  valueFrom:
    secretKeyRef: {name: {{ include "kite.dbRolesSecretName" $root }}, key: {{ .d }}}
- name: KITE_{{ upper .d }}_POSTGRES_URL
  value: {{ printf "postgresql://kite_%s:$(DB_ROLE_PASSWORD)@%s:%d/%s%s" .d $host (int $ep.port) $ep.database (ternary (printf "?sslmode=%s" $ep.sslmode) "" (not (empty $ep.sslmode))) | quote }}
{{- include "kite.pgCAEnv" $root }}
{{- else -}}
{{- include "kite.ownerUrlEnv" $root }}
{{- end -}}
{{- include "kite.redisPasswordEnv" $root }}
{{- end -}}

{{/* The migration: kitectl migrate, then (perDaemonRoles) kitectl db roles with one
     "<daemon> <password>" line per enabled daemon on stdin. Used by the hook Job and, with
     the bundled database, by each daemon's init container. */}}
{{- define "kite.migrateScript" -}}
{{- $root := . -}}
set -eu
kitectl migrate
{{- if include "kite.dbRoles" . }}
{
{{- range $d := splitList " " (include "kite.daemonNames" .) }}
{{- if (index $root.Values.daemons $d).enabled }}
  printf '%s %s\n' {{ $d }} "$DB_ROLE_PASSWORD_{{ upper $d }}"
{{- end }}
{{- end }}
} | kitectl db roles --passwords-from -
{{- end }}
{{- end -}}

{{/* The role passwords the migration reads (DB_ROLE_PASSWORD_<DAEMON>), from (dict "root" $
     "secret" NAME). */}}
{{- define "kite.rolePasswordEnv" -}}
{{- $root := .root -}}{{- $secret := .secret -}}
{{- if include "kite.dbRoles" $root }}
{{- range $d := splitList " " (include "kite.daemonNames" $root) }}
{{- if (index $root.Values.daemons $d).enabled }}
- name: DB_ROLE_PASSWORD_{{ upper $d }}
  valueFrom:
    secretKeyRef: {name: {{ $secret }}, key: {{ $d }}}
{{- end }}
{{- end }}
{{- end }}
{{- end -}}

{{/* A duration of docs/configuration.md (250ms, 30s, 5m, 2h, 1d, or bare seconds) in whole
     seconds, rounded up; "" when it does not parse. */}}
{{- define "kite.durationSeconds" -}}
{{- $t := toString . -}}
{{- if regexMatch "^[0-9]+(ms|s|m|h|d)?$" $t -}}
{{- $n := regexFind "^[0-9]+" $t | int -}}
{{- $u := regexFind "[a-z]+$" $t -}}
{{- if eq $u "ms" -}}{{- div (add $n 999) 1000 -}}
{{- else if eq $u "m" -}}{{- mul $n 60 -}}
{{- else if eq $u "h" -}}{{- mul $n 3600 -}}
{{- else if eq $u "d" -}}{{- mul $n 86400 -}}
{{- else -}}{{- $n -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A DNS server entry of dns.servers ("ip", "ip:port", "[ip6]:port", "ip6") as JSON
     {ip, port, cidr}: a /32 for IPv4, a /128 for IPv6. */}}
{{- define "kite.dnsServer" -}}
{{- $s := trim . -}}
{{- $ip := $s -}}{{- $port := 53 -}}
{{- if hasPrefix "[" $s -}}
{{- $ip = regexReplaceAll "^\\[([0-9A-Fa-f:.]*)\\].*$" $s "${1}" -}}
{{- if regexMatch "\\]:[0-9]+$" $s -}}{{- $port = regexFind "[0-9]+$" $s | int -}}{{- end -}}
{{- else if eq (len (splitList ":" $s)) 2 -}}
{{- $ip = first (splitList ":" $s) -}}
{{- $port = last (splitList ":" $s) | int -}}
{{- end -}}
{{- toJson (dict "ip" $ip "port" $port "cidr" (printf "%s/%s" $ip (ternary "128" "32" (contains ":" $ip)))) -}}
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

{{/* Topology spread of a daemon's replicas: daemons.<d>.topologySpreadConstraints when set
     (even to []), else the global topologySpreadConstraints; a constraint without a
     labelSelector gets the daemon's own. (dict "root" $ "d" "mta") */}}
{{- define "kite.topologySpread" -}}
{{- $v := index .root.Values.daemons .d -}}
{{- $list := .root.Values.topologySpreadConstraints | default list -}}
{{- if hasKey $v "topologySpreadConstraints" -}}{{- $list = $v.topologySpreadConstraints | default list -}}{{- end -}}
{{- $out := list -}}
{{- range $c := $list -}}
{{- $c = deepCopy $c -}}
{{- if not (hasKey $c "labelSelector") -}}
{{- $_ := set $c "labelSelector" (dict "matchLabels" (include "kite.selectorLabels" (dict "root" $.root "component" $.d) | fromYaml)) -}}
{{- end -}}
{{- $out = append $out $c -}}
{{- end -}}
{{- if $out -}}{{- toYaml $out -}}{{- end -}}
{{- end -}}

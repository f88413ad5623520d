#!/usr/bin/python3
"""Checks the Helm chart without a cluster and without helm (scripts/check-deploy runs it).

For each values file (and the chart's defaults): validates the coalesced values against
values.schema.json, renders the chart with deploy/helm-render, parses every document and
checks it: apiVersion, kind and metadata.name; unique names per kind; every workload
(Deployment, StatefulSet, DaemonSet, Job) has resources and a non-root securityContext
(runAsNonRoot, no uid 0, no privilege escalation, read-only root, capabilities drop ALL and
add at most NET_BIND_SERVICE, only where a port below 1024 is bound); every long-running
container has readiness and liveness probes (Jobs excepted), and gRPC probes name a
container port; Services select some workload's pods; NetworkPolicies allow exactly design.md's gRPC flows
and reach outside addresses only where design.md says (kite-mta: 25, 443); the rendered kite.yaml uses only keys
of docs/configuration.md (and, given a kitectl binary, passes `kitectl check-config`).
Values-aware checks (issue 17) compare the rendering with what the values ask for: hooks that
run before the release's objects exist name none of them; listen addresses, container ports,
probes, Service targetPorts, NetworkPolicy ports and kite-caldav's public ports agree; DNS and
relay egress (resolvers on their own ports, valid CIDRs, the smarthost's port); the PostgreSQL
CA; preStop and the grace period; the NOTES' DNS records and kitectl pod; one or six load
balancers; commonLabels, image digests, extra volumes, topology spread, the helm test pod;
per-daemon database roles (no daemon gets the owner's URL).
Then checks that a values file with a wrong type is refused with the schema's message, and
that values the templates must refuse (PROXY misconfigurations) fail with the chart's message.

  check_chart.py --renderer BIN --chart helm/kite [--objects F] [--kitectl BIN]
                 [--bad-values F] [--bad-render F]... [VALUES_FILE ...]     ("-" = the chart's defaults only)
"""
import argparse
import copy
import ipaddress
import json
import os
import re
import subprocess
import sys
import tempfile

import jsonschema
import yaml

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job", "Pod"}
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def coalesce(dst, src):
    """Helm's merge of a values file over the defaults: maps merge, null deletes."""
    for k, v in src.items():
        if v is None:
            dst.pop(k, None)
        elif isinstance(v, dict) and isinstance(dst.get(k), dict):
            coalesce(dst[k], v)
        else:
            dst[k] = v
    return dst


def schema_errors(schema, values):
    v = jsonschema.Draft7Validator(schema)
    out = []
    for e in sorted(v.iter_errors(values), key=lambda e: list(e.absolute_path)):
        path = ".".join(str(p) for p in e.absolute_path) or "(top level)"
        out.append(f"{path}: {e.message}")
    return out


def config_keys(doc_path):
    """section -> set of keys, from docs/configuration.md's tables."""
    keys, section = {}, None
    with open(doc_path, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"^## `([a-z0-9_]+)`", line)
            if m:
                section = m.group(1)
                keys[section] = set()
                continue
            m = re.match(r"^\| `([a-z0-9_]+)` \|", line)
            if m and section:
                keys[section].add(m.group(1))
    return keys


class Checker:
    def __init__(self, label):
        self.label = label
        self.problems = []

    def fail(self, where, msg):
        self.problems.append(f"{self.label}: {where}: {msg}")


def pod_spec(doc):
    spec = doc.get("spec") or {}
    if doc["kind"] == "Pod":
        return spec
    if doc["kind"] == "CronJob":
        spec = ((spec.get("jobTemplate") or {}).get("spec") or {})
    return ((spec.get("template") or {}).get("spec")) or {}


def check_workload(c, doc, where):
    kind = doc["kind"]
    ps = pod_spec(doc)
    psc = ps.get("securityContext") or {}
    containers = ps.get("containers") or []
    if not containers:
        c.fail(where, "no containers")
    lowest_port = min((p.get("containerPort", 65535) for ct in containers for p in ct.get("ports") or []), default=65535)
    for ct in (ps.get("initContainers") or []) + containers:
        cw = f"{where} container {ct.get('name')}"
        sc = ct.get("securityContext") or {}
        res = ct.get("resources") or {}
        if not res.get("requests"):
            c.fail(cw, "no resources.requests")
        if not res.get("limits"):
            c.fail(cw, "no resources.limits")
        non_root = sc.get("runAsNonRoot", psc.get("runAsNonRoot"))
        if non_root is not True:
            c.fail(cw, "runAsNonRoot is not true")
        uid = sc.get("runAsUser", psc.get("runAsUser"))
        if uid is None or uid == 0:
            c.fail(cw, f"runAsUser must be a non-zero uid (got {uid!r})")
        if sc.get("allowPrivilegeEscalation") is not False:
            c.fail(cw, "allowPrivilegeEscalation is not false")
        if sc.get("readOnlyRootFilesystem") is not True:
            c.fail(cw, "readOnlyRootFilesystem is not true")
        if sc.get("privileged"):
            c.fail(cw, "privileged")
        caps = sc.get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            c.fail(cw, "capabilities.drop lacks ALL")
        add = set(caps.get("add") or [])
        if add - {"NET_BIND_SERVICE"}:
            c.fail(cw, f"adds capabilities {sorted(add - {'NET_BIND_SERVICE'})}")
        own_lowest = min((p.get("containerPort", 65535) for p in ct.get("ports") or []), default=65535)
        if "NET_BIND_SERVICE" in add and own_lowest >= 1024:
            c.fail(cw, "NET_BIND_SERVICE without a port below 1024")
        if own_lowest < 1024 and "NET_BIND_SERVICE" not in add:
            c.fail(cw, f"binds port {own_lowest} without NET_BIND_SERVICE")
    if lowest_port >= 1024 and any(s.get("name") == "net.ipv4.ip_unprivileged_port_start" for s in psc.get("sysctls") or []):
        c.fail(where, f"sets net.ipv4.ip_unprivileged_port_start though its lowest port is {lowest_port}")
    if lowest_port < 1024:
        sysctls = {s.get("name"): s.get("value") for s in psc.get("sysctls") or []}
        v = sysctls.get("net.ipv4.ip_unprivileged_port_start")
        if v is None or int(v) > lowest_port:
            c.fail(where, f"binds port {lowest_port} as non-root but net.ipv4.ip_unprivileged_port_start is {v!r}")
    if kind not in ("Job", "Pod"):
        for ct in containers:
            cw = f"{where} container {ct.get('name')}"
            ports = {p.get("containerPort") for p in ct.get("ports") or []} | {p.get("name") for p in ct.get("ports") or []}
            for probe in ("readinessProbe", "livenessProbe"):
                pr = ct.get(probe)
                if not pr:
                    c.fail(cw, f"no {probe}")
                    continue
                for k in ("grpc", "tcpSocket", "httpGet"):
                    if k in pr and pr[k].get("port") not in ports:
                        c.fail(cw, f"{probe}.{k}.port {pr[k].get('port')!r} is not a container port")

# The gRPC flows of design.md: who calls whom (besides kitectl and the migration Job, which
# may call every daemon). Used to check the rendered NetworkPolicies allow exactly these.
DAEMONS = ["auth", "mta", "submission", "delivery", "imap", "pop3", "caldav", "freebusy"]
GRPC_CALLS = {d: {"auth"} for d in DAEMONS if d != "auth"}
GRPC_CALLS["delivery"] = {"auth", "caldav"}
GRPC_CALLS["caldav"] = {"auth", "freebusy"}
ADMIN = {"kitectl", "migrate"}


def peer_components(peers):
    """Components named by podSelector peers of one rule ('*' for address blocks)."""
    out = set()
    for p in peers or []:
        if "ipBlock" in p or "namespaceSelector" in p:
            out.add("*")
            continue
        for e in (p.get("podSelector") or {}).get("matchExpressions") or []:
            if e.get("key") == "app.kubernetes.io/component":
                out |= set(e.get("values") or [])
        comp = ((p.get("podSelector") or {}).get("matchLabels") or {}).get("app.kubernetes.io/component")
        if comp:
            out.add(comp)
    return out


def check_network_flows(c, docs):
    policies, deployments = {}, {}
    for _, d in docs:
        if not isinstance(d, dict):
            continue
        if d.get("kind") == "NetworkPolicy":
            sel = (d.get("spec") or {}).get("podSelector") or {}
            comp = (sel.get("matchLabels") or {}).get("app.kubernetes.io/component")
            if comp:
                policies[comp] = d["spec"]
        if d.get("kind") == "Deployment":
            for ct in pod_spec(d).get("containers") or []:
                ports = {p["name"]: p["containerPort"] for p in ct.get("ports") or []}
                comp = d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/component")
                deployments[comp] = ports
    if not policies:
        return
    enabled = set(deployments)
    for d, ports in deployments.items():
        spec = policies.get(d)
        if spec is None:
            c.fail(f"NetworkPolicy/{d}", "a daemon without a NetworkPolicy")
            continue
        if set(spec.get("policyTypes") or []) != {"Ingress", "Egress"}:
            c.fail(f"NetworkPolicy/{d}", "does not restrict both Ingress and Egress")
        grpc = ports.get("grpc")
        callers = set()
        for rule in spec.get("ingress") or []:
            if any(p.get("port") == grpc for p in rule.get("ports") or []):
                callers |= peer_components(rule.get("from"))
        want = ADMIN | {x for x in enabled if d in GRPC_CALLS.get(x, set())}
        if callers != want:
            c.fail(f"NetworkPolicy/{d}", f"gRPC port {grpc} open to {sorted(callers)}, design.md says {sorted(want)}")
        called = set()
        for rule in spec.get("egress") or []:
            for x in enabled:
                if x == d:
                    continue
                xp = deployments[x].get("grpc")
                if any(p.get("port") == xp for p in rule.get("ports") or []) and x in peer_components(rule.get("to")):
                    called.add(x)
        want_out = GRPC_CALLS.get(d, set()) & enabled
        if called != want_out:
            c.fail(f"NetworkPolicy/{d}", f"may call the gRPC of {sorted(called)}, design.md says {sorted(want_out)}")
        clients = {p.get("port") for rule in spec.get("ingress") or [] if "*" in peer_components(rule.get("from"))
                   for p in rule.get("ports") or []}
        public = {v for k, v in ports.items() if k not in ("grpc", "metrics")}
        if clients - public - {ports.get("metrics")}:
            c.fail(f"NetworkPolicy/{d}", f"open to outside addresses on {sorted(clients - public)}")


# ----------------------------------------------------------------- issue 17: values-aware checks
#
# Each check renders what the values ask for and compares it with what came out, so a template
# that ignores a value (or two objects that disagree about a port) fails here.

# Container port names of the client ports (the chart's kite.portName): unique across daemons,
# so the shared load balancer can route by name.
PORT_NAMES = {
    ("mta", "smtp"): "smtp", ("submission", "starttls"): "submission", ("submission", "tls"): "submissions",
    ("delivery", "managesieve"): "sieve", ("imap", "starttls"): "imap", ("imap", "tls"): "imaps",
    ("pop3", "stls"): "pop3", ("pop3", "tls"): "pop3s", ("caldav", "http"): "http", ("caldav", "https"): "https",
}
CALDAV_PUBLIC = {
    "public_imap_port": ("imap", "tls"), "public_imap_starttls_port": ("imap", "starttls"),
    "public_pop3_port": ("pop3", "tls"), "public_pop3_starttls_port": ("pop3", "stls"),
    "public_submission_port": ("submission", "tls"), "public_submission_starttls_port": ("submission", "starttls"),
    "public_https_port": ("caldav", "https"),
}
PRE_HOOKS = {"pre-install", "pre-upgrade"}


def port_name(d, p):
    return PORT_NAMES.get((d, p), p)


def duration_seconds(text):
    m = re.fullmatch(r"([0-9]+)(ms|s|m|h|d)?", str(text).strip())
    if not m:
        return None
    n = int(m.group(1))
    return {"ms": (n + 999) // 1000, "s": n, None: n, "m": n * 60, "h": n * 3600, "d": n * 86400}[m.group(2)]


def dns_server(entry):
    """("ip", port, cidr) of a global.dns_servers entry: ip, ip:port, [ip6]:port, ip6."""
    e = entry.strip()
    if e.startswith("["):
        ip, _, rest = e[1:].partition("]")
        port = int(rest[1:]) if rest.startswith(":") else 53
    elif e.count(":") == 1:
        ip, port = e.split(":")[0], int(e.split(":")[1])
    else:
        ip, port = e, 53
    addr = ipaddress.ip_address(ip)
    return ip, port, f"{ip}/{32 if addr.version == 4 else 128}"


def daemon_deployments(docs):
    """component -> Deployment for the Kite daemons."""
    out = {}
    for _, d in docs:
        if isinstance(d, dict) and d.get("kind") == "Deployment":
            comp = (((d.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels", {}).get("app.kubernetes.io/component")
            if comp in DAEMONS:
                out[comp] = d
    return out


def main_container(dep):
    return (pod_spec(dep).get("containers") or [{}])[0]


def env_of(ct):
    return {e.get("name"): e for e in ct.get("env") or []}


def rendered_config(docs):
    for _, d in docs:
        if isinstance(d, dict) and d.get("kind") == "ConfigMap" and "kite.yaml" in (d.get("data") or {}):
            return yaml.safe_load(d["data"]["kite.yaml"]) or {}
    return {}


def relay_ports(cfg):
    """kite-mta's outbound ports: the smarthost's, or relay_port and the MTA-STS port."""
    mta = cfg.get("mta") or {}
    if mta.get("relay_smarthost"):
        return {int(str(mta["relay_smarthost"]).rsplit(":", 1)[1])}
    ports = {int(mta.get("relay_port", 25))}
    if str(mta.get("relay_mta_sts", "true")).lower() != "false":
        ports.add(int(mta.get("relay_mta_sts_port", 443)))
    return ports


def check_hooks(c, docs):
    """Problem 1: a pre-install/pre-upgrade hook runs before Helm creates the release's other
    objects (and, on upgrade, the ones the upgrade adds): every object it names that the chart
    renders must be a hook of those phases with a lower weight."""
    objects = {(d.get("kind"), (d.get("metadata") or {}).get("name")): d for _, d in docs if isinstance(d, dict)}

    def hook(d):
        ann = (d.get("metadata") or {}).get("annotations") or {}
        phases = {p.strip() for p in str(ann.get("helm.sh/hook", "")).split(",") if p.strip()}
        return phases, int(ann.get("helm.sh/hook-weight", 0))

    for (kind, name), d in objects.items():
        if kind not in WORKLOADS:
            continue
        phases, weight = hook(d)
        pre = phases & PRE_HOOKS
        if not pre:
            continue
        where = f"{kind}/{name} ({','.join(sorted(pre))} hook)"
        ps = pod_spec(d)
        if ps.get("automountServiceAccountToken") is not False:
            c.fail(where, "automountServiceAccountToken is not false (a migration needs no Kubernetes API)")
        refs = []
        if ps.get("serviceAccountName"):
            refs.append(("ServiceAccount", ps["serviceAccountName"]))
        for v in ps.get("volumes") or []:
            if "secret" in v:
                refs.append(("Secret", v["secret"].get("secretName")))
            if "configMap" in v:
                refs.append(("ConfigMap", v["configMap"].get("name")))
            if "persistentVolumeClaim" in v:
                refs.append(("PersistentVolumeClaim", v["persistentVolumeClaim"].get("claimName")))
            for src in (v.get("projected") or {}).get("sources") or []:
                if "secret" in src:
                    refs.append(("Secret", src["secret"].get("name")))
                if "configMap" in src:
                    refs.append(("ConfigMap", src["configMap"].get("name")))
        for ct in (ps.get("initContainers") or []) + (ps.get("containers") or []):
            for e in ct.get("env") or []:
                vf = e.get("valueFrom") or {}
                if "secretKeyRef" in vf:
                    refs.append(("Secret", vf["secretKeyRef"].get("name")))
                if "configMapKeyRef" in vf:
                    refs.append(("ConfigMap", vf["configMapKeyRef"].get("name")))
            for ef in ct.get("envFrom") or []:
                if "secretRef" in ef:
                    refs.append(("Secret", ef["secretRef"].get("name")))
                if "configMapRef" in ef:
                    refs.append(("ConfigMap", ef["configMapRef"].get("name")))
        for rk, rn in refs:
            obj = objects.get((rk, rn))
            if obj is None:
                continue  # made by the operator before the install (existingSecret, caSecret)
            ophases, oweight = hook(obj)
            if not ophases:
                c.fail(where, f"uses {rk}/{rn}, which Helm creates only after the pre-install hooks: the hook would wait forever")
            elif not pre <= ophases or oweight >= weight:
                c.fail(where, f"uses {rk}/{rn}, a hook of {sorted(ophases)} with weight {oweight}: it must cover {sorted(pre)} with a weight below {weight}")


def check_ports(c, docs, values, cfg):
    """Problem 2: the config file's listen addresses, the container ports, probes, Services,
    NetworkPolicies and the ServiceMonitor all follow the values."""
    deps = daemon_deployments(docs)
    services = [d for _, d in docs if isinstance(d, dict) and d.get("kind") == "Service"]
    for comp, dep in deps.items():
        v = values["daemons"][comp]
        where = f"Deployment/{dep['metadata']['name']}"
        ct = main_container(dep)
        ports = {p["name"]: p["containerPort"] for p in ct.get("ports") or []}
        want = {"grpc": v["grpcPort"], "metrics": v["metricsPort"]}
        for p, pv in (v.get("ports") or {}).items():
            want[port_name(comp, p)] = pv["containerPort"]
        if ports != want:
            c.fail(where, f"container ports {ports} but the values say {want}")
        section = cfg.get(comp) or {}
        listens = {}
        for k, addr in section.items():
            if k.endswith("_listen"):
                host, _, port = str(addr).rpartition(":")
                name = {"grpc_listen": "grpc", "metrics_listen": "metrics"}.get(k) or port_name(comp, k[: -len("_listen")])
                listens[name] = int(port)
                if host not in ("0.0.0.0", "[::]", "::"):
                    c.fail(where, f"kite.yaml {comp}.{k} = {addr}: not reachable from outside the pod")
        if listens != want:
            c.fail(where, f"kite.yaml {comp}.*_listen give {listens}, the container ports are {want}")
        for e in ct.get("env") or []:
            if re.fullmatch(rf"KITE_{comp.upper()}_[A-Z_]*LISTEN", e.get("name", "")):
                c.fail(where, f"env {e['name']} overrides the configuration file's listen address")
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            pr = ct.get(probe) or {}
            port = (pr.get("grpc") or pr.get("tcpSocket") or {}).get("port")
            if port is not None and port not in (v["grpcPort"], "grpc"):
                c.fail(where, f"{probe} probes port {port}, the gRPC port is {v['grpcPort']}")
    # Every Service port reaches a container port of a pod it selects.
    pod_ports = []  # (labels, {name: port}, component)
    for _, d in docs:
        if isinstance(d, dict) and d.get("kind") in ("Deployment", "StatefulSet"):
            tpl = (d.get("spec") or {}).get("template") or {}
            names = {}
            for ct in (tpl.get("spec") or {}).get("containers") or []:
                names.update({p.get("name"): p.get("containerPort") for p in ct.get("ports") or []})
            labels = (tpl.get("metadata") or {}).get("labels") or {}
            pod_ports.append((labels, names, labels.get("app.kubernetes.io/component")))
    for svc in services:
        sel = (svc.get("spec") or {}).get("selector") or {}
        selected = [pp for pp in pod_ports if sel and all(pp[0].get(k) == val for k, val in sel.items())]
        for sp in (svc.get("spec") or {}).get("ports") or []:
            tp = sp.get("targetPort", sp.get("port"))
            hits = [pp for pp in selected if (tp in pp[1] if isinstance(tp, str) else tp in pp[1].values())]
            if not hits:
                c.fail(f"Service/{svc['metadata']['name']}", f"port {sp.get('name')} targets {tp!r}, which no selected pod has")
            elif len({h[2] for h in hits}) > 1:
                c.fail(f"Service/{svc['metadata']['name']}", f"port {sp.get('name')} targets {tp!r} in several daemons {sorted({h[2] for h in hits})}")
    # What kite-caldav tells clients is what the Services offer.
    user_caldav = dict((values.get("config") or {}).get("caldav") or {})
    user_caldav.update(values["daemons"]["caldav"].get("config") or {})
    for key, (d, p) in CALDAV_PUBLIC.items():
        pv = (values["daemons"][d].get("ports") or {}).get(p)
        if pv and key not in user_caldav and (cfg.get("caldav") or {}).get(key) != pv["servicePort"]:
            c.fail("kite.yaml", f"caldav.{key} is {(cfg.get('caldav') or {}).get(key)!r}, the Service offers {pv['servicePort']}")
    auth = (cfg.get("global") or {}).get("auth_address", "")
    if deps.get("auth") and not auth.endswith(f":{values['daemons']['auth']['grpcPort']}"):
        c.fail("kite.yaml", f"global.auth_address {auth} is not kite-auth's gRPC port {values['daemons']['auth']['grpcPort']}")
    # NetworkPolicies open exactly the container ports.
    for _, d in docs:
        if not (isinstance(d, dict) and d.get("kind") == "NetworkPolicy"):
            continue
        comp = ((d["spec"].get("podSelector") or {}).get("matchLabels") or {}).get("app.kubernetes.io/component")
        if comp not in deps:
            continue
        v = values["daemons"][comp]
        opened = {p.get("port") for rule in d["spec"].get("ingress") or [] for p in rule.get("ports") or []}
        want = {v["grpcPort"]} | {pv["containerPort"] for pv in (v.get("ports") or {}).values()}
        if values["networkPolicy"].get("metricsPeers"):
            want.add(v["metricsPort"])
        if opened != want:
            c.fail(f"NetworkPolicy/{d['metadata']['name']}", f"ingress opens ports {sorted(opened)}, the daemon listens on {sorted(want)}")
    for _, d in docs:
        if isinstance(d, dict) and d.get("kind") == "ServiceMonitor":
            for ep in d["spec"].get("endpoints") or []:
                internal = [s for s in services if (s["metadata"].get("labels") or {}).get("kite.example/service") == "internal"]
                if not all(any(p.get("name") == ep.get("port") for p in s["spec"]["ports"]) for s in internal):
                    c.fail(f"ServiceMonitor/{d['metadata']['name']}", f"scrapes port {ep.get('port')!r}, missing from the internal Services")


def check_egress(c, docs, values, cfg):
    """Problem 4: DNS only to the resolvers on their own ports (valid /32 and /128 blocks),
    the cluster DNS on 53, the database and Redis on their ports, kite-mta to the internet on
    its relay ports (the smarthost's when there is one); extraEgress rules as given."""
    np = values.get("networkPolicy") or {}
    if not np.get("enabled"):
        return
    extra = [json.dumps(r, sort_keys=True) for r in np.get("extraEgress") or []]
    servers = [dns_server(s) for s in str((cfg.get("global") or {}).get("dns_servers", "")).split(",") if s.strip()]
    server_cidrs = {cidr: port for _, port, cidr in servers}
    dns_ns = values["dns"]["clusterDNSService"]["namespace"]
    pg = values["postgresql"]
    stores = {5432 if pg["bundled"]["enabled"] else pg["external"]["port"],
              6379 if values["redis"]["bundled"]["enabled"] else values["redis"]["external"]["port"]}
    for _, d in docs:
        if not (isinstance(d, dict) and d.get("kind") == "NetworkPolicy"):
            continue
        sel = d["spec"].get("podSelector") or {}
        comp = (sel.get("matchLabels") or {}).get("app.kubernetes.io/component")
        if comp is None and sel.get("matchExpressions"):
            comp = "kitectl"
        if comp not in DAEMONS and comp != "kitectl":
            continue
        where = f"NetworkPolicy/{d['metadata']['name']}"
        rules = d["spec"].get("egress") or []
        got_extra = [json.dumps(r, sort_keys=True) for r in rules if json.dumps(r, sort_keys=True) in extra]
        if sorted(set(got_extra)) != sorted(set(extra)):
            c.fail(where, "networkPolicy.extraEgress is not among its egress rules")
        seen_servers = set()
        outside = set()
        for rule in rules:
            if json.dumps(rule, sort_keys=True) in extra:
                continue
            peers = rule.get("to") or []
            ports = {(p.get("port"), p.get("protocol", "TCP")) for p in rule.get("ports") or []}
            for peer in peers:
                if "ipBlock" in peer:
                    try:
                        ipaddress.ip_network(peer["ipBlock"]["cidr"], strict=True)
                    except ValueError as e:
                        c.fail(where, f"ipBlock {peer['ipBlock'].get('cidr')!r} is not a valid CIDR: {e}")
            if peers and all("ipBlock" in p for p in peers) and all(p["ipBlock"].get("cidr") in server_cidrs for p in peers):
                for p in peers:
                    port = server_cidrs[p["ipBlock"]["cidr"]]
                    if ports != {(port, "UDP"), (port, "TCP")}:
                        c.fail(where, f"resolver {p['ipBlock']['cidr']} open on {sorted(ports)}, its port is {port}")
                    seen_servers.add(p["ipBlock"]["cidr"])
                continue
            if peers and all(((p.get("namespaceSelector") or {}).get("matchLabels") or {}).get("kubernetes.io/metadata.name") == dns_ns
                             and "podSelector" not in p for p in peers):
                if ports != {(53, "UDP"), (53, "TCP")}:
                    c.fail(where, f"cluster DNS namespace {dns_ns} open on {sorted(ports)}, not 53")
                continue
            if "*" in peer_components(peers) or not peers:
                for port, proto in ports:
                    if proto != "TCP":
                        c.fail(where, f"{proto} to outside addresses on port {port}")
                    outside.add(port)
        missing = set(server_cidrs) - seen_servers
        if missing:
            c.fail(where, f"no rule for the resolvers {sorted(missing)} of global.dns_servers")
        want = set(stores)
        if comp == "mta":
            want |= relay_ports(cfg)
            if not relay_ports(cfg) <= outside:
                c.fail(where, f"kite-mta cannot reach its relay ports {sorted(relay_ports(cfg) - outside)}")
        if outside - want:
            c.fail(where, f"reaches outside addresses on ports {sorted(outside - want)}")


def check_pg_ca(c, docs, values):
    """Problem 3: with postgresql.external.caSecret every container that connects to PostgreSQL
    has PGSSLROOTCERT pointing at the mounted CA."""
    pg = values["postgresql"]
    ca = pg["external"].get("caSecret") or {}
    if pg["bundled"]["enabled"] or not ca.get("name"):
        return
    for _, d in docs:
        if not (isinstance(d, dict) and d.get("kind") in WORKLOADS):
            continue
        ps = pod_spec(d)
        vols = {v.get("name"): v for v in ps.get("volumes") or []}
        for ct in (ps.get("initContainers") or []) + (ps.get("containers") or []):
            env = env_of(ct)
            if not any(n.endswith("POSTGRES_URL") for n in env):
                continue
            where = f"{d['kind']}/{d['metadata']['name']} container {ct.get('name')}"
            path = (env.get("PGSSLROOTCERT") or {}).get("value")
            if not path:
                c.fail(where, "connects to PostgreSQL without PGSSLROOTCERT (postgresql.external.caSecret)")
                continue
            ok = False
            for m in ct.get("volumeMounts") or []:
                vol = vols.get(m.get("name")) or {}
                sec = vol.get("secret") or {}
                if sec.get("secretName") == ca["name"] and path.startswith(m["mountPath"].rstrip("/") + "/"):
                    fname = path[len(m["mountPath"].rstrip("/")) + 1:]
                    ok = any(i.get("key") == ca.get("key", "ca.crt") and i.get("path") == fname for i in sec.get("items") or [])
            if not ok:
                c.fail(where, f"PGSSLROOTCERT {path} is not key {ca.get('key')} of Secret {ca['name']}")


def check_lifecycle(c, docs, values, cfg):
    """Problem 5: a preStop sleep before SIGTERM, and a grace period longer than it plus the
    daemon's own drain."""
    pre = int((values.get("lifecycle") or {}).get("preStopSeconds", 0))
    grace = duration_seconds((cfg.get("global") or {}).get("shutdown_grace", "20s"))
    for comp, dep in daemon_deployments(docs).items():
        where = f"Deployment/{dep['metadata']['name']}"
        ct = main_container(dep)
        cmd = (((ct.get("lifecycle") or {}).get("preStop") or {}).get("exec") or {}).get("command")
        if pre and cmd != ["sleep", str(pre)]:
            c.fail(where, f"preStop is {cmd!r}, lifecycle.preStopSeconds says sleep {pre}")
        tgps = pod_spec(dep).get("terminationGracePeriodSeconds", 30)
        if grace is not None and tgps <= pre + grace:
            c.fail(where, f"terminationGracePeriodSeconds {tgps} <= preStop {pre} + shutdown_grace {grace}")


def check_notes(c, notes, values, cfg):
    """Problem 6: the DNS records and the kitectl line of NOTES."""
    host = values["hostname"]
    if not re.search(rf"MX\s+DOMAIN\.\s+10 {re.escape(host)}\.", notes):
        c.fail("NOTES.txt", f"no MX record pointing at {host}")
    m = re.search(r"--overrides '(.*?)'", notes)
    if not m:
        c.fail("NOTES.txt", "no kubectl run --overrides line for kitectl")
    else:
        try:
            spec = json.loads(m.group(1))["spec"]
            ct = spec["containers"][0]
        except (ValueError, KeyError, IndexError) as e:
            c.fail("NOTES.txt", f"the kitectl --overrides is not a pod spec: {e}")
        else:
            env = env_of(ct)
            if "KITE_GLOBAL_POSTGRES_URL" not in env:
                c.fail("NOTES.txt", "kitectl gets no database URL")
            r = values["redis"]
            if (r["bundled"]["enabled"] or r["external"].get("existingSecret") or r["external"].get("password")) \
                    and "KITE_GLOBAL_REDIS_PASSWORD" not in env:
                c.fail("NOTES.txt", "kitectl gets no Redis password")
            vols = {v["name"]: v for v in spec.get("volumes") or []}
            if not any(mt.get("mountPath") == "/etc/kite/kite.yaml" and "configMap" in vols.get(mt["name"], {})
                       for mt in ct.get("volumeMounts") or []):
                c.fail("NOTES.txt", "kitectl does not get the chart's kite.yaml (hostname for the MX, Redis address)")
            elif not (cfg.get("global") or {}).get("redis") or (cfg.get("global") or {}).get("hostname") != host:
                c.fail("NOTES.txt", "kite.yaml lacks global.redis or global.hostname")
            for d in DAEMONS:
                if values["daemons"][d]["enabled"] and f"KITE_{d.upper()}_GRPC_LISTEN" not in env:
                    c.fail("NOTES.txt", f"kitectl health would not find kite-{d}")
    spf = [l for l in notes.splitlines() if "v=spf1" in l and "TXT" in l]
    eg = (values.get("outbound") or {}).get("egressIPs") or []
    smart = (cfg.get("mta") or {}).get("relay_smarthost")
    if eg:
        for ip in eg:
            if not any(("ip6:" if ":" in ip else "ip4:") + ip in l for l in spf):
                c.fail("NOTES.txt", f"SPF does not name the outbound address {ip}")
    elif smart:
        if smart not in notes:
            c.fail("NOTES.txt", f"SPF does not mention the smarthost {smart}")
    elif "UNKNOWN" not in notes:
        c.fail("NOTES.txt", "the outbound address is unknown, but NOTES does not say so")
    if any("v=spf1 mx" in l for l in spf):
        c.fail("NOTES.txt", "recommends v=spf1 mx (the inbound address), not the outbound one")
    for srv, (d, p) in {"_submissions._tcp": ("submission", "tls"), "_submission._tcp": ("submission", "starttls"),
                        "_imaps._tcp": ("imap", "tls"), "_imap._tcp": ("imap", "starttls"),
                        "_pop3s._tcp": ("pop3", "tls"), "_pop3._tcp": ("pop3", "stls"), "_caldavs._tcp": ("caldav", "https")}.items():
        pv = (values["daemons"][d].get("ports") or {}).get(p)
        line = re.search(rf"{re.escape(srv)}\.DOMAIN\.\s+\d+ \d+ (\d+) ", notes)
        exposed = values["daemons"][d]["enabled"] and pv and pv["expose"]
        if exposed and (not line or int(line.group(1)) != pv["servicePort"]):
            c.fail("NOTES.txt", f"SRV {srv} missing or not on port {pv['servicePort']}")
        if not exposed and line:
            c.fail("NOTES.txt", f"SRV {srv} for a port that is not exposed")


def check_load_balancers(c, docs, values):
    """Problem 7: one LoadBalancer per daemon, or with loadBalancer.shared one for every
    exposed port (the per-daemon Services then ClusterIP)."""
    exposed = {}
    for d in DAEMONS:
        v = values["daemons"][d]
        if v["enabled"]:
            for p, pv in (v.get("ports") or {}).items():
                if pv["expose"]:
                    exposed[port_name(d, p)] = (d, pv["servicePort"])
    svcs = [d for _, d in docs if isinstance(d, dict) and d.get("kind") == "Service"]
    lbs = [s for s in svcs if s["spec"].get("type") == "LoadBalancer"]
    public = [s for s in svcs if (s["metadata"].get("labels") or {}).get("kite.example/service") == "public"]
    shared = values["loadBalancer"]["shared"]
    deps = daemon_deployments(docs)
    if shared["enabled"]:
        if len(lbs) != 1:
            c.fail("loadBalancer.shared", f"{len(lbs)} LoadBalancer Services, want exactly one")
            return
        lb = lbs[0]
        got = {p["name"]: p["port"] for p in lb["spec"]["ports"]}
        want = {n: sp for n, (_, sp) in exposed.items()}
        if got != want:
            c.fail(f"Service/{lb['metadata']['name']}", f"carries {got}, the exposed ports are {want}")
        for p in lb["spec"]["ports"]:
            owners = [comp for comp, dep in deps.items()
                      if all(((dep["spec"]["template"]["metadata"].get("labels") or {}).get(k) == val) for k, val in lb["spec"]["selector"].items())
                      and any(cp.get("name") == p["targetPort"] for cp in main_container(dep).get("ports") or [])]
            if owners != [exposed.get(p["name"], ("?",))[0]]:
                c.fail(f"Service/{lb['metadata']['name']}", f"port {p['name']} reaches {owners}, want only kite-{exposed.get(p['name'], ('?',))[0]}")
        for k in ("externalTrafficPolicy",):
            if lb["spec"].get(k) != shared[k]:
                c.fail(f"Service/{lb['metadata']['name']}", f"{k} {lb['spec'].get(k)!r}, values say {shared[k]!r}")
        if (shared.get("loadBalancerIP") or None) != lb["spec"].get("loadBalancerIP"):
            c.fail(f"Service/{lb['metadata']['name']}", "loadBalancerIP does not follow the values")
        if (shared.get("loadBalancerSourceRanges") or None) != lb["spec"].get("loadBalancerSourceRanges"):
            c.fail(f"Service/{lb['metadata']['name']}", "loadBalancerSourceRanges do not follow the values")
        if (shared.get("annotations") or None) != lb["metadata"].get("annotations"):
            c.fail(f"Service/{lb['metadata']['name']}", "annotations do not follow the values")
        for s in public:
            if s is not lb and s["spec"].get("type") != "ClusterIP":
                c.fail(f"Service/{s['metadata']['name']}", "is not ClusterIP though the shared load balancer carries its ports")
    else:
        want = {d for d, _ in exposed.values() if values["daemons"][d]["service"]["type"] == "LoadBalancer"}
        got = {(s["spec"].get("selector") or {}).get("app.kubernetes.io/component") for s in lbs}
        if got != want:
            c.fail("Services", f"LoadBalancers for {sorted(x or '?' for x in got)}, want one for each of {sorted(want)}")


def check_extras(c, docs, values):
    """Problem 8: commonLabels, image digests, extra volumes, topology spread, helm test."""
    common = values.get("commonLabels") or {}
    digests = (values.get("image") or {}).get("digests") or {}
    tag = (values.get("image") or {}).get("tag") or None
    for _, d in docs:
        if not isinstance(d, dict):
            continue
        where = f"{d.get('kind')}/{(d.get('metadata') or {}).get('name')}"
        labels = (d.get("metadata") or {}).get("labels") or {}
        for k, v in common.items():
            if labels.get(k) != v:
                c.fail(where, f"lacks commonLabels {k}={v}")
        if d.get("kind") in WORKLOADS:
            ps = pod_spec(d)
            for ct in (ps.get("initContainers") or []) + (ps.get("containers") or []):
                img = ct.get("image", "")
                m = re.match(r"^(?:.*/)?(kite-[a-z0-9]+|kitectl)(@sha256:[0-9a-f]{64}|:[^/@]+)$", img)
                if not m:
                    continue
                name, ref = m.group(1), m.group(2)
                if name in digests and ref != "@" + digests[name]:
                    c.fail(where, f"image {img}: image.digests.{name} is {digests[name]}")
                if name not in digests and tag and ref != ":" + tag:
                    c.fail(where, f"image {img}: want tag {tag}")
    for comp, dep in daemon_deployments(docs).items():
        v = values["daemons"][comp]
        where = f"Deployment/{dep['metadata']['name']}"
        ps = pod_spec(dep)
        vols = {x["name"] for x in ps.get("volumes") or []}
        mounts = {(x["name"], x["mountPath"]) for x in main_container(dep).get("volumeMounts") or []}
        for x in (values.get("extraVolumes") or []) + (v.get("extraVolumes") or []):
            if x["name"] not in vols:
                c.fail(where, f"lacks extra volume {x['name']}")
        for x in (values.get("extraVolumeMounts") or []) + (v.get("extraVolumeMounts") or []):
            if (x["name"], x["mountPath"]) not in mounts:
                c.fail(where, f"lacks extra volume mount {x['name']} at {x['mountPath']}")
        want = v["topologySpreadConstraints"] if "topologySpreadConstraints" in v else (values.get("topologySpreadConstraints") or [])
        got = ps.get("topologySpreadConstraints") or []
        if len(got) != len(want):
            c.fail(where, f"{len(got)} topologySpreadConstraints, the values give {len(want)}")
        pod_labels = dep["spec"]["template"]["metadata"]["labels"]
        for tsc in got:
            ml = ((tsc.get("labelSelector") or {}).get("matchLabels")) or {}
            if not ml or any(pod_labels.get(k) != val for k, val in ml.items()) or ml.get("app.kubernetes.io/component") != comp:
                c.fail(where, f"topology spread on {tsc.get('topologyKey')} does not select this daemon's pods")
    tests = [d for _, d in docs if isinstance(d, dict) and d.get("kind") == "Pod"
             and ((d["metadata"].get("annotations") or {}).get("helm.sh/hook") == "test")]
    if (values.get("tests") or {}).get("enabled", True):
        if len(tests) != 1:
            c.fail("helm test", f"{len(tests)} test pods, want one")
            return
        ct = tests[0]["spec"]["containers"][0]
        args = ct.get("args") or []
        if "health" not in args:
            c.fail("helm test", "does not run kitectl health")
            return
        addrs = set(args[args.index("health") + 1:])
        svcs = {d["metadata"]["name"]: d for _, d in docs if isinstance(d, dict) and d.get("kind") == "Service"}
        want = set()
        for d in DAEMONS:
            v = values["daemons"][d]
            if not v["enabled"]:
                continue
            match = [a for a in addrs if a.rsplit(":", 1)[0] in svcs and int(a.rsplit(":", 1)[1]) == v["grpcPort"]
                     and svcs[a.rsplit(":", 1)[0]]["spec"]["selector"].get("app.kubernetes.io/component") == d
                     and any(p["port"] == v["grpcPort"] and p.get("targetPort") == "grpc" for p in svcs[a.rsplit(":", 1)[0]]["spec"]["ports"])]
            if not match:
                c.fail("helm test", f"does not ask kite-{d} at its internal Service's gRPC port {v['grpcPort']}")
            want |= set(match)
        if addrs - want:
            c.fail("helm test", f"asks addresses that are no daemon's gRPC Service: {sorted(addrs - want)}")
        if tests[0]["metadata"]["labels"].get("app.kubernetes.io/component") != "kitectl":
            c.fail("helm test", "not labelled as a kitectl pod (the NetworkPolicy would block it)")


def check_db_roles(c, docs, values):
    """Problem 9: with perDaemonRoles every daemon connects as kite_<daemon> and never gets the
    owner's URL; the migration (hook Job, and the bundled database's init containers) gets the
    owner's URL and creates the roles."""
    pg = values["postgresql"]
    on = pg["perDaemonRoles"]["enabled"]
    ext = pg["external"]
    owner_keys = {"postgres-url"}
    owner_refs = {(ext.get("existingSecret"), ext.get("existingSecretKey"))} if not pg["bundled"]["enabled"] and ext.get("existingSecret") else set()
    enabled = [d for d in DAEMONS if values["daemons"][d]["enabled"]]

    def owner(ct):
        for e in ct.get("env") or []:
            ref = (e.get("valueFrom") or {}).get("secretKeyRef") or {}
            if e.get("name") == "KITE_GLOBAL_POSTGRES_URL" or ref.get("key") in owner_keys or (ref.get("name"), ref.get("key")) in owner_refs:
                return True
        return False

    def migrates_roles(ct, where):
        script = " ".join((ct.get("command") or []) + (ct.get("args") or []))
        if "kitectl migrate" not in script and "migrate" not in (ct.get("args") or []):
            c.fail(where, "does not run kitectl migrate")
        if on:
            if "kitectl db roles --passwords-from" not in script:
                c.fail(where, "does not run kitectl db roles")
            env = env_of(ct)
            for d in enabled:
                if f"printf '%s %s\\n' {d} \"$DB_ROLE_PASSWORD_{d.upper()}\"" not in script or f"DB_ROLE_PASSWORD_{d.upper()}" not in env:
                    c.fail(where, f"gives kitectl db roles no password for {d}")
        if not owner(ct):
            c.fail(where, "does not get the database owner's URL")

    for comp, dep in daemon_deployments(docs).items():
        where = f"Deployment/{dep['metadata']['name']}"
        ct = main_container(dep)
        env = env_of(ct)
        if on:
            if owner(ct):
                c.fail(where, "the daemon's container gets the database owner's URL (postgresql.perDaemonRoles)")
            url = (env.get(f"KITE_{comp.upper()}_POSTGRES_URL") or {}).get("value", "")
            m = re.match(rf"^postgresql://kite_{comp}:\$\(([A-Z_]+)\)@[^/]+:\d+/[^?/]+", url)
            if not m:
                c.fail(where, f"KITE_{comp.upper()}_POSTGRES_URL {url!r} is not the role kite_{comp} with its password")
            else:
                names = [e["name"] for e in ct.get("env") or []]
                pw = env.get(m.group(1)) or {}
                ref = (pw.get("valueFrom") or {}).get("secretKeyRef") or {}
                if ref.get("key") != comp or names.index(m.group(1)) > names.index(f"KITE_{comp.upper()}_POSTGRES_URL"):
                    c.fail(where, f"the password of kite_{comp} is not key {comp} of the roles Secret, defined before the URL")
        elif not owner(ct):
            c.fail(where, "gets no database URL")
        for init in pod_spec(dep).get("initContainers") or []:
            migrates_roles(init, f"{where} init container {init.get('name')}")
        if pg["bundled"]["enabled"] and not pod_spec(dep).get("initContainers"):
            c.fail(where, "the bundled database starts with the release: the daemon must migrate first")
    jobs = [d for _, d in docs if isinstance(d, dict) and d.get("kind") == "Job"
            and "migrate" in ((d["metadata"].get("labels") or {}).get("app.kubernetes.io/component", ""))]
    if len(jobs) != 1:
        c.fail("migration", f"{len(jobs)} migration Jobs, want one")
    for j in jobs:
        migrates_roles(pod_spec(j)["containers"][0], f"Job/{j['metadata']['name']}")


def check_render(c, docs, keys, kitectl):
    seen = set()
    pods = []  # (namespace-less) label sets of workload pods
    services = []
    for i, (source, doc) in enumerate(docs):
        where = f"{source} #{i}"
        if not isinstance(doc, dict):
            c.fail(where, f"document is a {type(doc).__name__}, not a mapping")
            continue
        for k in ("apiVersion", "kind"):
            if not isinstance(doc.get(k), str) or not doc[k]:
                c.fail(where, f"missing {k}")
        md = doc.get("metadata") or {}
        name = md.get("name")
        if not isinstance(name, str) or not name:
            c.fail(where, "missing metadata.name")
            continue
        where = f"{doc.get('kind')}/{name}"
        if len(name) > 63 or not NAME_RE.match(name):
            c.fail(where, "metadata.name is not a DNS label of at most 63 characters")
        key = (doc.get("apiVersion"), doc.get("kind"), name)
        if key in seen:
            c.fail(where, "defined twice")
        seen.add(key)
        for lk, lv in (md.get("labels") or {}).items():
            if not isinstance(lv, str):
                c.fail(where, f"label {lk} is not a string")
        kind = doc.get("kind")
        if kind in WORKLOADS:
            check_workload(c, doc, where)
            if kind == "Pod":
                continue
            labels = (((doc.get("spec") or {}).get("template") or {}).get("metadata") or {}).get("labels") or {}
            pods.append(labels)
            sel = ((doc.get("spec") or {}).get("selector") or {}).get("matchLabels")
            if kind != "Job" and (not sel or any(labels.get(k) != v for k, v in sel.items())):
                c.fail(where, "spec.selector.matchLabels does not match the pod template's labels")
        if kind == "Service":
            services.append((where, (doc.get("spec") or {}).get("selector") or {}))
        if kind == "ConfigMap" and "kite.yaml" in (doc.get("data") or {}):
            check_config(c, where, doc["data"]["kite.yaml"], keys, kitectl)
    check_network_flows(c, docs)
    for where, sel in services:
        if sel and not any(all(p.get(k) == v for k, v in sel.items()) for p in pods):
            c.fail(where, f"selector {sel} matches no workload's pods")
    return seen


def check_config(c, where, text, keys, kitectl):
    try:
        cfg = yaml.safe_load(text)
    except yaml.YAMLError as e:
        c.fail(where, f"kite.yaml does not parse: {e}")
        return
    for section, body in (cfg or {}).items():
        if section not in keys:
            c.fail(where, f"kite.yaml: unknown section {section!r}")
            continue
        for k in body or {}:
            if k not in keys[section]:
                c.fail(where, f"kite.yaml: unknown key {section}.{k} (docs/configuration.md)")
    if kitectl:
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(text)
            path = f.name
        try:
            env = {k: v for k, v in os.environ.items() if not k.startswith("KITE_")}
            env["KITE_GLOBAL_POSTGRES_URL"] = "postgresql://kite:x@db.invalid:5432/kite"
            r = subprocess.run([kitectl, "--config", path, "check-config"], capture_output=True, text=True, env=env, timeout=30)
            if r.returncode != 0:
                c.fail(where, f"kitectl check-config refused kite.yaml (exit {r.returncode}): {(r.stderr or r.stdout).strip()}")
        finally:
            os.unlink(path)


def render(args, values_file, notes):
    cmd = [args.renderer, "--objects", args.objects] if args.objects else [args.renderer]
    if values_file:
        cmd += ["-f", values_file]
    cmd += ["--notes", notes, args.chart]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        return None, r.stderr.strip()
    docs, source = [], "?"
    for chunk in re.split(r"^---\s*$", r.stdout, flags=re.M):
        m = re.search(r"^# Source: (.+)$", chunk, flags=re.M)
        if m:
            source = m.group(1)
        if not chunk.strip():
            continue
        try:
            doc = yaml.safe_load(chunk)
        except yaml.YAMLError as e:
            return None, f"{source}: not valid YAML: {e}"
        if doc is not None:
            docs.append((source, doc))
    return docs, None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--renderer", required=True)
    ap.add_argument("--chart", required=True)
    ap.add_argument("--objects")
    ap.add_argument("--kitectl")
    ap.add_argument("--config-doc", default=None)
    ap.add_argument("--bad-values")
    ap.add_argument("--bad-render", action="append", default=[],
                    help="a values file the chart must refuse to render (with a message)")
    ap.add_argument("values", nargs="*")
    args = ap.parse_args()

    repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    keys = config_keys(args.config_doc or os.path.join(repo, "docs", "configuration.md"))
    with open(os.path.join(args.chart, "values.schema.json"), encoding="utf-8") as f:
        schema = json.load(f)
    jsonschema.Draft7Validator.check_schema(schema)
    with open(os.path.join(args.chart, "values.yaml"), encoding="utf-8") as f:
        defaults = yaml.safe_load(f)

    failed = False
    for vf in args.values or ["-"]:
        label = "defaults" if vf == "-" else os.path.relpath(vf)
        c = Checker(label)
        values = copy.deepcopy(defaults)
        if vf != "-":
            with open(vf, encoding="utf-8") as f:
                coalesce(values, yaml.safe_load(f) or {})
        for e in schema_errors(schema, values):
            c.fail("values.schema.json", e)
        with tempfile.TemporaryDirectory() as tmp:
            notes = os.path.join(tmp, "NOTES.txt")
            docs, err = render(args, None if vf == "-" else vf, notes)
            if err:
                c.fail("render", err)
            else:
                seen = check_render(c, docs, keys, args.kitectl)
                cfg = rendered_config(docs)
                check_hooks(c, docs)
                check_ports(c, docs, values, cfg)
                check_egress(c, docs, values, cfg)
                check_pg_ca(c, docs, values)
                check_lifecycle(c, docs, values, cfg)
                check_load_balancers(c, docs, values)
                check_extras(c, docs, values)
                check_db_roles(c, docs, values)
                notes_text = open(notes, encoding="utf-8").read() if os.path.exists(notes) else ""
                if not notes_text.strip():
                    c.fail("NOTES.txt", "renders empty")
                else:
                    check_notes(c, notes_text, values, cfg)
                kinds = {}
                for _, k, _ in seen:
                    kinds[k] = kinds.get(k, 0) + 1
                summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        if c.problems:
            failed = True
            print(f"FAIL {label}:")
            for p in c.problems:
                print(f"  {p}")
        else:
            print(f"ok   {label}: {len(docs)} documents ({summary})")

    if args.bad_values:
        values = copy.deepcopy(defaults)
        with open(args.bad_values, encoding="utf-8") as f:
            coalesce(values, yaml.safe_load(f) or {})
        errs = schema_errors(schema, values)
        if not errs:
            failed = True
            print(f"FAIL {args.bad_values}: the schema accepted a values file with a wrong type")
        else:
            print(f"ok   {os.path.relpath(args.bad_values)} refused by values.schema.json: {errs[0]}")
    for vf in args.bad_render:
        with tempfile.TemporaryDirectory() as tmp:
            docs, err = render(args, vf, os.path.join(tmp, "NOTES.txt"))
        if err is None:
            failed = True
            print(f"FAIL {vf}: the chart rendered values it must refuse")
        elif "error calling fail: " not in err and "error calling required: " not in err:
            failed = True
            print(f"FAIL {vf}: rendering failed, but not with the chart's own message: {err}")
        else:
            msg = re.split(r"error calling (?:fail|required): ", err)[-1]
            print(f"ok   {os.path.relpath(vf)} refused by the chart: {msg}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

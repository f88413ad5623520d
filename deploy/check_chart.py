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
Then checks that a values file with a wrong type is refused with the schema's message, and
that values the templates must refuse (PROXY misconfigurations) fail with the chart's message.

  check_chart.py --renderer BIN --chart helm/kite [--objects F] [--kitectl BIN]
                 [--bad-values F] [--bad-render F]... [VALUES_FILE ...]     ("-" = the chart's defaults only)
"""
import argparse
import copy
import json
import os
import re
import subprocess
import sys
import tempfile

import jsonschema
import yaml

WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}
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
    if lowest_port < 1024:
        sysctls = {s.get("name"): s.get("value") for s in psc.get("sysctls") or []}
        v = sysctls.get("net.ipv4.ip_unprivileged_port_start")
        if v is None or int(v) > lowest_port:
            c.fail(where, f"binds port {lowest_port} as non-root but net.ipv4.ip_unprivileged_port_start is {v!r}")
    if kind != "Job":
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
        internet = {p.get("port") for rule in spec.get("egress") or [] if "*" in peer_components(rule.get("to"))
                    for p in rule.get("ports") or []} - {53, 5432, 6379}
        want_net = {25, 443} if d == "mta" else set()
        if internet - want_net:
            c.fail(f"NetworkPolicy/{d}", f"reaches outside addresses on ports {sorted(internet - want_net)}")
        clients = {p.get("port") for rule in spec.get("ingress") or [] if "*" in peer_components(rule.get("from"))
                   for p in rule.get("ports") or []}
        public = {v for k, v in ports.items() if k not in ("grpc", "metrics")}
        if clients - public - {ports.get("metrics")}:
            c.fail(f"NetworkPolicy/{d}", f"open to outside addresses on {sorted(clients - public)}")


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
                if not os.path.exists(notes) or not open(notes, encoding="utf-8").read().strip():
                    c.fail("NOTES.txt", "renders empty")
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

#!/usr/bin/python3
"""The report of `scripts/bench all`: reads each benchmark's JSON from one folder, describes the
machine, prints one table (benchmark, Kite, peer, ratio), writes everything to one JSON file and
renders an SVG chart of Kite against its peer per benchmark. Standard library only.

    bench_report.py machine                      # prints the machine description as JSON
    bench_report.py report --dir D --out F.json --svg F.svg --machine M.json [--runs D/runs.tsv]
    bench_report.py svg --json F.json --svg F.svg   # re-renders a chart from a results file
    bench_report.py markdown --json F.json          # the summary as a Markdown table

The ratio is Kite/peer. For rates (higher is better) a ratio above 1 means Kite is ahead; for
latencies and memory (lower is better) below 1 means Kite is ahead. The chart plots the
"advantage" (the ratio, inverted for lower-is-better rows), so a bar to the right of 1x is
always Kite ahead, on a log scale. Rows without a peer (free/busy) are compared with the
issue's target instead and drawn in another colour.
"""
import argparse
import datetime
import glob
import html
import json
import math
import os
import platform
import re
import subprocess
import sys


# ---------------------------------------------------------------------------- machine
def run(cmd):
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        return (r.stdout + r.stderr).strip()
    except (OSError, subprocess.TimeoutExpired):
        return ""


def first_match(text, pattern):
    m = re.search(pattern, text, re.M)
    return m.group(1).strip() if m else None


def dpkg_version(pkg):
    out = run(["dpkg-query", "-W", "-f=${Status} ${Version}", pkg])
    return out.split()[-1] if out.startswith("install ok installed") else None


def machine(bin_dir=None, repo=None):
    info = {}
    try:
        cpuinfo = open("/proc/cpuinfo").read()
        info["cpu_model"] = first_match(cpuinfo, r"^model name\s*:\s*(.*)$")
    except OSError:
        info["cpu_model"] = None
    info["cores"] = os.cpu_count()
    try:
        meminfo = open("/proc/meminfo").read()
        info["memory_gib"] = round(int(first_match(meminfo, r"^MemTotal:\s*(\d+)")) / 1048576, 1)
    except (OSError, TypeError):
        info["memory_gib"] = None
    info["kernel"] = f"{platform.system()} {platform.release()}"
    try:
        osr = open("/etc/os-release").read()
        info["os"] = first_match(osr, r'^PRETTY_NAME="?([^"\n]*)')
    except OSError:
        info["os"] = None
    try:
        info["debian_version"] = open("/etc/debian_version").read().strip()
    except OSError:
        info["debian_version"] = None
    pg = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    info["postgresql"] = first_match(run([pg[-1], "--version"]), r"\(PostgreSQL\)\s*(\S+)") if pg else None
    info["redis"] = first_match(run(["redis-server", "--version"]), r"v=(\S+)")
    info["postfix"] = run(["/usr/sbin/postconf", "-d", "-h", "mail_version"]) if os.path.exists(
        "/usr/sbin/postconf") else None
    info["dovecot"] = run(["/usr/sbin/dovecot", "--version"]) if os.path.exists("/usr/sbin/dovecot") else None
    info["radicale"] = dpkg_version("radicale")
    info["python"] = platform.python_version()
    if bin_dir:
        cache = os.path.join(os.path.dirname(os.path.abspath(bin_dir)), "CMakeCache.txt")
        build = {}
        try:
            text = open(cache).read()
            for key in ("CMAKE_BUILD_TYPE", "KITE_SANITIZE", "CMAKE_CXX_COMPILER", "CMAKE_CXX_FLAGS"):
                build[key] = first_match(text, rf"^{key}:[A-Z]*=(.*)$")
        except OSError:
            pass
        info["kite_build"] = build
        info["kite_bin"] = os.path.abspath(bin_dir)
    if repo:
        info["kite_commit"] = run(["git", "-C", repo, "rev-parse", "--short", "HEAD"]) or None
        info["kite_tree_dirty"] = bool(run(["git", "-C", repo, "status", "--porcelain", "--untracked-files=no"]))
    info["date_utc"] = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")
    try:
        info["load_average"] = open("/proc/loadavg").read().split()[:3]
    except OSError:
        info["load_average"] = None
    return info


def describe(m):
    b = m.get("kite_build") or {}
    return (f"{m.get('cpu_model')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB, {m.get('os')}, "
            f"{m.get('kernel')}; PostgreSQL {m.get('postgresql')}, Postfix {m.get('postfix')}, Dovecot "
            f"{(m.get('dovecot') or '-').split(' ')[0]}, Radicale {m.get('radicale')}; Kite {b.get('CMAKE_BUILD_TYPE')} "
            f"(sanitizers {b.get('KITE_SANITIZE')}) {m.get('kite_commit')}{' (modified)' if m.get('kite_tree_dirty') else ''}; "
            f"load average {' '.join(m.get('load_average') or [])}")


# ---------------------------------------------------------------------------- summary rows
def row(section, name, unit, kite, peer, peer_name, higher_better=True, kind="peer", note=None):
    ratio = round(kite / peer, 3) if kite and peer else None
    advantage = None
    if ratio:
        advantage = ratio if higher_better else round(1 / ratio, 3)
    return {"section": section, "benchmark": name, "unit": unit, "kite": kite, "peer": peer,
            "peer_name": peer_name, "ratio": ratio, "higher_is_better": higher_better,
            "advantage": advantage, "compared_with": kind, "note": note}


def kib(size):
    return f"{size // 1024} KiB" if size >= 1024 else f"{size} B"


def sessions(n):
    return f"{n} session" + ("" if n == 1 else "s")


def rows_smtp(doc):
    out = []
    for r in doc.get("results", []):
        out.append(row("SMTP acceptance", f"SMTP accept {kib(r['size'])}, {sessions(r['concurrency'])}", "msg/s",
                       r.get("kite_msgs_per_s"), r.get("postfix_msgs_per_s"), "Postfix"))
        if r.get("kite_p99_ms") is not None:
            out.append(row("SMTP acceptance", f"SMTP accept {kib(r['size'])}, {sessions(r['concurrency'])}, "
                           "p99 (probe session)", "ms", r.get("kite_p99_ms"), r.get("postfix_p99_ms"), "Postfix",
                           higher_better=False))
    for r in doc.get("scaling", []):
        out.append(row("Scaling", f"SMTP accept {kib(r['size'])}, {sessions(r['concurrency'])}, "
                       f"{r['replicas']} kite-mta", "msg/s", r.get("kite_msgs_per_s"), r.get("postfix_msgs_per_s"),
                       "Postfix (1 server)"))
    return out


def rows_e2e(doc):
    by = {(r["server"], r["phase"]): r for r in doc.get("results", [])}
    out = []
    for ph, label in (("loaded", "loaded"), ("serial", "1 session")):
        k, p = by.get(("kite", ph)), by.get(("postfix", ph)) or {}
        if not k:
            continue
        sessions = f"{k['sessions']} sessions" if ph == "loaded" else "1 session"
        if ph == "loaded":
            out.append(row("End to end", f"submission→mailbox, {sessions}", "msg/s", k.get("msgs_per_s"),
                           p.get("msgs_per_s"), "Postfix"))
        for q in ("p50", "p99"):
            out.append(row("End to end", f"submission→mailbox latency {q}, {sessions}", "ms",
                           k.get(f"latency_{q}_ms"), p.get(f"latency_{q}_ms"), "Postfix", higher_better=False))
        if ph == "loaded":
            out.append(row("End to end", f"submission DATA→250 p99, {sessions}", "ms", k.get("accept_p99_ms"),
                           p.get("accept_p99_ms"), "Postfix", higher_better=False))
    return out


def rows_delivery(doc):
    out = []
    pf = {r["case"]: r for r in doc.get("results", []) if r["server"] == "postfix"}
    for r in doc.get("results", []):
        if r["server"] != "kite":
            continue
        p = pf.get(r["case"], {})
        if r["case"] == "single":
            name, unit, key = "delivery queue→mailbox, 1 recipient", "msg/s", "msgs_per_s"
        else:
            name, unit, key = f"delivery to a list of {r['recipients_per_message']}", "entries/s", "entries_per_s"
        section = "Delivery" if r["replicas"] == 1 else "Scaling"
        out.append(row(section, f"{name}, {r['replicas']} kite-delivery", unit, r.get(key), p.get(key),
                       "Postfix (1 server)" if r["replicas"] > 1 else "Postfix"))
    return out


IMAP_LABELS = {"select": "SELECT", "fetch_headers": "FETCH 20 headers", "fetch_full": "FETCH 5 full",
               "store": "STORE 3 flags", "search": "SEARCH", "login": "login (TLS+LOGIN+LOGOUT)",
               "session": "whole session (7 ops)"}


def rows_imap(doc):
    out = []
    dove = {r["clients"]: r for r in doc.get("results", []) if r["server"] == "dovecot"}
    for r in doc.get("results", []):
        if r["server"] != "kite":
            continue
        d = dove.get(r["clients"], {})
        for phase, label in IMAP_LABELS.items():
            k = r.get(phase) or {}
            if not k.get("supported", True) or k.get("ops_per_s") is None:
                continue
            section = "IMAP" if r["replicas"] == 1 else "Scaling"
            name = f"IMAP {label}, {r['clients']} clients" + ("" if r["replicas"] == 1 else f", {r['replicas']} kite-imap")
            out.append(row(section, name, "ops/s", k.get("ops_per_s"), (d.get(phase) or {}).get("ops_per_s"),
                           "Dovecot" if r["replicas"] == 1 else "Dovecot (1 server)"))
    idle = {r["server"]: r for r in doc.get("idle_memory", [])}
    k, d = idle.get("kite"), idle.get("dovecot")
    if k:
        kb = k.get("bytes_per_connection")
        db = d.get("bytes_per_connection") if d else None
        out.append(row("IMAP", f"memory per idle IDLE connection ({k.get('open')} Kite"
                       + (f", {d.get('open')} Dovecot" if d else "") + ")", "KiB",
                       round(kb / 1024, 1) if kb else None, round(db / 1024, 1) if db else None, "Dovecot",
                       higher_better=False))
    lat = doc.get("idle_latency", [])
    kd = next((r for r in lat if r["what"].startswith("Kite: delivery")), None)
    ka = next((r for r in lat if r["what"].startswith("Kite: APPEND")), None)
    dv = next((r for r in lat if r["what"].startswith("Dovecot")), None)
    for kr, label in ((ka, "APPEND"), (kd, "delivery")):
        if kr and kr.get("trials"):
            across = "kite-imap@2" in kr["what"]
            out.append(row("IMAP", f"IDLE notification p50, {label}" + (" (across replicas)" if across else ""),
                           "ms", kr.get("p50_ms"), dv.get("p50_ms") if dv else None, "Dovecot (APPEND, 1 server)",
                           higher_better=False))
    return out


def rows_pop3(doc):
    out = []
    dove = {r["clients"]: r for r in doc.get("results", []) if r["server"] == "dovecot"}
    for r in doc.get("results", []):
        if r["server"] != "kite":
            continue
        d = dove.get(r["clients"], {})
        out.append(row("POP3", f"POP3 sessions, {r['clients']} clients", "sessions/s", r.get("sessions_per_s"),
                       d.get("sessions_per_s"), "Dovecot"))
        out.append(row("POP3", f"POP3 commands, {r['clients']} clients", "commands/s", r.get("commands_per_s"),
                       d.get("commands_per_s"), "Dovecot"))
    return out


def rows_caldav(doc):
    out = []
    res = doc.get("results", {})
    k, r = res.get("kite", {}), res.get("radicale", {})
    labels = {"put": "PUT", "get": "GET", "calendar-query": "calendar-query (expanded)",
              "sync-collection": "sync-collection"}
    for op, label in labels.items():
        if op in k:
            out.append(row("CalDAV", f"CalDAV {label}, {doc.get('clients')} clients", "ops/s",
                           round(k[op]["ops_per_s"], 1), round(r[op]["ops_per_s"], 1) if op in r else None,
                           "Radicale"))
    return out


def rows_freebusy(doc):
    res = doc.get("results", {})
    out = []
    for mode, target in (("cached", 10), ("uncached", 100)):
        f = res.get(mode)
        if f:
            out.append(row("Free/busy", f"free/busy 10 attendees p99, {mode} ({doc.get('users')} users)", "ms",
                           round(f["p99_ms"], 2), target, "target (no peer)", higher_better=False, kind="target"))
    for mode, target in (("cached_concurrent", 10), ("uncached_concurrent", 100)):
        f = res.get(mode)
        if f:
            out.append(row("Free/busy", f"free/busy p99, {mode.split('_')[0]}, {f.get('clients')} clients", "ms",
                           round(f["p99_ms"], 2), target, "target (no peer)", higher_better=False, kind="target"))
    return out


EXTRACT = {"smtp": rows_smtp, "e2e": rows_e2e, "delivery": rows_delivery, "imap": rows_imap, "pop3": rows_pop3,
           "caldav": rows_caldav, "freebusy": rows_freebusy}
ORDER = ["SMTP acceptance", "End to end", "Delivery", "IMAP", "POP3", "CalDAV", "Free/busy", "Scaling"]


# ---------------------------------------------------------------------------- printing
def num(v):
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def print_table(summary, runs):
    width = max([len(r["benchmark"]) for r in summary] + [30])
    print(f"{'benchmark':<{width}}  {'unit':<17} {'Kite':>9} {'peer':>9}  {'Kite/peer':>9}  peer")
    section = None
    for r in summary:
        if r["section"] != section:
            section = r["section"]
            print(f"-- {section}")
        unit = r["unit"] + (" (lower=better)" if not r["higher_is_better"] else "")
        ratio = f"{r['ratio']:.2f}" if r["ratio"] else "-"
        mark = ""
        if r["advantage"] and r["compared_with"] == "target":
            mark = "  within target" if r["advantage"] >= 1 else "  target missed"
        elif r["advantage"]:
            mark = "  Kite ahead" if r["advantage"] > 1.05 else "  peer ahead" if r["advantage"] < 0.95 else "  even"
        if r["peer"] is None:
            mark = "  peer not measured"
        print(f"{r['benchmark']:<{width}}  {unit:<17} {num(r['kite']):>9} {num(r['peer']):>9}  {ratio:>9}  "
              f"{r['peer_name']}{mark}")
    for run_ in runs:
        if run_.get("status") != "ok" or (run_.get("note") and "not" in run_["note"]):
            print(f"!! {run_['name']}: {run_.get('status')}{': ' + run_['note'] if run_.get('note') else ''}")


def markdown(results):
    """The summary as a Markdown table (for docs/performance.md)."""
    lines = ["| benchmark | unit | Kite | peer | Kite/peer | |", "|---|---|---:|---:|---:|---|"]
    section = None
    for r in results["summary"]:
        if r["section"] != section:
            section = r["section"]
            lines.append(f"| **{section}** | | | | | |")
        unit = r["unit"] + ("" if r["higher_is_better"] else ", lower is better")
        ratio = f"{r['ratio']:.2f}" if r["ratio"] else "–"
        if r["compared_with"] == "target":
            verdict = "within target" if (r["advantage"] or 0) >= 1 else "target missed"
        elif r["advantage"] is None:
            verdict = "peer not measured"
        else:
            verdict = "Kite ahead" if r["advantage"] > 1.05 else "peer ahead" if r["advantage"] < 0.95 else "even"
        lines.append(f"| {r['benchmark']} | {unit} | {num(r['kite'])} | {num(r['peer'])} {r['peer_name']} | "
                     f"{ratio} | {verdict} |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------- SVG
COLOURS = {"ahead": "#2e7d32", "behind": "#c62828", "target_ok": "#1565c0", "target_miss": "#ef6c00"}


def svg(results):
    """Horizontal bars of Kite's advantage over its peer, log2 scale, one row per benchmark."""
    summary = [r for r in results["summary"] if r.get("advantage")]
    m = results.get("machine", {})
    row_h, top, left, plot_w, right = 17, 78, 360, 400, 250
    rows_n = len(summary) + len({r["section"] for r in summary})
    height = top + rows_n * row_h + 46
    width = left + plot_w + right
    lo, hi = -5.0, 5.0  # log2 range: 1/32x .. 32x
    x = lambda a: left + (max(lo, min(hi, math.log2(a))) - lo) / (hi - lo) * plot_w  # noqa: E731
    e = html.escape
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="DejaVu Sans, Arial, sans-serif" font-size="11">',
           f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
           '<text x="10" y="20" font-size="15" font-weight="bold">Kite vs its peer, same machine, same run '
           '(scripts/bench all)</text>',
           f'<text x="10" y="38" fill="#444">{e(str(m.get("date_utc", "")))}; {e(str(m.get("cpu_model") or "CPU ?"))}, '
           f'{m.get("cores")} cores, {m.get("memory_gib")} GiB; {e(str(m.get("os") or ""))}; Kite '
           f'{e(str((m.get("kite_build") or {}).get("CMAKE_BUILD_TYPE") or "?"))} {e(str(m.get("kite_commit") or ""))}'
           f'</text>',
           '<text x="10" y="54" fill="#444">Bar: how many times better Kite is (rate: Kite/peer; latency, memory: '
           'peer/Kite). Right of 1x: Kite ahead. Log scale, clipped at 1/32x and 32x.</text>']
    # grid
    for p in range(int(lo), int(hi) + 1):
        gx = left + (p - lo) / (hi - lo) * plot_w
        label = f"{2 ** p:g}x" if p >= 0 else f"1/{2 ** -p}x"
        out.append(f'<line x1="{gx:.1f}" y1="{top - 8}" x2="{gx:.1f}" y2="{height - 40}" '
                   f'stroke="{"#000" if p == 0 else "#ddd"}" stroke-width="{1.2 if p == 0 else 0.8}"/>')
        out.append(f'<text x="{gx:.1f}" y="{top - 12}" text-anchor="middle" fill="#555">{label}</text>')
    y = top
    section = None
    for r in sorted(summary, key=lambda r: ORDER.index(r["section"]) if r["section"] in ORDER else 99):
        if r["section"] != section:
            section = r["section"]
            out.append(f'<text x="10" y="{y + 12}" font-weight="bold">{e(section)}</text>')
            y += row_h
        a = r["advantage"]
        if r["compared_with"] == "target":
            colour = COLOURS["target_ok"] if a >= 1 else COLOURS["target_miss"]
        else:
            colour = COLOURS["ahead"] if a >= 1 else COLOURS["behind"]
        x0, x1 = x(1), x(a)
        out.append(f'<text x="{left - 6}" y="{y + 12}" text-anchor="end">{e(r["benchmark"])}</text>')
        out.append(f'<rect x="{min(x0, x1):.1f}" y="{y + 3}" width="{max(1.0, abs(x1 - x0)):.1f}" height="{row_h - 5}" '
                   f'fill="{colour}"><title>{e(r["benchmark"])}: Kite {num(r["kite"])} {e(r["unit"])}, '
                   f'{e(r["peer_name"])} {num(r["peer"])}</title></rect>')
        label = f"{a:.2f}x" if a < 10 else f"{a:.0f}x"
        out.append(f'<text x="{left + plot_w + 6}" y="{y + 12}" fill="{colour}">{label}</text>')
        out.append(f'<text x="{left + plot_w + 50}" y="{y + 12}" fill="#555">Kite {num(r["kite"])} / '
                   f'{e(r["peer_name"].split(" ")[0])} {num(r["peer"])} {e(r["unit"])}</text>')
        y += row_h
    ly = height - 22
    legend = [("ahead", "Kite ahead of its peer"), ("behind", "peer ahead of Kite"),
              ("target_ok", "free/busy (no peer): within target"), ("target_miss", "free/busy: target missed")]
    lx = 10
    for key, text in legend:
        out.append(f'<rect x="{lx}" y="{ly - 9}" width="10" height="10" fill="{COLOURS[key]}"/>')
        out.append(f'<text x="{lx + 14}" y="{ly}">{e(text)}</text>')
        lx += 30 + len(text) * 6
    out.append("</svg>")
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------- main
def read_runs(path):
    runs = []
    if path and os.path.exists(path):
        for line in open(path):
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3:
                runs.append({"name": parts[0], "status": parts[1], "seconds": int(parts[2]),
                             "note": parts[3] if len(parts) > 3 and parts[3] else None})
    return runs


def report(args):
    runs = read_runs(args.runs)
    raw, summary = {}, []
    for name, extract in EXTRACT.items():
        path = os.path.join(args.dir, f"{name}.json")
        if not os.path.exists(path):
            continue
        try:
            doc = json.load(open(path))
        except ValueError as e:
            print(f"bench: {path}: {e}", file=sys.stderr)
            continue
        raw[name] = doc
        try:
            summary += extract(doc)
        except (KeyError, TypeError) as e:
            print(f"bench: summarising {name} failed: {type(e).__name__} {e}", file=sys.stderr)
    summary.sort(key=lambda r: ORDER.index(r["section"]) if r["section"] in ORDER else 99)
    mach = json.load(open(args.machine)) if args.machine else machine()
    mach["load_average_end"] = open("/proc/loadavg").read().split()[:3]
    results = {"generated": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
               "command": args.command, "machine": mach, "total_seconds": args.total_seconds,
               "runs": runs, "summary": summary, "benchmarks": raw,
               "ratio": "Kite/peer; advantage: the ratio for rates, its inverse for latency and memory (>1: Kite ahead)"}
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=2)
    with open(args.svg, "w") as f:
        f.write(svg(results))
    print()
    print(f"Kite vs peer, {mach.get('date_utc')}: {describe(mach)}; at the end "
          f"{' '.join(mach['load_average_end'])}; {args.total_seconds} s in total")
    print_table(summary, runs)
    print(f"\nresults: {args.out}\nchart:   {args.svg}")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("machine")
    m.add_argument("--bin")
    m.add_argument("--repo")
    r = sub.add_parser("report")
    r.add_argument("--dir", required=True)
    r.add_argument("--out", required=True)
    r.add_argument("--svg", required=True)
    r.add_argument("--machine")
    r.add_argument("--runs")
    r.add_argument("--command", default="scripts/bench all")
    r.add_argument("--total-seconds", type=int)
    d = sub.add_parser("describe")
    d.add_argument("machine_json")
    md = sub.add_parser("markdown")
    md.add_argument("--json", required=True)
    s = sub.add_parser("svg")
    s.add_argument("--json", required=True)
    s.add_argument("--svg", required=True)
    args = p.parse_args()
    if args.cmd == "machine":
        print(json.dumps(machine(args.bin, args.repo), indent=2))
    elif args.cmd == "markdown":
        sys.stdout.write(markdown(json.load(open(args.json))))
    elif args.cmd == "describe":
        print(describe(json.load(open(args.machine_json))))
    elif args.cmd == "report":
        report(args)
    else:
        with open(args.svg, "w") as f:
            f.write(svg(json.load(open(args.json))))


if __name__ == "__main__":
    main()

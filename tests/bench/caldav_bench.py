#!/usr/bin/python3
"""CalDAV benchmark: kite-caldav next to a private Radicale (Debian's radicale), same machine,
same run, same client load over HTTP on loopback (run by `scripts/bench caldav`, which starts
the suite first).

Set-up (not timed): `--clients` accounts (bench-davN@bench-dav.test, created with kitectl; the
same logins and passwords in Radicale's htpasswd file, plain, so a login costs Radicale
nothing); each gets a calendar "bench" (MKCALENDAR) holding `--events` events (one in five
weekly recurring with an overridden and an excluded instance), PUT through the server under
test. Then, for each server and operation, `--clients` client processes (one keep-alive HTTP
connection each, HTTP Basic, each on its own calendar) run for `--seconds`, in this order:
  get              GET of a random stored event;
  calendar-query   REPORT calendar-query: VEVENTs in a random week of the stored range, with
                   calendar-data expanded (CALDAV:expand: recurrences as instances);
  sync-collection  REPORT sync-collection from the token taken after the set-up (what a client
                   polling for changes sends);
  put              PUT of a new event (If-None-Match: *), last, so that every read above sees
                   the same calendars on both servers.
Prints operations/s and p50/p99 latency for both and the ratio Kite/Radicale, and writes JSON.
A benchmark, not a test: nothing passes or fails on time. Loopback only; never a DNS lookup.
"""
import argparse
import base64
import http.client
import json
import multiprocessing
import os
import platform
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid

OPS = ["get", "calendar-query", "sync-collection", "put"]  # PUT last: reads see the same calendars on both
MONDAY = 1767571200  # 2026-01-05T00:00:00Z
PASSWORD = "bench-dav-password"


def utc(t):
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t))


def event(uid, start, recurring=False):
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Kite//caldav bench//EN", "BEGIN:VEVENT", f"UID:{uid}",
             "DTSTAMP:20260101T000000Z", f"DTSTART:{utc(start)}", f"DTEND:{utc(start + 3600)}",
             "SUMMARY:Benchmark event", "LOCATION:Room 1", "DESCRIPTION:Created by caldav_bench"]
    if recurring:
        lines += ["RRULE:FREQ=WEEKLY;COUNT=20", f"EXDATE:{utc(start + 7 * 86400)}", "END:VEVENT", "BEGIN:VEVENT",
                  f"UID:{uid}", "DTSTAMP:20260101T000000Z", f"RECURRENCE-ID:{utc(start + 14 * 86400)}",
                  f"DTSTART:{utc(start + 14 * 86400 + 7200)}", f"DTEND:{utc(start + 14 * 86400 + 10800)}",
                  "SUMMARY:Benchmark event (moved)"]
    lines += ["END:VEVENT", "END:VCALENDAR", ""]
    return "\r\n".join(lines).encode()


def calendar_query(start, end):
    return (f'<?xml version="1.0" encoding="utf-8"?>\n'
            f'<C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">\n'
            f'  <D:prop><D:getetag/><C:calendar-data><C:expand start="{utc(start)}" end="{utc(end)}"/>'
            f'</C:calendar-data></D:prop>\n'
            f'  <C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
            f'<C:time-range start="{utc(start)}" end="{utc(end)}"/></C:comp-filter></C:comp-filter></C:filter>\n'
            f'</C:calendar-query>\n').encode()


def sync_collection(token):
    return (f'<?xml version="1.0" encoding="utf-8"?>\n'
            f'<D:sync-collection xmlns:D="DAV:"><D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>'
            f'<D:prop><D:getetag/></D:prop></D:sync-collection>\n').encode()


class Client:
    def __init__(self, port, user):
        self.port = port
        self.auth = "Basic " + base64.b64encode(f"{user}:{PASSWORD}".encode()).decode()
        self.conn = None

    def request(self, method, path, body=None, headers=None):
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            h = {"Authorization": self.auth}
            if body is not None:
                h["Content-Length"] = str(len(body))
            h.update(headers or {})
            try:
                self.conn.request(method, path, body=body, headers=h)
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
                return resp.status, data
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        raise RuntimeError("unreachable")


def calendar_path(server, user):
    return f"/dav/calendars/{user}/bench/" if server == "kite" else f"/{user}/bench/"


def setup_user(server, port, user, events):
    c = Client(port, user)
    base = calendar_path(server, user)
    if server == "radicale":
        c.request("MKCOL", f"/{user}/", headers={})  # the principal collection (may exist)
    status, body = c.request("MKCALENDAR", base)
    if status not in (201, 405):
        raise RuntimeError(f"{server}: MKCALENDAR {base} -> {status} {body[:200]!r}")
    uris = []
    for i in range(events):
        uid = f"{uuid.uuid4().hex}@bench.test"
        start = MONDAY + random.randrange(0, 20 * 7) * 86400 + random.randrange(8, 18) * 3600
        status, body = c.request("PUT", base + f"{uid}.ics", event(uid, start, recurring=(i % 5 == 0)),
                                 {"Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"})
        if status not in (201, 204):
            raise RuntimeError(f"{server}: PUT -> {status} {body[:200]!r}")
        uris.append(base + f"{uid}.ics")
    status, body = c.request("REPORT", base, sync_collection(""), {"Content-Type": "application/xml", "Depth": "1"})
    m = re.search(rb"<(?:\w+:)?sync-token>([^<]+)</", body)
    if status != 207 or not m:
        raise RuntimeError(f"{server}: initial sync-collection -> {status} {body[:300]!r}")
    return {"user": user, "uris": uris, "token": m.group(1).decode()}


def worker(args):
    server, port, op, state, seconds, start_at = args
    rng = random.Random()
    c = Client(port, state["user"])
    base = calendar_path(server, state["user"])
    lat, errors, statuses = [], 0, {}
    while time.time() < start_at:
        time.sleep(0.001)
    end_at = start_at + seconds
    while time.time() < end_at:
        t0 = time.perf_counter()
        if op == "put":
            uid = f"{uuid.uuid4().hex}@bench.test"
            status, _ = c.request("PUT", base + f"{uid}.ics", event(uid, MONDAY + rng.randrange(0, 140) * 86400),
                                  {"Content-Type": "text/calendar; charset=utf-8", "If-None-Match": "*"})
            ok = status in (201, 204)
        elif op == "get":
            status, body = c.request("GET", rng.choice(state["uris"]))
            ok = status == 200 and b"BEGIN:VCALENDAR" in body
        elif op == "calendar-query":
            start = MONDAY + rng.randrange(0, 20) * 7 * 86400
            status, body = c.request("REPORT", base, calendar_query(start, start + 7 * 86400),
                                     {"Content-Type": "application/xml", "Depth": "1"})
            ok = status == 207
        else:
            status, body = c.request("REPORT", base, sync_collection(state["token"]),
                                     {"Content-Type": "application/xml", "Depth": "1"})
            ok = status == 207
        lat.append((time.perf_counter() - t0) * 1000)
        if not ok:
            errors += 1
            statuses[status] = statuses.get(status, 0) + 1
    return len(lat), errors, lat, statuses


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))]


def run_server(server, port, states, ops, seconds):
    results = {}
    with multiprocessing.Pool(len(states)) as pool:
        for op in ops:
            start_at = time.time() + 0.5
            out = pool.map(worker, [(server, port, op, s, seconds, start_at) for s in states])
            done = sum(o[0] for o in out)
            errors = sum(o[1] for o in out)
            lat = [x for o in out for x in o[2]]
            statuses = {}
            for o in out:
                for k, v in o[3].items():
                    statuses[k] = statuses.get(k, 0) + v
            results[op] = {"ops": done, "ops_per_s": (done - errors) / seconds, "errors": errors,
                           "error_statuses": statuses, "p50_ms": percentile(lat, 50), "p99_ms": percentile(lat, 99)}
            print(f"  {server:<9}{op:<17}{results[op]['ops_per_s']:>10.0f} ops/s  p50 {results[op]['p50_ms']:7.2f} ms"
                  f"  p99 {results[op]['p99_ms']:7.2f} ms" + (f"  errors {errors} {statuses}" if errors else ""))
    return results


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def start_radicale(users):
    folder = tempfile.mkdtemp(prefix="kite-radicale-")
    port = free_port()
    with open(os.path.join(folder, "users"), "w") as f:
        for u in users:
            f.write(f"{u}:{PASSWORD}\n")
    config = os.path.join(folder, "config")
    with open(config, "w") as f:
        f.write(f"[server]\nhosts = 127.0.0.1:{port}\nmax_connections = 64\n"
                f"[auth]\ntype = htpasswd\nhtpasswd_filename = {folder}/users\nhtpasswd_encryption = plain\ndelay = 0\n"
                f"[rights]\ntype = owner_only\n"
                f"[storage]\nfilesystem_folder = {folder}/collections\n"
                f"[web]\ntype = none\n[logging]\nlevel = warning\n")
    log = open(os.path.join(folder, "radicale.log"), "w")
    proc = subprocess.Popen(["/usr/bin/python3", "-m", "radicale", "--config", config], stdout=log, stderr=log)
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(f"radicale exited: {open(os.path.join(folder, 'radicale.log')).read()}")
            time.sleep(0.1)
    return proc, port, folder


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--kite-port", type=int, required=True, help="kite-caldav's HTTP port")
    ap.add_argument("--data", required=True)
    ap.add_argument("--bin", required=True)
    ap.add_argument("--clients", type=int, default=10)
    ap.add_argument("--events", type=int, default=100)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--ops", default=",".join(OPS))
    ap.add_argument("--no-radicale", action="store_true")
    ap.add_argument("--build", default="")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    ops = [o for o in args.ops.split(",") if o]
    if any(o not in OPS for o in ops):
        ap.error(f"--ops: a list of {', '.join(OPS)}")
    if not 1 <= args.clients <= 64 or not 1 <= args.seconds <= 300 or not 1 <= args.events <= 10000:
        ap.error("--clients 1..64, --seconds 1..300, --events 1..10000")

    users = [f"bench-dav{i}@bench-dav.test" for i in range(1, args.clients + 1)]
    env = dict(os.environ, KITE_CONFIG=os.path.join(args.data, "kite.yaml"))
    kitectl = os.path.join(args.bin, "kitectl")
    subprocess.run([kitectl, "domain", "add", "bench-dav.test"], env=env, capture_output=True)
    for u in users:
        r = subprocess.run([kitectl, "user", "add", u, "--password-stdin"], input=PASSWORD + "\n", env=env,
                           capture_output=True, text=True)
        if r.returncode != 0 and "already" not in r.stderr:
            sys.exit(f"kitectl user add {u}: {r.stderr}")

    servers = [("kite", args.kite_port, None, None)]
    proc = folder = None
    if not args.no_radicale:
        proc, port, folder = start_radicale(users)
        servers.append(("radicale", port, proc, folder))
    results = {}
    try:
        for server, port, _, _ in servers:
            t0 = time.monotonic()
            states = [setup_user(server, port, u, args.events) for u in users]
            print(f"caldav: {server}: {args.clients} calendars with {args.events} events each "
                  f"(set-up {time.monotonic() - t0:.1f} s)")
            results[server] = run_server(server, port, states, ops, args.seconds)
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            shutil.rmtree(folder, ignore_errors=True)

    print()
    print(f"CalDAV operations/s, {args.clients} clients, {args.events} events per calendar, {args.seconds} s each "
          f"({args.build or 'build unknown'}; {platform.node()}, {os.cpu_count()} CPUs)")
    print(f"{'operation':<18}{'Kite':>10}{'Radicale':>10}{'Kite/Radicale':>15}{'Kite p99 ms':>13}{'Radicale p99':>14}")
    for op in ops:
        k = results["kite"][op]
        r = results.get("radicale", {}).get(op)
        ratio = f"{k['ops_per_s'] / r['ops_per_s']:.1f}x" if r and r["ops_per_s"] > 0 else "-"
        print(f"{op:<18}{k['ops_per_s']:>10.0f}{(r['ops_per_s'] if r else float('nan')):>10.0f}{ratio:>15}"
              f"{k['p99_ms']:>13.1f}{(r['p99_ms'] if r else float('nan')):>14.1f}")
    print("target: at least 10x Radicale's operations/s (issue 7)")
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump({"benchmark": "caldav", "clients": args.clients, "events": args.events, "build": args.build,
                       "results": results}, f, indent=2)
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()

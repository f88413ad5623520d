#!/usr/bin/python3
"""Free/busy benchmark: kite-freebusy's Availability over gRPC for 10 attendees over one week,
with `--users` people (default 1000) who have recurring events (run by `scripts/bench
freebusy`, which starts the suite first).

Set-up (not timed): fb_seed (tests/bench/fb_seed.cc) creates the people in bench-fb.test with
a weekday stand-up (open-ended, an EXDATE, a moved instance), a weekly meeting (52 times,
one cancelled) and `--singles` single events each, all ingested through lib/calendar.

Each query asks for `--attendees` (default 10) people drawn at random, over one of the
seeded weeks drawn at random (Monday 00:00 UTC to the next Monday), viewed by user1:
  uncached  before each query (untimed) the attendees' cached answers are dropped with
            Invalidate, so every attendee is computed from PostgreSQL (expansion included);
  cached    a fixed set of `--groups` queries is asked once to warm the cache, then asked
            again and again; every attendee is a Redis hit.
`--queries` timed queries per mode, one at a time (latency), then the same with
`--clients` client threads for `--seconds` (throughput). Prints p50, p90, p99 and max latency
(client-side, gRPC round trip included) and queries/s, and writes the figures as JSON.
A benchmark, not a test: nothing passes or fails on time. Loopback only; never a DNS lookup.
"""
import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import grpc

WEEK0 = 1767571200  # Monday 2026-01-05T00:00:00Z, fb_seed's first week
DOMAIN = "bench-fb.test"


def load_stubs(source):
    gen = tempfile.mkdtemp(prefix="kite-proto-py-")
    subprocess.run(["protoc", "-I", os.path.join(source, "proto"), f"--python_out={gen}",
                    os.path.join(source, "proto", "kite", "freebusy", "v1", "freebusy.proto")], check=True)
    sys.path.insert(0, gen)
    from kite.freebusy.v1 import freebusy_pb2  # noqa: E402
    return gen, freebusy_pb2


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, max(0, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def summary(latencies_ms):
    return {"count": len(latencies_ms), "p50_ms": percentile(latencies_ms, 50), "p90_ms": percentile(latencies_ms, 90),
            "p99_ms": percentile(latencies_ms, 99), "max_ms": max(latencies_ms) if latencies_ms else float("nan"),
            "mean_ms": statistics.fmean(latencies_ms) if latencies_ms else float("nan")}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--grpc-port", type=int, required=True, help="kite-freebusy's gRPC port")
    ap.add_argument("--data", required=True, help="the suite's data folder (kite.yaml)")
    ap.add_argument("--bin", required=True)
    ap.add_argument("--source", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
    ap.add_argument("--users", type=int, default=1000)
    ap.add_argument("--singles", type=int, default=10)
    ap.add_argument("--attendees", type=int, default=10)
    ap.add_argument("--queries", type=int, default=500, help="timed queries per mode (sequential)")
    ap.add_argument("--groups", type=int, default=50, help="distinct queries in the cached mode")
    ap.add_argument("--clients", type=int, default=4, help="client threads in the throughput runs")
    ap.add_argument("--seconds", type=int, default=10, help="length of each throughput run")
    ap.add_argument("--build", default="")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    if not 1 <= args.attendees <= 100 or args.attendees > args.users:
        ap.error("--attendees must be 1..100 and at most --users")
    if not 1 <= args.queries <= 100000 or not 1 <= args.seconds <= 300 or not 1 <= args.clients <= 64:
        ap.error("--queries 1..100000, --seconds 1..300, --clients 1..64")

    gen, pb = load_stubs(os.path.abspath(args.source))
    try:
        env = dict(os.environ, KITE_CONFIG=os.path.join(args.data, "kite.yaml"))
        start = time.monotonic()
        r = subprocess.run([os.path.join(args.bin, "fb_seed"), "--domain", DOMAIN, "--users", str(args.users),
                            "--singles", str(args.singles)], env=env, capture_output=True, text=True, timeout=3600)
        if r.returncode != 0:
            sys.exit(f"fb_seed failed: {r.stdout}{r.stderr}")
        print(f"freebusy: {r.stdout.strip()} (set-up {time.monotonic() - start:.0f} s)")
        shown = subprocess.run([os.path.join(args.bin, "kitectl"), "user", "show", f"user1@{DOMAIN}", "--json"],
                               env=env, capture_output=True, text=True, timeout=60)
        viewer = int(json.loads(shown.stdout)["id"])
        ids = {}  # address -> account id, for Invalidate
        listed = subprocess.run([os.path.join(args.bin, "kitectl"), "user", "list", DOMAIN, "--json"], env=env,
                                capture_output=True, text=True, timeout=120)
        for item in json.loads(listed.stdout):
            ids[item["address"]] = int(item["id"])

        channel = grpc.insecure_channel(f"127.0.0.1:{args.grpc_port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        availability = channel.unary_unary("/kite.freebusy.v1.FreeBusy/Availability",
                                           request_serializer=pb.AvailabilityRequest.SerializeToString,
                                           response_deserializer=pb.AvailabilityResponse.FromString)
        invalidate = channel.unary_unary("/kite.freebusy.v1.FreeBusy/Invalidate",
                                         request_serializer=pb.InvalidateRequest.SerializeToString,
                                         response_deserializer=pb.InvalidateResponse.FromString)
        rng = random.Random(7)
        users = [f"user{i}@{DOMAIN}" for i in range(1, args.users + 1)]

        def query(rng_):
            week = WEEK0 + rng_.randrange(0, 8) * 7 * 86400
            return rng_.sample(users, args.attendees), week

        def ask(targets, week):
            req = pb.AvailabilityRequest(viewer_account_id=viewer, targets=targets)
            req.start.seconds = week
            req.end.seconds = week + 7 * 86400
            t0 = time.perf_counter()
            resp = availability(req, timeout=60)
            ms = (time.perf_counter() - t0) * 1000
            if not all(res.visible for res in resp.results):
                sys.exit("an attendee was not visible: the benchmark's set-up is wrong")
            return ms, sum(len(res.busy) for res in resp.results)

        def drop(targets):
            for t in targets:
                invalidate(pb.InvalidateRequest(account_id=ids[t]), timeout=30)

        results = {}
        # Uncached, one at a time.
        lat, periods = [], 0
        for _ in range(args.queries):
            targets, week = query(rng)
            drop(targets)
            ms, n = ask(targets, week)
            lat.append(ms)
            periods += n
        results["uncached"] = summary(lat)
        results["uncached"]["busy_periods_per_query"] = periods / max(1, args.queries)
        # Cached, one at a time.
        groups = [query(rng) for _ in range(args.groups)]
        for targets, week in groups:
            ask(targets, week)
        lat = [ask(*groups[i % len(groups)])[0] for i in range(args.queries)]
        results["cached"] = summary(lat)

        # Throughput with several clients.
        def run(mode):
            stop_at = time.monotonic() + args.seconds
            counts, lats, lock = [0], [], threading.Lock()

            def worker(seed):
                r_ = random.Random(seed)
                local = []
                while time.monotonic() < stop_at:
                    if mode == "cached":
                        targets, week = groups[r_.randrange(len(groups))]
                    else:
                        targets, week = query(r_)
                        drop(targets)
                    local.append(ask(targets, week)[0])
                with lock:
                    counts[0] += len(local)
                    lats.extend(local)
            threads = [threading.Thread(target=worker, args=(100 + i,)) for i in range(args.clients)]
            t0 = time.monotonic()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            elapsed = time.monotonic() - t0
            out = summary(lats)
            out["queries_per_s"] = counts[0] / elapsed
            out["clients"] = args.clients
            return out
        results["cached_concurrent"] = run("cached")
        results["uncached_concurrent"] = run("uncached")

        print()
        print(f"kite-freebusy Availability: {args.attendees} attendees, one week, {args.users} users "
              f"({args.build or 'build unknown'}; {platform.node()}, {os.cpu_count()} CPUs)")
        print(f"{'mode':<32}{'queries':>9}{'p50 ms':>9}{'p90 ms':>9}{'p99 ms':>9}{'max ms':>9}{'q/s':>9}")
        for name in ("cached", "uncached", "cached_concurrent", "uncached_concurrent"):
            f = results[name]
            qps = f"{f['queries_per_s']:.0f}" if "queries_per_s" in f else "-"
            label = name if "concurrent" not in name else f"{name} ({f['clients']} clients)"
            print(f"{label:<32}{f['count']:>9}{f['p50_ms']:>9.2f}{f['p90_ms']:>9.2f}{f['p99_ms']:>9.2f}"
                  f"{f['max_ms']:>9.1f}{qps:>9}")
        print(f"(uncached: every attendee's answer dropped with Invalidate before the query; "
              f"{results['uncached']['busy_periods_per_query']:.0f} busy periods per answer on average)")
        print("targets: p99 < 10 ms cached, < 100 ms uncached (issue 7)")
        if args.json:
            os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
            with open(args.json, "w") as f:
                json.dump({"benchmark": "freebusy", "users": args.users, "attendees": args.attendees,
                           "build": args.build, "results": results}, f, indent=2)
            print(f"figures written to {args.json}")
    finally:
        shutil.rmtree(gen, ignore_errors=True)


if __name__ == "__main__":
    main()

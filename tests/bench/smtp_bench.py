#!/usr/bin/python3
"""SMTP acceptance benchmark: Postfix's smtp-source against kite-mta and against a private
Postfix, same machine, same run (run by `scripts/bench smtp`, which starts the suite first).

For each message size and concurrency, smtp-source sends the same number of messages, over
connections it reuses (-d), to:
  - kite-mta, which answers 250 only after the message and its recipients are committed in
    PostgreSQL (synchronous_commit on, as the launcher configures it). kite-delivery is
    stopped for the run, so what is measured is acceptance, as on the Postfix side; the
    spool is emptied between runs with `kitectl queue delete all --yes`;
  - a private Postfix instance (tests/fixtures/postfix_instance.py) accepting into its own
    queue (fsync'ed queue files) and handing mail to the discard transport.
Prints messages/s for both and the ratio, kite-mta's peak RSS (VmHWM, reset before each run),
and writes the figures as JSON.
Scaling (--scaling-replicas 1,2): the same load (--scaling-concurrency sessions of
--scaling-size bytes) against one kite-mta, then against two (`kite-local start-daemon
mta@2`, SMTP port + 100), the sessions and messages split evenly between them, one
smtp-source per replica started together (rate = messages / the slower one's time); Postfix's
figure for that size and concurrency from the same run is the reference. A benchmark, not a test: nothing passes or fails on time.
Loopback only; never a DNS lookup (smtp-source -M client.test, IP literals everywhere).
"""
import argparse
import json
import math
import os
import platform
import smtplib
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import postfix_instance  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def smtp_source(port, sessions, messages, size, recipient):
    cmd = [postfix_instance.SMTP_SOURCE, "-d", "-s", str(sessions), "-m", str(messages), "-l", str(size),
           "-M", "client.test", "-f", "bench@client.test", "-t", recipient, f"127.0.0.1:{port}"]
    start = time.monotonic()
    r = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=3600)
    elapsed = time.monotonic() - start
    if r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {r.returncode}: {r.stdout}{r.stderr}")
    return elapsed, (r.stdout + r.stderr).strip()


def probe_body(size):
    """A message of about `size` bytes for the latency probe (76-character lines)."""
    head = "From: probe@client.test\r\nTo: demo@example.test\r\nSubject: latency probe\r\n\r\n"
    line = "x" * 76 + "\r\n"
    return (head + line * max(1, (size - len(head)) // len(line))).encode()


def with_probe(port, size, recipient, run):
    """Runs run() (an smtp-source load) while one more session sends messages of the same size
    one after another, timing each transaction from MAIL FROM to the 250 after DATA: the
    acceptance latency a client sees under that load (smtp-source reports none). Returns
    (run()'s result, the latencies in ms)."""
    latencies, stop = [], threading.Event()
    body = probe_body(size)

    def probe():
        try:
            s = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=120)
            s.ehlo()
            while not stop.is_set():
                t = time.monotonic()
                s.sendmail("probe@client.test", [recipient], body)
                latencies.append((time.monotonic() - t) * 1000)
            s.quit()
        except (OSError, smtplib.SMTPException) as e:
            print(f"smtp_bench: latency probe on port {port}: {e}", file=sys.stderr)

    th = threading.Thread(target=probe, daemon=True)
    th.start()
    try:
        result = run()
    finally:
        stop.set()
        th.join(timeout=180)
    return result, latencies


def p99(values):
    if not values:
        return None
    v = sorted(values)
    return round(v[min(len(v) - 1, max(0, math.ceil(0.99 * len(v)) - 1))], 1)


def smtp_source_parallel(ports, sessions, messages, size, recipient):
    """One smtp-source per port, started together, sessions and messages split evenly; returns
    the time until the last one finished."""
    procs = []
    start = time.monotonic()
    for i, port in enumerate(ports):
        s = sessions // len(ports) + (1 if i < sessions % len(ports) else 0)
        m = messages // len(ports) + (1 if i < messages % len(ports) else 0)
        cmd = [postfix_instance.SMTP_SOURCE, "-d", "-s", str(max(1, s)), "-m", str(m), "-l", str(size),
               "-M", "client.test", "-f", "bench@client.test", "-t", recipient, f"127.0.0.1:{port}"]
        procs.append((cmd, subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                            stderr=subprocess.STDOUT, text=True)))
    for cmd, proc in procs:
        out, _ = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {out}")
    return time.monotonic() - start


def wait_port(port, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                if s.recv(512).startswith(b"220"):
                    return True
        except OSError:
            pass
        time.sleep(0.2)
    return False


def fmt(v, digits=1):
    return "n/a" if v is None else f"{v:.{digits}f}"


def read_status(pid, key):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def reset_peak(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        return True
    except OSError:
        return False


class Kite:
    def __init__(self, args):
        self.args = args
        self.env = dict(os.environ, KITE_CONFIG=os.path.join(args.data, "kite.yaml"))

    def kitectl(self, *a):
        r = subprocess.run([os.path.join(self.args.bin, "kitectl"), *a], env=self.env, capture_output=True,
                           text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"kitectl {' '.join(a)}: {r.stderr.strip()}")
        return r.stdout

    def kite_local(self, *a, check=True):
        subprocess.run([self.args.launcher, *a, "--data", self.args.data], check=check, stdout=subprocess.DEVNULL,
                       stderr=None if check else subprocess.DEVNULL, timeout=120)

    def mta_pid(self):
        with open(os.path.join(self.args.data, "run", "kite-mta.pid")) as f:
            return int(f.read().strip())

    def replica_pid(self, name):
        with open(os.path.join(self.args.data, "run", f"kite-{name}.pid")) as f:
            return int(f.read().strip())

    def spooled(self):
        stats = json.loads(self.kitectl("--json", "queue", "stats"))
        return sum(n for k, n in stats["spool"].items() if k.startswith("local/"))

    def clear(self):
        out = json.loads(self.kitectl("--json", "queue", "delete", "all", "--yes"))
        self.kitectl("queue", "stats")  # still answers
        return out["messages"]


def run_scaling(args, kite, pf, replicas, recipient, matrix):
    """The same load against 1..N kite-mta replicas (see the module comment)."""
    size, c, n = args.scaling_size, args.scaling_concurrency, args.messages
    # Postfix's figure for this load: from the matrix when it was measured, else measured now.
    ref = next((r for r in matrix if r["size"] == size and r["concurrency"] == c), None)
    if ref or not pf:
        pf_rate = ref["postfix_msgs_per_s"] if ref else None
    else:
        smtp_source(pf.smtpd_port, 1, 5, size, recipient)
        pf_rate = n / smtp_source(pf.smtpd_port, c, n, size, recipient)[0]
    out = []
    print(f"\nscaling: {n} messages of {size} bytes over {c} sessions, split over the kite-mta replicas")
    print(f"{'replicas':>8} | {'kite msg/s':>10} {'postfix msg/s':>13} {'ratio':>6} | per replica peak RSS")
    for r in replicas:
        ports = [args.kite_port + 100 * i for i in range(r)]
        for i in range(2, r + 1):
            kite.kite_local("start-daemon", f"mta@{i}")
        for port in ports:
            if not wait_port(port):
                raise RuntimeError(f"kite-mta replica on port {port} does not answer")
        for port in ports:
            smtp_source(port, 1, 5, size, recipient)  # warm-up
        kite.clear()
        pids = [kite.mta_pid()] + [kite.replica_pid(f"mta@{i}") for i in range(2, r + 1)]
        resets = [reset_peak(pid) for pid in pids]
        seconds = smtp_source_parallel(ports, c, n, size, recipient)
        peaks = [read_status(pid, "VmHWM") if ok else None for pid, ok in zip(pids, resets)]
        accepted = kite.spooled()
        rate = n / seconds
        row = {"replicas": r, "size": size, "concurrency": c, "messages": n, "kite_seconds": round(seconds, 3),
               "kite_msgs_per_s": round(rate, 1), "kite_spooled": accepted,
               "postfix_msgs_per_s": round(pf_rate, 1) if pf_rate else None,
               "ratio": round(rate / pf_rate, 2) if pf_rate else None,
               "kite_mta_peak_rss_bytes": peaks}
        out.append(row)
        print(f"{r:>8} | {rate:>10.1f} {fmt(pf_rate):>13} {fmt(rate / pf_rate if pf_rate else None, 2):>6} | "
              + ", ".join(f"{p / 1048576:.1f} MiB" if p else "n/a" for p in peaks)
              + ("" if accepted == n else f"   (spooled {accepted} of {n}!)"), flush=True)
        for i in range(2, r + 1):
            kite.kite_local("kill-daemon", f"mta@{i}", "TERM", check=False)
        kite.clear()
    return out


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kite-port", type=int, required=True, help="kite-mta's SMTP port")
    p.add_argument("--data", required=True, help="the suite's data folder (kite-local --data)")
    p.add_argument("--bin", required=True, help="folder with kitectl and the daemons")
    p.add_argument("--launcher", required=True, help="scripts/kite-local")
    p.add_argument("--messages", type=int, default=1000, help="messages per run (same for every run)")
    p.add_argument("--concurrency", default="1,20,100")
    p.add_argument("--sizes", default="4096,65536")
    p.add_argument("--no-postfix", dest="postfix", action="store_false",
                   help="Kite alone (no private Postfix: not root, or postfix's daemons missing)")
    p.add_argument("--scaling-replicas", default="", help="kite-mta replicas for the scaling runs, e.g. 1,2 "
                   "(none by default)")
    p.add_argument("--scaling-concurrency", type=int, default=100)
    p.add_argument("--scaling-size", type=int, default=4096)
    p.add_argument("--build", default="", help="how the binaries were built (for the report)")
    p.add_argument("--json", default="", help="write the results here")
    args = p.parse_args()
    if not os.access(postfix_instance.SMTP_SOURCE, os.X_OK):
        sys.exit("smtp_bench: smtp-source not found (apt-get install postfix, or scripts/install-deps)")
    concurrency = [int(c) for c in args.concurrency.split(",")]
    scaling = [int(r) for r in args.scaling_replicas.split(",") if r]
    if any(r < 1 or r > 9 for r in scaling):
        sys.exit("smtp_bench: --scaling-replicas must be 1..9 each")
    sizes = [int(s) for s in args.sizes.split(",")]
    kite = Kite(args)
    recipient = "demo@example.test"

    # Acceptance only, on both sides (see the module comment).
    kite.kite_local("kill-daemon", "delivery", "TERM")
    kite.clear()
    mta_pid = kite.mta_pid()
    results, scaling_results = [], []
    pf = None
    if args.postfix:
        pf = postfix_instance.PostfixInstance(smtpd_port=free_port(), discard=True,
                                              maxproc=max(concurrency + [args.scaling_concurrency]) + 10)
        pf.start()
    else:
        print("Postfix not measured (--no-postfix): Kite alone", flush=True)
    try:
        print(f"{'size':>7} {'conc':>5} {'msgs':>6} | {'kite msg/s':>10} {'postfix msg/s':>13} {'ratio':>6} | "
              f"{'kite-mta peak RSS':>17}")
        for size in sizes:
            for c in concurrency:
                # Warm-up: one connection's worth, not measured.
                smtp_source(args.kite_port, 1, 5, size, recipient)
                if pf:
                    smtp_source(pf.smtpd_port, 1, 5, size, recipient)
                kite.clear()
                peak_reset = reset_peak(mta_pid)
                (kite_s, _), kite_lat = with_probe(
                    args.kite_port, size, recipient,
                    lambda: smtp_source(args.kite_port, c, args.messages, size, recipient))
                peak = read_status(mta_pid, "VmHWM") if peak_reset else None
                accepted = kite.spooled() - len(kite_lat)  # the probe's messages are spooled too
                pf_s, pf_lat = None, []
                if pf:
                    (pf_s, _), pf_lat = with_probe(
                        pf.smtpd_port, size, recipient,
                        lambda: smtp_source(pf.smtpd_port, c, args.messages, size, recipient))
                kite_rate = args.messages / kite_s
                pf_rate = args.messages / pf_s if pf else None
                row = {
                    "size": size, "concurrency": c, "messages": args.messages,
                    "kite_seconds": round(kite_s, 3), "kite_msgs_per_s": round(kite_rate, 1),
                    "kite_spooled": accepted,
                    "postfix_seconds": round(pf_s, 3) if pf else None,
                    "postfix_msgs_per_s": round(pf_rate, 1) if pf else None,
                    "ratio": round(kite_rate / pf_rate, 2) if pf else None,
                    "kite_mta_peak_rss_bytes": peak,
                    # One extra session's MAIL..250-after-DATA times during the load.
                    "kite_p99_ms": p99(kite_lat), "kite_probe_messages": len(kite_lat),
                    "postfix_p99_ms": p99(pf_lat) if pf else None,
                    "postfix_probe_messages": len(pf_lat) if pf else None,
                }
                results.append(row)
                rss = f"{peak / 1048576:.1f} MiB" if peak else "n/a"
                print(f"{size:>7} {c:>5} {args.messages:>6} | {kite_rate:>10.1f} {fmt(pf_rate):>13} "
                      f"{fmt(kite_rate / pf_rate if pf else None, 2):>6} | {rss:>17} | p99 "
                      f"{fmt(row['kite_p99_ms'])} ms ({len(kite_lat)}) vs {fmt(row['postfix_p99_ms'])} ms"
                      + ("" if accepted == args.messages else f"   (spooled {accepted} of {args.messages}!)"),
                      flush=True)
        kite.clear()
        if scaling:
            scaling_results = run_scaling(args, kite, pf, scaling, recipient, results)
    finally:
        if pf:
            pf.stop()
        for r in scaling:
            if r > 1:
                kite.kite_local("kill-daemon", f"mta@{r}", "TERM", check=False)
        kite.kite_local("start-daemon", "delivery")
    doc = {
        "benchmark": "smtp-accept",
        "tool": "postfix smtp-source -d (connections reused)",
        "host": {"cpus": os.cpu_count(), "kernel": platform.release()},
        "build": args.build,
        "kite": "kite-mta, 250 after PostgreSQL commit (synchronous_commit on); kite-delivery stopped",
        "postfix": None if not args.postfix else f"Postfix {subprocess.run(['/usr/sbin/postconf', '-h', 'mail_version'], capture_output=True, text=True).stdout.strip()}, "
                   "private instance, queue files fsync'ed, discard transport",
        "kite_mta_peak_rss_max_bytes": max((r["kite_mta_peak_rss_bytes"] or 0) for r in results) if results else None,
        "results": results,
        "scaling": scaling_results,
    }
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()

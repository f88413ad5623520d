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
and writes the figures as JSON. A benchmark, not a test: nothing passes or fails on time.
Loopback only; never a DNS lookup (smtp-source -M client.test, IP literals everywhere).
"""
import argparse
import json
import os
import platform
import socket
import subprocess
import sys
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

    def kite_local(self, *a):
        subprocess.run([self.args.launcher, *a, "--data", self.args.data], check=True, stdout=subprocess.DEVNULL,
                       timeout=120)

    def mta_pid(self):
        with open(os.path.join(self.args.data, "run", "kite-mta.pid")) as f:
            return int(f.read().strip())

    def spooled(self):
        stats = json.loads(self.kitectl("--json", "queue", "stats"))
        return sum(n for k, n in stats["spool"].items() if k.startswith("local/"))

    def clear(self):
        out = json.loads(self.kitectl("--json", "queue", "delete", "all", "--yes"))
        self.kitectl("queue", "stats")  # still answers
        return out["messages"]


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kite-port", type=int, required=True, help="kite-mta's SMTP port")
    p.add_argument("--data", required=True, help="the suite's data folder (kite-local --data)")
    p.add_argument("--bin", required=True, help="folder with kitectl and the daemons")
    p.add_argument("--launcher", required=True, help="scripts/kite-local")
    p.add_argument("--messages", type=int, default=1000, help="messages per run (same for every run)")
    p.add_argument("--concurrency", default="1,20,100")
    p.add_argument("--sizes", default="4096,65536")
    p.add_argument("--build", default="", help="how the binaries were built (for the report)")
    p.add_argument("--json", default="", help="write the results here")
    args = p.parse_args()
    if not os.access(postfix_instance.SMTP_SOURCE, os.X_OK):
        sys.exit("smtp_bench: smtp-source not found (apt-get install postfix, or scripts/install-deps)")
    concurrency = [int(c) for c in args.concurrency.split(",")]
    sizes = [int(s) for s in args.sizes.split(",")]
    kite = Kite(args)
    recipient = "demo@example.test"

    # Acceptance only, on both sides (see the module comment).
    kite.kite_local("kill-daemon", "delivery", "TERM")
    kite.clear()
    mta_pid = kite.mta_pid()
    results = []
    pf = postfix_instance.PostfixInstance(smtpd_port=free_port(), discard=True, maxproc=max(concurrency) + 10)
    pf.start()
    try:
        print(f"{'size':>7} {'conc':>5} {'msgs':>6} | {'kite msg/s':>10} {'postfix msg/s':>13} {'ratio':>6} | "
              f"{'kite-mta peak RSS':>17}")
        for size in sizes:
            for c in concurrency:
                # Warm-up: one connection's worth, not measured.
                smtp_source(args.kite_port, 1, 5, size, recipient)
                smtp_source(pf.smtpd_port, 1, 5, size, recipient)
                kite.clear()
                peak_reset = reset_peak(mta_pid)
                kite_s, _ = smtp_source(args.kite_port, c, args.messages, size, recipient)
                peak = read_status(mta_pid, "VmHWM") if peak_reset else None
                accepted = kite.spooled()
                pf_s, _ = smtp_source(pf.smtpd_port, c, args.messages, size, recipient)
                kite_rate = args.messages / kite_s
                pf_rate = args.messages / pf_s
                row = {
                    "size": size, "concurrency": c, "messages": args.messages,
                    "kite_seconds": round(kite_s, 3), "kite_msgs_per_s": round(kite_rate, 1),
                    "kite_spooled": accepted,
                    "postfix_seconds": round(pf_s, 3), "postfix_msgs_per_s": round(pf_rate, 1),
                    "ratio": round(kite_rate / pf_rate, 2),
                    "kite_mta_peak_rss_bytes": peak,
                }
                results.append(row)
                rss = f"{peak / 1048576:.1f} MiB" if peak else "n/a"
                print(f"{size:>7} {c:>5} {args.messages:>6} | {kite_rate:>10.1f} {pf_rate:>13.1f} "
                      f"{kite_rate / pf_rate:>6.2f} | {rss:>17}"
                      + ("" if accepted == args.messages else f"   (spooled {accepted} of {args.messages}!)"),
                      flush=True)
        kite.clear()
    finally:
        pf.stop()
        kite.kite_local("start-daemon", "delivery")
    doc = {
        "benchmark": "smtp-accept",
        "tool": "postfix smtp-source -d (connections reused)",
        "host": {"cpus": os.cpu_count(), "kernel": platform.release()},
        "build": args.build,
        "kite": "kite-mta, 250 after PostgreSQL commit (synchronous_commit on); kite-delivery stopped",
        "postfix": f"Postfix {subprocess.run(['/usr/sbin/postconf', '-h', 'mail_version'], capture_output=True, text=True).stdout.strip()}, "
                   "private instance, queue files fsync'ed, discard transport",
        "kite_mta_peak_rss_max_bytes": max((r["kite_mta_peak_rss_bytes"] or 0) for r in results) if results else None,
        "results": results,
    }
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()

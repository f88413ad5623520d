#!/usr/bin/python3
"""Delivery benchmark: queue-to-mailbox messages/s of kite-delivery at 1 and 2 replicas (run by
`scripts/bench delivery`, which starts the suite first).

For each case and replica count:
  1. every kite-delivery replica is stopped;
  2. the queue is pre-filled through kite-mta (SMTP, several sessions): `--messages` messages
     of about `--size` bytes, each to one account (rotating over the list's members: the
     single-recipient case), or `--list-messages` messages to a distribution list of
     `--list-members` accounts, created with kitectl (the list case);
  3. the replicas start (the primary, then `kite-local start-daemon delivery@2`), and a
     PostgreSQL session polls the spool every 20 ms until it is empty. The clock runs from
     the first poll that sees a message gone (so daemon start-up is not counted) to the first
     poll that sees none left. Mailbox entries are counted (mailbox_entries rows) at both ends.
The peer (--postfix, default when Postfix is installed and we are root): a private Postfix
(tests/fixtures/postfix_instance.py) with the same accounts as virtual(8) Maildirs and the
list as a virtual alias, its smtpd putting what it accepts on hold; the same messages are
sent to it, the hold queue is released (postsuper -H ALL), and the Maildirs are counted every
50 ms from the first file to the last (fsync'ed files written by up to
default_destination_concurrency_limit = 20 parallel virtual(8) processes: Postfix's defaults).
Prints a table (case, server, replicas, messages, messages/s, mailbox entries/s, seconds; the
peak RSS of the replicas) and writes the figures as JSON. Checks that every message reached every
mailbox it should have (entries added == messages x recipients) and says so when not.
A benchmark, not a test: nothing passes or fails on time. Loopback only; never a DNS lookup.
"""
import argparse
import json
import os
import platform
import smtplib
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
from kite_ops import message, psql_path  # noqa: E402
import postfix_instance  # noqa: E402

DOMAIN = "example.test"


class Sql:
    """One long-lived psql session: a query costs a round trip, not a process start."""

    def __init__(self, data, port):
        with open(os.path.join(data, "pg", "password")) as f:
            password = f.read().strip()
        self.proc = subprocess.Popen(
            [psql_path(), "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(port), "-U", "postgres", "-d", "kite"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
            env=dict(os.environ, PGPASSWORD=password))

    def row(self, sql):
        """The single row of a query (one line of output), as a list of strings."""
        self.proc.stdin.write(sql.rstrip().rstrip(";") + ";\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"psql ended (exit {self.proc.wait()}) on: {sql}")
        return line.rstrip("\n").split("\t")

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


class Kite:
    def __init__(self, args):
        self.args = args
        self.env = dict(os.environ, KITE_CONFIG=os.path.join(args.data, "kite.yaml"))
        self.running = []

    def kitectl(self, *a, stdin=None):
        r = subprocess.run([os.path.join(self.args.bin, "kitectl"), *a], env=self.env, input=stdin,
                           capture_output=True, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError(f"kitectl {' '.join(a)}: {r.stderr.strip()}")
        return r.stdout

    def kite_local(self, *a, check=True):
        return subprocess.run([self.args.launcher, *a, "--data", self.args.data], check=check,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120).returncode

    def pid(self, name):
        try:
            with open(os.path.join(self.args.data, "run", f"kite-{name}.pid")) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def stop_delivery(self):
        for name in ("delivery@2", "delivery"):
            if self.pid(name):
                self.kite_local("kill-daemon", name, "TERM", check=False)
        self.running = []

    def start_delivery(self, replicas):
        names = ["delivery"] + [f"delivery@{i}" for i in range(2, replicas + 1)]
        for name in names:
            self.kite_local("start-daemon", name)
        self.running = names

    def peak_rss(self):
        """Largest VmHWM among the running replicas, in bytes."""
        peak = 0
        for name in self.running:
            pid = self.pid(name)
            try:
                with open(f"/proc/{pid}/status") as f:
                    for line in f:
                        if line.startswith("VmHWM:"):
                            peak = max(peak, int(line.split()[1]) * 1024)
            except (OSError, TypeError):
                pass
        return peak or None


def prefill(args, count, recipients_of, tag, port=None):
    """Sends `count` messages to kite-mta (or `port`) over args.sessions sessions; returns
    (accepted, first refusal text or None)."""
    lock = threading.Lock()
    state = {"next": 0, "accepted": 0, "refusal": None}

    def worker():
        conn = smtplib.SMTP("127.0.0.1", port or args.smtp_port, local_hostname="client.test", timeout=120)
        try:
            conn.ehlo()
            while True:
                with lock:
                    if state["next"] >= count or state["refusal"]:
                        return
                    state["next"] += 1
                    seq = state["next"]
                rcpts = recipients_of(seq)
                _, body = message(rcpts, seq, tag, size=args.size, sender="bench@client.test")
                try:
                    conn.sendmail("bench@client.test", rcpts, body)
                    with lock:
                        state["accepted"] += 1
                except smtplib.SMTPRecipientsRefused as e:
                    with lock:
                        state["refusal"] = "; ".join(f"{a}: {c} {m.decode(errors='replace')}"
                                                     for a, (c, m) in e.recipients.items())
                    conn.rset()
        finally:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                pass

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(args.sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(3600)
    return state["accepted"], state["refusal"]


def drain(kite, sql, replicas, messages, poll=0.02, limit=3600):
    """Starts the replicas and times the spool from its first departure to empty."""
    entries_before = int(sql.row("SELECT count(*) FROM mailbox_entries")[0])
    started = time.monotonic()
    kite.start_delivery(replicas)
    t0 = left0 = entries0 = None
    while time.monotonic() - started < limit:
        left = int(sql.row("SELECT count(*) FROM spool")[0])
        now = time.monotonic()
        if t0 is None and left < messages:
            t0, left0 = now, left
            entries0 = int(sql.row("SELECT count(*) FROM mailbox_entries")[0])
        if left == 0:
            break
        time.sleep(poll)
    else:
        raise RuntimeError(f"the spool did not drain in {limit} s ({left} messages left)")
    end = time.monotonic()
    entries_end = int(sql.row("SELECT count(*) FROM mailbox_entries")[0])
    seconds = max(end - t0, 1e-6)
    return {
        "seconds": round(seconds, 3),
        "seconds_from_start": round(end - started, 3),
        "messages_timed": left0,
        "msgs_per_s": round(left0 / seconds, 1),
        "entries_per_s": round((entries_end - entries0) / seconds, 1),
        "entries_added": entries_end - entries_before,
    }


def free_port():
    import socket
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port


def postfix_run(args, members, lists, count, recipients_of, per_message, tag, poll=0.05, limit=3600):
    """The same messages through a private Postfix into Maildirs (see the module comment)."""
    pf = postfix_instance.PostfixInstance(smtpd_port=free_port(), mailboxes=members, lists=lists, hold=True,
                                          maxproc=args.sessions + 10)
    pf.start()
    try:
        accepted, refusal = prefill(args, count, recipients_of, tag, port=pf.smtpd_port)
        if refusal:
            raise RuntimeError(f"postfix refused: {refusal}")
        expected = accepted * per_message
        started = time.monotonic()
        pf.release()
        t0 = files0 = None
        while time.monotonic() - started < limit:
            files = pf.delivered_files()
            now = time.monotonic()
            if t0 is None and files > 0:
                t0, files0 = now, files
            if files >= expected:
                break
            time.sleep(poll)
        else:
            raise RuntimeError(f"postfix did not deliver everything in {limit} s ({files} of {expected})")
        end = time.monotonic()
        seconds = max(end - t0, 1e-6)
        return {
            "messages": accepted,
            "seconds": round(seconds, 3),
            "seconds_from_start": round(end - started, 3),
            "msgs_per_s": round((expected - files0) / per_message / seconds, 1),
            "entries_per_s": round((expected - files0) / seconds, 1),
            "entries_added": files,
            "entries_expected": expected,
        }
    finally:
        pf.stop()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--smtp-port", type=int, required=True, help="kite-mta's SMTP port")
    p.add_argument("--pg-port", type=int, required=True, help="the suite's PostgreSQL port")
    p.add_argument("--data", required=True, help="the suite's data folder (kite-local --data)")
    p.add_argument("--bin", required=True, help="folder with kitectl and the daemons")
    p.add_argument("--launcher", required=True, help="scripts/kite-local")
    p.add_argument("--messages", type=int, default=5000, help="messages in the single-recipient case")
    p.add_argument("--list-messages", type=int, default=200, help="messages in the list case")
    p.add_argument("--list-members", type=int, default=100, help="accounts in the list (also the "
                   "accounts the single-recipient case rotates over)")
    p.add_argument("--replicas", default="1,2")
    p.add_argument("--cases", default="single,list")
    p.add_argument("--size", type=int, default=4096, help="message size in bytes (about)")
    p.add_argument("--sessions", type=int, default=16, help="SMTP sessions for the pre-fill")
    p.add_argument("--postfix", choices=["auto", "yes", "no"], default="auto",
                   help="also measure a private Postfix delivering into Maildirs (needs postfix and root)")
    p.add_argument("--build", default="", help="how the binaries were built (for the report)")
    p.add_argument("--json", default="", help="write the results here")
    args = p.parse_args()
    replicas = [int(r) for r in args.replicas.split(",")]
    if any(r < 1 or r > 9 for r in replicas):
        sys.exit("delivery_bench: --replicas must be 1..9 each")
    cases = args.cases.split(",")
    with_postfix = args.postfix == "yes" or (args.postfix == "auto" and postfix_instance.available())
    kite = Kite(args)
    members = [f"bench{i}@{DOMAIN}" for i in range(1, args.list_members + 1)]
    list_address = f"benchlist@{DOMAIN}"

    print(f"creating {len(members)} accounts and the list {list_address} with kitectl", flush=True)
    with ThreadPoolExecutor(2) as pool:  # the machine may have 2 cores
        list(pool.map(lambda a: kite.kitectl("user", "add", a, "--password-stdin", stdin="bench-password\n"),
                      members))
    kite.kitectl("list", "add", list_address, "--policy", "anyone", "--name", "Bench list")
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda a: kite.kitectl("list", "member", "add", list_address, a), members))

    case_spec = {
        "single": (args.messages, lambda seq: [members[seq % len(members)]], 1),
        "list": (args.list_messages, lambda seq: [list_address], len(members)),
    }
    sql = Sql(args.data, args.pg_port)
    results, notes = [], []
    print(f"{'case':<18} {'server':<8} {'replicas':>8} {'messages':>8} | {'messages/s':>10} {'entries/s':>10} "
          f"{'seconds':>8} | {'peak RSS/replica':>16}", flush=True)
    try:
        kite.stop_delivery()
        for case in cases:
            if case not in case_spec:
                sys.exit(f"delivery_bench: unknown case {case} (single, list)")
            count, recipients_of, per_message = case_spec[case]
            label = "single recipient" if case == "single" else f"list of {len(members)}"
            for r in replicas:
                kite.stop_delivery()
                left = int(sql.row("SELECT count(*) FROM spool")[0])
                if left:
                    raise RuntimeError(f"{left} messages still spooled before the {case} run")
                accepted, refusal = prefill(args, count, recipients_of, f"{case}{r}")
                if refusal:
                    note = f"{label}: kite-mta refused the recipient ({refusal}); case skipped"
                    print(note, flush=True)
                    notes.append(note)
                    # Whatever was accepted before the refusal is delivered, not measured.
                    kite.start_delivery(1)
                    while int(sql.row("SELECT count(*) FROM spool")[0]):
                        time.sleep(0.2)
                    kite.stop_delivery()
                    break
                spooled = int(sql.row("SELECT count(*) FROM spool")[0])
                m = drain(kite, sql, r, spooled)
                peak = kite.peak_rss()
                kite.stop_delivery()
                expected = accepted * per_message
                row = {"case": case, "recipients_per_message": per_message, "server": "kite", "replicas": r,
                       "messages": accepted, "size": args.size, **m,
                       "entries_expected": expected, "peak_rss_bytes_per_replica": peak}
                results.append(row)
                rss = f"{peak / 1048576:.1f} MiB" if peak else "n/a"
                check = "" if m["entries_added"] == expected else \
                    f"   (mailbox entries added {m['entries_added']}, expected {expected}!)"
                print(f"{label:<18} {'kite':<8} {r:>8} {accepted:>8} | {m['msgs_per_s']:>10.1f} "
                      f"{m['entries_per_s']:>10.1f} {m['seconds']:>8.2f} | {rss:>16}{check}", flush=True)
            if with_postfix:
                m = postfix_run(args, members, {list_address: members}, count, recipients_of, per_message,
                                f"{case}pf")
                results.append({"case": case, "recipients_per_message": per_message, "server": "postfix",
                                "size": args.size, **m})
                check = "" if m["entries_added"] == m["entries_expected"] else \
                    f"   (Maildir files {m['entries_added']}, expected {m['entries_expected']}!)"
                print(f"{label:<18} {'postfix':<8} {'-':>8} {m['messages']:>8} | {m['msgs_per_s']:>10.1f} "
                      f"{m['entries_per_s']:>10.1f} {m['seconds']:>8.2f} | {'':>16}{check}", flush=True)
    finally:
        sql.close()
        kite.stop_delivery()
        kite.kite_local("start-daemon", "delivery", check=False)
    doc = {
        "benchmark": "delivery-queue-to-mailbox",
        "host": {"cpus": os.cpu_count(), "kernel": platform.release()},
        "build": args.build,
        "method": "queue pre-filled through kite-mta with kite-delivery stopped; replicas started; "
                  "spool polled every 20 ms from the first message gone to empty",
        "size": args.size,
        "postfix": (f"Postfix {subprocess.run(['/usr/sbin/postconf', '-h', 'mail_version'], capture_output=True, text=True).stdout.strip()}, "
                    "private instance, virtual(8) into Maildirs, hold queue released at once, default concurrency")
        if with_postfix else None,
        "results": results,
        "notes": notes,
    }
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()

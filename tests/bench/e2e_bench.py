#!/usr/bin/python3
"""End-to-end benchmark: submission to mailbox, Kite next to Postfix, same machine, same run
(run by `scripts/bench e2e`, which starts the suite first).

Kite: messages go in through kite-submission (STARTTLS, AUTH PLAIN as the sender's account,
its own address in MAIL FROM and From:), are committed to the spool (250), put on the Redis
stream, and filed by kite-delivery into the recipients' INBOXes in PostgreSQL.
Postfix (the peer, when installed and root): a private instance (tests/fixtures/postfix_instance.py,
mailbox mode) whose smtpd offers STARTTLS with the suite's certificate and accepts from
loopback (no SASL: it would need a Dovecot or Cyrus SASL server), the recipients as virtual(8)
Maildirs. Same messages (about --size bytes, header X-Seq), same recipients (--recipients
accounts, one recipient per message, in turn), same client.

Two phases per server:
  serial   --serial-messages messages, one after the other on one session: the latency of a
           system with nothing else to do;
  loaded   --messages messages over --sessions sessions as fast as they are accepted:
           messages/s from the first MAIL FROM to the last message in its mailbox, and the
           latency of each message under that load.
Latency of a message: from the 250 after its DATA to the moment it is seen in its mailbox
(Kite: its mailbox_entries row committed, seen by one psql session polling every --poll
seconds; Postfix: its file in the Maildir's new/, listed every --poll seconds; the X-Seq
header tells which message it is). The same poll interval on both sides, so both figures
carry the same resolution (half of it on average). Also the acceptance latency (DATA sent to
250) of the loaded phase. p50/p99 are printed with the ratio, and the figures written as JSON.
A benchmark, not a test: nothing passes or fails on time. Loopback only; never a DNS lookup.
"""
import argparse
import json
import os
import platform
import re
import smtplib
import socket
import ssl
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
from kite_ops import psql_path  # noqa: E402
import postfix_instance  # noqa: E402

DOMAIN = "example.test"
SENDER = f"e2e-sender@{DOMAIN}"
PASSWORD = "e2e-bench-password"
SEQ = re.compile(rb"X-Seq: (\w+)-(\d+)")


def client_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # both servers use the suite's self-signed certificate
    return ctx


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def ms(v):
    return None if v is None else round(v * 1000, 2)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def make_message(to, tag, seq, size):
    head = (f"From: E2E bench <{SENDER}>\r\nTo: <{to}>\r\nSubject: e2e {tag} {seq}\r\n"
            f"Message-ID: <e2e.{tag}.{seq}.{time.time_ns()}@client.test>\r\nX-Seq: {tag}-{seq}\r\n"
            "Date: Mon, 02 Jan 2006 15:04:05 +0000\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n\r\n")
    line = "The quick brown fox jumps over the lazy dog, end to end, again and again.\r\n"
    body = head + line * max(1, (size - len(head)) // len(line))
    return body.encode()


class Poller(threading.Thread):
    """Polls a mailbox store every `interval` seconds; records when each (tag, seq) was first
    seen. `scan()` returns the (tag, seq) pairs that appeared since the last call."""

    def __init__(self, scan, interval):
        super().__init__(daemon=True)
        self.scan, self.interval = scan, interval
        self.seen = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.error = None

    def run(self):
        try:
            while not self.stopping.is_set():
                found = self.scan()
                now = time.monotonic()
                with self.lock:
                    for key in found:
                        self.seen.setdefault(key, now)
                self.stopping.wait(self.interval)
        except Exception as e:  # reported by wait()
            self.error = e

    def count(self, tag):
        with self.lock:
            return sum(1 for t, _ in self.seen if t == tag)

    def wait(self, tag, n, limit):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if self.error:
                raise RuntimeError(f"polling failed: {self.error}")
            if self.count(tag) >= n:
                return True
            time.sleep(0.02)
        return False

    def stop(self):
        self.stopping.set()
        self.join(10)


class KiteScan:
    """One long-lived psql session: mailbox entries (with their body's X-Seq) above the highest
    UID seen so far in each mailbox. A mailbox's UIDs are taken by an UPDATE of its row, held
    until commit, so within a mailbox they become visible in order: nothing is skipped."""

    def __init__(self, data, port):
        with open(os.path.join(data, "pg", "password")) as f:
            password = f.read().strip()
        self.proc = subprocess.Popen(
            [psql_path(), "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
             "-p", str(port), "-U", "postgres", "-d", "kite"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1,
            env=dict(os.environ, PGPASSWORD=password))
        self.last = {}
        for a, mb, uid in self.rows("SELECT account_id, mailbox_id, max(uid) FROM mailbox_entries "
                                    "GROUP BY account_id, mailbox_id"):
            self.last[(int(a), int(mb))] = int(uid)

    def rows(self, sql):
        self.proc.stdin.write(sql.rstrip().rstrip(";") + ";\nSELECT '--end--';\n")
        self.proc.stdin.flush()
        out = []
        while True:
            line = self.proc.stdout.readline()
            if not line:
                raise RuntimeError(f"psql ended (exit {self.proc.wait()}) on: {sql}")
            line = line.rstrip("\n")
            if line == "--end--":
                return out
            out.append(line.split("\t"))

    def __call__(self):
        values = ", ".join(f"({a}, {mb}, {u})" for (a, mb), u in self.last.items()) or "(0, 0, 0)"
        rows = self.rows(
            "SELECT e.account_id, e.mailbox_id, e.uid, "
            "substring(encode(substr(m.body, 1, 2048), 'escape') FROM 'X-Seq: ([A-Za-z0-9]+-[0-9]+)') "
            f"FROM mailboxes mb LEFT JOIN (VALUES {values}) AS v(a, m, u) ON v.a = mb.account_id AND v.m = mb.id "
            "JOIN mailbox_entries e ON e.account_id = mb.account_id AND e.mailbox_id = mb.id "
            "AND e.uid > coalesce(v.u, 0) JOIN messages m ON m.id = e.message_id")
        found = []
        for a, mb, uid, seq in rows:
            key = (int(a), int(mb))
            self.last[key] = max(self.last.get(key, 0), int(uid))
            if seq:
                tag, n = seq.rsplit("-", 1)
                found.append((tag, int(n)))
        return found

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


class MaildirScan:
    """Files in the Maildirs' new/ folders that were not there at the last call."""

    def __init__(self, base):
        self.base = base
        self.known = set()

    def __call__(self):
        found = []
        for box in os.listdir(self.base):
            d = os.path.join(self.base, box, "new")
            try:
                names = os.listdir(d)
            except OSError:
                continue
            for name in names:
                path = os.path.join(d, name)
                if path in self.known:
                    continue
                self.known.add(path)
                with open(path, "rb") as f:
                    m = SEQ.search(f.read(4096))
                if m:
                    found.append((m.group(1).decode(), int(m.group(2))))
        return found


def send(port, tls_ctx, login, recipients, tag, seqs, size, sessions, accepted, lock):
    """Sends messages `seqs` over `sessions` sessions; records the 250 time and the acceptance
    latency of each in `accepted[(tag, seq)]`."""
    queue = list(seqs)
    qlock = threading.Lock()
    errors = []

    def worker():
        conn = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=120)
        try:
            conn.ehlo()
            conn.starttls(context=tls_ctx)
            conn.ehlo()
            if login:
                conn.login(SENDER, PASSWORD)
            while True:
                with qlock:
                    if not queue or errors:
                        return
                    seq = queue.pop(0)
                rcpt = recipients[seq % len(recipients)]
                body = make_message(rcpt, tag, seq, size)
                code, resp = conn.mail(SENDER)
                if code != 250:
                    raise RuntimeError(f"MAIL FROM: {code} {resp!r}")
                code, resp = conn.rcpt(rcpt)
                if code != 250:
                    raise RuntimeError(f"RCPT TO: {code} {resp!r}")
                t0 = time.monotonic()
                code, resp = conn.data(body)
                t1 = time.monotonic()
                if code != 250:
                    raise RuntimeError(f"DATA: {code} {resp!r}")
                with lock:
                    accepted[(tag, seq)] = (t1, t1 - t0)
        except Exception as e:
            with qlock:
                errors.append(f"{type(e).__name__}: {e}")
        finally:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                pass

    with ThreadPoolExecutor(sessions) as pool:
        for f in [pool.submit(worker) for _ in range(sessions)]:
            f.result()
    if errors:
        raise RuntimeError(errors[0])


def phase(server, port, login, recipients, poller, tag, count, sessions, size, limit, label=None):
    accepted, lock = {}, threading.Lock()
    start = time.monotonic()
    send(port, client_context(), login, recipients, tag, range(1, count + 1), size, sessions, accepted, lock)
    sent_s = time.monotonic() - start
    complete = poller.wait(tag, len(accepted), limit)
    with poller.lock:
        seen = {k: v for k, v in poller.seen.items() if k[0] == tag}
    lat = [seen[k] - t250 for k, (t250, _) in accepted.items() if k in seen]
    acc = [a for _, a in accepted.values()]
    last = max(seen.values()) if seen else None
    total_s = (last - start) if last else None
    row = {
        "server": server, "phase": label or ("serial" if sessions == 1 else "loaded"), "sessions": sessions,
        "messages": count, "accepted": len(accepted), "in_mailbox": len(seen), "complete": complete,
        "send_seconds": round(sent_s, 3), "seconds": round(total_s, 3) if total_s else None,
        "accept_msgs_per_s": round(len(accepted) / sent_s, 1),
        "msgs_per_s": round(len(seen) / total_s, 1) if total_s else None,
        "latency_p50_ms": ms(percentile(lat, 50)), "latency_p90_ms": ms(percentile(lat, 90)),
        "latency_p99_ms": ms(percentile(lat, 99)), "latency_max_ms": ms(max(lat) if lat else None),
        "accept_p50_ms": ms(percentile(acc, 50)), "accept_p99_ms": ms(percentile(acc, 99)),
    }
    print(f"{server:<8} {row['phase']:<7} {sessions:>8} {count:>8} | {fmt(row['msgs_per_s']):>10} | "
          f"{fmt(row['latency_p50_ms']):>8} {fmt(row['latency_p99_ms']):>8} {fmt(row['latency_max_ms']):>8} | "
          f"{fmt(row['accept_p50_ms']):>8} {fmt(row['accept_p99_ms']):>8}"
          + ("" if complete else f"   (only {len(seen)} of {len(accepted)} in their mailbox after {limit} s!)"),
          flush=True)
    return row


def fmt(v):
    return "n/a" if v is None else f"{v:.1f}"


class TlsPostfix(postfix_instance.PostfixInstance):
    """The mailbox-mode instance with STARTTLS offered (the suite's certificate), as submission has."""

    def __init__(self, cert, key, **kw):
        super().__init__(**kw)
        self.cert, self.key = cert, key

    def main_cf(self):
        return super().main_cf().replace("smtpd_tls_security_level = none\n", "") + (
            "smtpd_tls_security_level = may\n"
            f"smtpd_tls_cert_file = {self.cert}\nsmtpd_tls_key_file = {self.key}\n"
            "smtpd_tls_loglevel = 0\n")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--submission-port", type=int, required=True, help="kite-submission's STARTTLS port")
    p.add_argument("--pg-port", type=int, required=True, help="the suite's PostgreSQL port")
    p.add_argument("--data", required=True, help="the suite's data folder (kite-local --data)")
    p.add_argument("--bin", required=True, help="folder with kitectl and the daemons")
    p.add_argument("--messages", type=int, default=2000, help="messages in the loaded phase")
    p.add_argument("--sessions", type=int, default=20, help="sessions in the loaded phase")
    p.add_argument("--serial-messages", type=int, default=200, help="messages in the serial phase")
    p.add_argument("--recipients", type=int, default=20, help="accounts the messages go to, in turn")
    p.add_argument("--size", type=int, default=4096, help="message size in bytes (about)")
    p.add_argument("--poll", type=float, default=0.005, help="mailbox poll interval (both servers)")
    p.add_argument("--postfix", choices=["auto", "yes", "no"], default="auto")
    p.add_argument("--build", default="", help="how the binaries were built (for the report)")
    p.add_argument("--json", default="", help="write the results here")
    args = p.parse_args()
    with_postfix = args.postfix == "yes" or (args.postfix == "auto" and postfix_instance.available())
    notes = []
    if args.postfix == "auto" and not with_postfix:
        note = "Postfix not measured: " + ("not root" if os.geteuid() else "postfix not installed")
        print(note, flush=True)
        notes.append(note)
    env = dict(os.environ, KITE_CONFIG=os.path.join(args.data, "kite.yaml"))
    kitectl = os.path.join(args.bin, "kitectl")
    recipients = [f"e2e{i}@{DOMAIN}" for i in range(1, args.recipients + 1)]
    print(f"creating {len(recipients) + 1} accounts with kitectl", flush=True)

    def add(user):
        r = subprocess.run([kitectl, "user", "add", user, "--password-stdin"], input=PASSWORD + "\n", env=env,
                           capture_output=True, text=True, timeout=120)
        if r.returncode != 0 and "already" not in r.stderr:
            raise RuntimeError(f"kitectl user add {user}: {r.stderr.strip()}")
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(add, [SENDER] + recipients))

    limit = 600
    rows = []
    print(f"{'server':<8} {'phase':<7} {'sessions':>8} {'messages':>8} | {'msgs/s':>10} | "
          f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} | {'acc p50':>8} {'acc p99':>8}   "
          f"(latency: 250 -> in the mailbox; acc: DATA -> 250)", flush=True)
    scan = KiteScan(args.data, args.pg_port)
    poller = Poller(scan, args.poll)
    poller.start()
    try:
        # A few messages first, not measured: connections, caches and the delivery consumer warm.
        phase("kite", args.submission_port, True, recipients, poller, "kwarm", 10, 2, args.size, limit, "warm-up")
        rows.append(phase("kite", args.submission_port, True, recipients, poller, "kserial",
                          args.serial_messages, 1, args.size, limit))
        rows.append(phase("kite", args.submission_port, True, recipients, poller, "kloaded", args.messages,
                          args.sessions, args.size, limit))
    finally:
        poller.stop()
        scan.close()
    if with_postfix:
        pf = TlsPostfix(cert=os.path.join(args.data, "tls", "cert.pem"), key=os.path.join(args.data, "tls", "key.pem"),
                        smtpd_port=free_port(), mailboxes=recipients, maxproc=args.sessions + 10)
        pf.start()
        poller = Poller(MaildirScan(pf.mail_dir), args.poll)
        poller.start()
        try:
            phase("postfix", pf.smtpd_port, False, recipients, poller, "pwarm", 10, 2, args.size, limit, "warm-up")
            rows.append(phase("postfix", pf.smtpd_port, False, recipients, poller, "pserial",
                              args.serial_messages, 1, args.size, limit))
            rows.append(phase("postfix", pf.smtpd_port, False, recipients, poller, "ploaded", args.messages,
                              args.sessions, args.size, limit))
        finally:
            poller.stop()
            pf.stop()
    by = {(r["server"], r["phase"]): r for r in rows}
    for ph in ("serial", "loaded"):
        k, pfr = by.get(("kite", ph)), by.get(("postfix", ph))
        if k and pfr:
            def q(a, b):
                return f"{a / b:.2f}" if a and b else "n/a"
            print(f"Kite/Postfix {ph}: messages/s {q(k['msgs_per_s'], pfr['msgs_per_s'])}, "
                  f"latency p50 {q(k['latency_p50_ms'], pfr['latency_p50_ms'])}, "
                  f"p99 {q(k['latency_p99_ms'], pfr['latency_p99_ms'])} (latency: lower is better)", flush=True)
    doc = {
        "benchmark": "e2e-submission-to-mailbox",
        "host": {"cpus": os.cpu_count(), "kernel": platform.release()},
        "build": args.build,
        "kite": "kite-submission (STARTTLS + AUTH PLAIN) -> spool (250 after commit) -> Redis stream -> "
                "kite-delivery -> INBOX in PostgreSQL",
        "postfix": (f"Postfix {subprocess.run(['/usr/sbin/postconf', '-h', 'mail_version'], capture_output=True, text=True).stdout.strip()}, "
                    "private instance, smtpd with STARTTLS (no SASL), virtual(8) into Maildirs") if with_postfix else None,
        "size": args.size, "recipients": args.recipients, "poll_seconds": args.poll,
        "results": rows, "notes": notes,
    }
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""IMAP and POP3 benchmark: kite-imap / kite-pop3 next to a private Dovecot, same machine, same
run, same client load over implicit TLS (run by `scripts/bench imap` and `scripts/bench pop3`,
which start the suite first).

Set-up (not timed): `--users` accounts in bench.test are created with kitectl; the same
accounts, with the same argon2id password hashes (read from Kite's database, so a login costs
the same on both sides), are the passwd-file users of a private Dovecot
(tests/fixtures/dovecot_instance.py: dovecot-imapd and dovecot-pop3d, Maildir, the suite's
certificate, implicit TLS only). Both get the same `--messages` generated messages (sizes from
1 KiB to about 200 KiB, text, HTML alternatives and base64 attachments, 50 senders) in every
user's INBOX: into Kite through kite-mta (SMTP, each message to every user at once, so Kite
stores each body once), into Dovecot as Maildir files indexed with doveadm; then half of
each INBOX is marked \\Seen over IMAP (Kite) or in the file names (Dovecot).

imap: for each client count (`--clients`, default 10 and 100) and server, client processes
(`--procs`, asyncio, one IMAP connection per client, user = client number modulo --users)
run phases of `--seconds` each, counting completed commands and their latency:
  select         SELECT INBOX, again and again, on logged-in connections;
  fetch_headers  FETCH s:s+19 (UID BODY.PEEK[HEADER]), s random;
  fetch_full     FETCH a,b,c,d,e (UID BODY.PEEK[]), five random messages;
  store          STORE a,b,c +FLAGS or -FLAGS (\\Flagged), three random messages;
  search         SEARCH FROM "senderN@" or SEARCH UNSEEN, at random;
  login          a new connection each time: TCP, TLS, greeting, LOGIN, LOGOUT;
  session        the whole loop on a new connection: LOGIN, SELECT, fetch headers, fetch
                 full, store, search, LOGOUT (operations/s counts those 7; sessions/s).
A command the server refuses (BAD/NO) in a probe before the runs is left out of every run
on both servers and reported. With `--replicas 1,2` Kite also runs every load with two
kite-imap replicas (`kite-local start-daemon imap@2`), clients split between them.
Then memory per idle IDLE connection: `--idle-connections` (default 10000) connections to
one kite-imap process (TLS, LOGIN, SELECT INBOX, IDLE), kite-imap's VmRSS before and with
all open; Dovecot the same with `--dovecot-idle-connections` (default 1000: it spends a
process per connection; the sum of PSS and of RSS over all its processes). A server that
answers IDLE with BAD gets "IDLE: not supported by this build" and the memory of the same
connections logged in and selected. Last, IDLE notification latency across replicas: a
client IDLEs on kite-imap@2, a message is delivered through kite-mta (and, where APPEND works,
APPENDed through replica 1), `--latency-trials` times; p50/p99 until "* n EXISTS" arrives;
Dovecot's figure for an APPEND on one connection seen by IDLE on another.

pop3: `--clients` POP3 clients (one account each: `--users` accounts with `--messages`
messages each), each a loop of connect (TLS), USER/PASS, STAT, LIST, UIDL, RETR of three
random messages, QUIT, for `--seconds` per server and client count; sessions/s, commands/s
and per-command latency.

Prints tables (Kite, Dovecot, Kite/Dovecot) and writes the figures as JSON. A benchmark, not a
test: nothing passes or fails on time. Loopback only; never a DNS lookup. Needs root (Dovecot).
"""
import argparse
import asyncio
import collections
import json
import multiprocessing
import os
import platform
import random
import re
import resource
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
import dovecot_instance  # noqa: E402
from kite_ops import psql_path  # noqa: E402

DOMAIN = "bench.test"
PASSWORD = "bench-password-123"
SENDERS = 50
LITERAL = re.compile(rb"\{(\d+)\+?\}\r\n$")
EXISTS = re.compile(rb"^\* (\d+) EXISTS\r\n$", re.I)

IMAP_PHASES = ["select", "fetch_headers", "fetch_full", "store", "search", "login", "session"]
SESSION_OPS = ["login", "select", "fetch_headers", "fetch_full", "store", "search", "logout"]
POP3_OPS = ["connect", "login", "stat", "list", "uidl", "retr", "quit"]


def client_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # both servers use the suite's self-signed certificate
    return ctx


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentile(values, p):
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def ms(value):
    return None if value is None else round(value * 1000, 2)


# ---------------------------------------------------------------------------- messages
WORDS = ("meeting budget report quarterly release schedule review draft invoice travel lunch update "
         "project deadline proposal contract server backup migration status notes agenda summary "
         "question answer follow-up reminder photo holiday weekend family plan design test").split()


def make_messages(count, seed=7):
    """`count` messages (bytes, CRLF) of realistic shapes and sizes: 40 % short text (1-3 KiB),
    30 % longer text (3-8 KiB), 20 % HTML with a text alternative (8-30 KiB), 10 % with a base64
    attachment (30-200 KiB). From one of 50 senders (senderN@client.test), to the bench team."""
    import base64
    rng = random.Random(seed)
    out = []
    for i in range(count):
        sender = i % SENDERS
        subject = " ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 7)))
        kind = rng.random()
        words = lambda n: " ".join(rng.choice(WORDS) for _ in range(n))  # noqa: E731

        def text(size):
            lines, total = [], 0
            while total < size:
                line = words(rng.randint(6, 12))
                lines.append(line)
                total += len(line) + 2
            return "\r\n".join(lines) + "\r\n"
        head = (f"From: Sender {sender} <sender{sender}@client.test>\r\n"
                f"To: Bench team <team@{DOMAIN}>\r\n"
                f"Subject: {subject} #{i}\r\n"
                f"Date: Mon, {1 + i % 28:02d} Nov 2026 {i % 24:02d}:{i % 60:02d}:00 +0000\r\n"
                f"Message-ID: <bench.{i}.{seed}@client.test>\r\n"
                + (f"In-Reply-To: <bench.{i - 1}.{seed}@client.test>\r\n" if i and i % 3 == 0 else "")
                + "MIME-Version: 1.0\r\n")
        if kind < 0.4:
            body = head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text(rng.randint(1024, 3072))
        elif kind < 0.7:
            body = head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + text(rng.randint(3072, 8192))
        elif kind < 0.9:
            size = rng.randint(8192, 30720)
            plain = text(size // 3)
            html = "<html><body>" + "".join(f"<p>{line}</p>\r\n" for line in text(size * 2 // 3).split("\r\n")) + \
                "</body></html>\r\n"
            body = (head + f'Content-Type: multipart/alternative; boundary="alt{i}"\r\n\r\n'
                    f"--alt{i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{plain}"
                    f"--alt{i}\r\nContent-Type: text/html; charset=utf-8\r\n\r\n{html}--alt{i}--\r\n")
        else:
            blob = base64.encodebytes(rng.randbytes(rng.randint(22 * 1024, 150 * 1024))).decode()
            blob = blob.replace("\n", "\r\n")
            body = (head + f'Content-Type: multipart/mixed; boundary="mix{i}"\r\n\r\n'
                    f"--mix{i}\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n{text(1500)}"
                    f"--mix{i}\r\nContent-Type: application/pdf; name=\"doc{i}.pdf\"\r\n"
                    f"Content-Disposition: attachment; filename=\"doc{i}.pdf\"\r\n"
                    f"Content-Transfer-Encoding: base64\r\n\r\n{blob}--mix{i}--\r\n")
        out.append(body.encode())
    return out


# ---------------------------------------------------------------------------- IMAP client
class Imap:
    """A minimal IMAP client over asyncio streams: one command at a time, literals spliced into
    their response line, nothing parsed beyond what the benchmark needs."""

    def __init__(self, reader, writer):
        self.r, self.w = reader, writer
        self.n = 0
        self.greeting = b""
        self.idle_tag = None

    @classmethod
    async def connect(cls, port, ctx, timeout=60):
        r, w = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=ctx, limit=1 << 20), timeout)
        c = cls(r, w)
        c.greeting = await asyncio.wait_for(c.response(), timeout)
        if not c.greeting.startswith(b"* OK"):
            c.close()
            raise ConnectionError(f"greeting: {c.greeting[:200]!r}")
        return c

    async def response(self):
        line = await self.r.readuntil(b"\r\n")
        parts = [line]
        while line.endswith(b"}\r\n"):
            m = LITERAL.search(line)
            if not m:
                break
            parts.append(await self.r.readexactly(int(m.group(1))))
            line = await self.r.readuntil(b"\r\n")
            parts.append(line)
        return b"".join(parts)

    def next_tag(self):
        self.n += 1
        return b"a%d" % self.n

    async def until(self, tag):
        untagged = []
        while True:
            resp = await self.response()
            if resp.startswith(tag + b" "):
                status = resp[len(tag) + 1:].split(b" ", 1)[0].decode(errors="replace").upper()
                return status, resp, untagged
            untagged.append(resp)

    async def command(self, text, timeout=120):
        """(status "OK"/"NO"/"BAD", the tagged line, [untagged responses])."""
        tag = self.next_tag()
        self.w.write(tag + b" " + text + b"\r\n")
        return await asyncio.wait_for(self.until(tag), timeout)

    async def login(self, user, password):
        return await self.command(f'LOGIN "{user}" "{password}"'.encode())

    async def select(self, mailbox=b"INBOX"):
        status, line, untagged = await self.command(b"SELECT " + mailbox)
        exists = 0
        for u in untagged:
            m = EXISTS.match(u)
            if m:
                exists = int(m.group(1))
        return status, line, exists

    async def append(self, mailbox, body, flags=b"", timeout=120):
        tag = self.next_tag()
        self.w.write(tag + b" APPEND " + mailbox + (b" (" + flags + b")" if flags else b"") +
                     b" {%d}\r\n" % len(body))

        async def go():
            while True:
                resp = await self.response()
                if resp.startswith(b"+"):
                    break
                if resp.startswith(tag + b" "):
                    return resp[len(tag) + 1:].split(b" ", 1)[0].decode().upper(), resp, []
            self.w.write(body + b"\r\n")
            return await self.until(tag)
        return await asyncio.wait_for(go(), timeout)

    async def idle(self, timeout=60):
        """Enters IDLE: (True, b"") once the server sent its continuation, (False, tagged reply)
        when it refused; untagged responses before either are skipped."""
        tag = self.next_tag()
        self.idle_tag = tag
        self.w.write(tag + b" IDLE\r\n")

        async def go():
            while True:
                resp = await self.response()
                if resp.startswith(b"+"):
                    return True, b""
                if resp.startswith(tag + b" "):
                    self.idle_tag = None
                    return False, resp
        return await asyncio.wait_for(go(), timeout)

    async def done(self, timeout=60):
        self.w.write(b"DONE\r\n")
        tag, self.idle_tag = self.idle_tag, None
        return await asyncio.wait_for(self.until(tag), timeout)

    async def logout(self, timeout=30):
        try:
            await self.command(b"LOGOUT", timeout)
        finally:
            self.close()

    def close(self):
        try:
            self.w.close()
        except Exception:  # noqa: BLE001 - the connection is going away anyway
            pass


# ---------------------------------------------------------------------------- POP3 client
class Pop3:
    """A minimal POP3 client over asyncio streams (RFC 1939): single- and multi-line replies."""

    def __init__(self, reader, writer):
        self.r, self.w = reader, writer

    @classmethod
    async def connect(cls, port, ctx, timeout=60):
        r, w = await asyncio.wait_for(
            asyncio.open_connection("127.0.0.1", port, ssl=ctx, limit=1 << 20), timeout)
        c = cls(r, w)
        greeting = await asyncio.wait_for(r.readuntil(b"\r\n"), timeout)
        if not greeting.startswith(b"+OK"):
            c.close()
            raise ConnectionError(f"greeting: {greeting[:200]!r}")
        return c

    async def command(self, text, multi=False, timeout=120):
        """(ok, first line, [lines of a multi-line reply, dot-unstuffed])."""
        self.w.write(text + b"\r\n")

        async def go():
            first = await self.r.readuntil(b"\r\n")
            lines = []
            if first.startswith(b"+OK") and multi:
                while True:
                    line = await self.r.readuntil(b"\r\n")
                    if line == b".\r\n":
                        break
                    lines.append(line[1:] if line.startswith(b"..") else line)
            return first.startswith(b"+OK"), first, lines
        return await asyncio.wait_for(go(), timeout)

    def close(self):
        try:
            self.w.close()
        except Exception:  # noqa: BLE001
            pass


# ---------------------------------------------------------------------------- load (client side)
class Stats:
    def __init__(self):
        self.count = collections.Counter()
        self.latency = collections.defaultdict(list)
        self.errors = collections.Counter()
        self.first_error = {}

    def ok(self, op, seconds):
        self.count[op] += 1
        self.latency[op].append(seconds)

    def fail(self, op, text):
        self.errors[op] += 1
        self.first_error.setdefault(op, text[:200])

    def as_dict(self):
        return {"count": dict(self.count), "latency": {k: v for k, v in self.latency.items()},
                "errors": dict(self.errors), "first_error": self.first_error}


class Refused(Exception):
    pass


async def timed(stats, op, coro):
    t = time.perf_counter()
    status, line, _ = await coro
    if status != "OK":
        stats.fail(op, line.decode(errors="replace").strip())
        raise Refused(op)
    stats.ok(op, time.perf_counter() - t)


class ImapClient:
    """One benchmark client: a user, a server port, its own random numbers."""

    def __init__(self, user, port, ctx, seed, ops):
        self.user, self.port, self.ctx = user, port, ctx
        self.rng = random.Random(seed)
        self.ops = ops  # the commands the server under test supports (see probe())
        self.conn = None
        self.exists = 0

    async def open(self, stats=None):
        self.conn = await Imap.connect(self.port, self.ctx)
        status, line, _ = await self.conn.login(self.user, PASSWORD)
        if status != "OK":
            raise ConnectionError(f"LOGIN {self.user}: {line[:200]!r}")
        status, line, self.exists = await self.conn.select()
        if status != "OK":
            raise ConnectionError(f"SELECT INBOX: {line[:200]!r}")

    def fetch_headers_cmd(self):
        s = self.rng.randint(1, max(1, self.exists - 19))
        return b"FETCH %d:%d (UID BODY.PEEK[HEADER])" % (s, min(self.exists, s + 19))

    def fetch_full_cmd(self):
        seqs = self.rng.sample(range(1, self.exists + 1), min(5, self.exists))
        return b"FETCH " + b",".join(b"%d" % s for s in seqs) + b" (UID BODY.PEEK[])"

    def store_cmd(self):
        seqs = self.rng.sample(range(1, self.exists + 1), min(3, self.exists))
        sign = self.rng.choice((b"+", b"-"))
        return b"STORE " + b",".join(b"%d" % s for s in seqs) + b" " + sign + b"FLAGS (\\Flagged)"

    def search_cmd(self):
        if self.rng.random() < 0.5:
            return b'SEARCH FROM "sender%d@"' % self.rng.randrange(SENDERS)
        return b"SEARCH UNSEEN"

    async def op(self, stats, name):
        c = self.conn
        if name == "select":
            t = time.perf_counter()
            status, line, exists = await c.select()
            if status != "OK":
                stats.fail(name, line.decode(errors="replace").strip())
                raise Refused(name)
            self.exists = exists or self.exists
            stats.ok(name, time.perf_counter() - t)
        elif name == "fetch_headers":
            await timed(stats, name, c.command(self.fetch_headers_cmd()))
        elif name == "fetch_full":
            await timed(stats, name, c.command(self.fetch_full_cmd()))
        elif name == "store":
            await timed(stats, name, c.command(self.store_cmd()))
        elif name == "search":
            await timed(stats, name, c.command(self.search_cmd()))
        else:
            raise ValueError(name)

    async def loop_op(self, stats, name, deadline):
        while time.monotonic() < deadline:
            try:
                await self.op(stats, name)
            except Refused:
                return
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError) as e:
                stats.fail(name, f"{type(e).__name__}: {e}")
                return

    async def loop_login(self, stats, deadline):
        while time.monotonic() < deadline:
            c = None
            try:
                t0 = time.perf_counter()
                c = await Imap.connect(self.port, self.ctx)
                t1 = time.perf_counter()
                await timed(stats, "login_cmd", c.login(self.user, PASSWORD))
                await c.logout()
                stats.ok("login", time.perf_counter() - t0)
                stats.ok("connect", t1 - t0)
            except Refused:
                return
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError) as e:
                stats.fail("login", f"{type(e).__name__}: {e}")
                if c:
                    c.close()
                await asyncio.sleep(0.1)

    async def loop_session(self, stats, deadline):
        while time.monotonic() < deadline:
            c = None
            try:
                t0 = time.perf_counter()
                c = self.conn = await Imap.connect(self.port, self.ctx)
                stats.ok("connect", time.perf_counter() - t0)
                await timed(stats, "login", c.login(self.user, PASSWORD))
                for name in SESSION_OPS[1:-1]:
                    if name in self.ops:
                        await self.op(stats, name)
                t = time.perf_counter()
                await c.logout()
                stats.ok("logout", time.perf_counter() - t)
                stats.ok("session", time.perf_counter() - t0)
            except Refused:
                if c:
                    c.close()
                return
            except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError) as e:
                stats.fail("session", f"{type(e).__name__}: {e}")
                if c:
                    c.close()
                await asyncio.sleep(0.1)
        self.conn = None


def imap_worker(clients, phases, seconds, ops, barrier, results, index):
    """A client process: `clients` [(user, port, seed)], the phases run in step with the other
    processes (barrier); puts {phase: Stats.as_dict()} on `results`."""
    raise_nofile()

    async def main():
        ctx = client_context()
        objs = [ImapClient(u, p, ctx, seed, ops) for u, p, seed in clients]
        out = {}
        for phase in phases:
            barrier.wait(600)
            stats = Stats()
            start = time.monotonic()
            deadline = start + seconds
            if phase == "open":
                async def open_one(cl):
                    try:
                        await cl.open()
                    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError) as e:
                        stats.fail("open", f"{type(e).__name__}: {e}")
                        cl.conn = None
                sem = asyncio.Semaphore(32)

                async def bounded(cl):
                    async with sem:
                        await open_one(cl)
                await asyncio.gather(*(bounded(cl) for cl in objs))
            elif phase == "close":
                await asyncio.gather(*(cl.conn.logout() for cl in objs if cl.conn), return_exceptions=True)
                for cl in objs:
                    cl.conn = None
            elif phase == "login":
                await asyncio.gather(*(cl.loop_login(stats, deadline) for cl in objs))
            elif phase == "session":
                await asyncio.gather(*(cl.loop_session(stats, deadline) for cl in objs))
            else:
                await asyncio.gather(*(cl.loop_op(stats, phase, deadline) for cl in objs if cl.conn))
            d = stats.as_dict()
            d["seconds"] = time.monotonic() - start
            out[phase] = d
        return out

    try:
        results.put((index, asyncio.run(main())))
    except BaseException as e:  # noqa: BLE001 - reported to the parent
        results.put((index, {"crash": f"{type(e).__name__}: {e}"}))


def run_processes(target, per_proc_args, timeout):
    """Starts one process per argument tuple (target(*args, barrier, results, index)), returns
    their results in order."""
    procs = len(per_proc_args)
    barrier = multiprocessing.Barrier(procs)
    results = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=target, args=(*a, barrier, results, i), daemon=True)
          for i, a in enumerate(per_proc_args)]
    for p in ps:
        p.start()
    out = {}
    try:
        for _ in ps:
            i, r = results.get(timeout=timeout)
            out[i] = r
    finally:
        for p in ps:
            p.join(10)
            if p.is_alive():
                p.kill()
    for i in sorted(out):
        if "crash" in out[i]:
            raise RuntimeError(f"client process {i}: {out[i]['crash']}")
    return [out[i] for i in sorted(out)]


def merge(results, phase):
    stats = {"count": collections.Counter(), "latency": collections.defaultdict(list),
             "errors": collections.Counter(), "first_error": {}, "seconds": 0.0}
    for r in results:
        d = r[phase]
        stats["count"].update(d["count"])
        for k, v in d["latency"].items():
            stats["latency"][k].extend(v)
        stats["errors"].update(d["errors"])
        for k, v in d["first_error"].items():
            stats["first_error"].setdefault(k, v)
        stats["seconds"] = max(stats["seconds"], d["seconds"])
    return stats


def split(items, n):
    return [items[i::n] for i in range(n) if items[i::n]]


def imap_load(ports, users, clients, seconds, procs, ops, seed):
    """Runs every IMAP phase with `clients` clients; {phase: figures}."""
    specs = [(users[i % len(users)], ports[i % len(ports)], seed * 100003 + i) for i in range(clients)]
    phases = ["open"] + [p for p in IMAP_PHASES if p not in ("login", "session")] + ["close", "login", "session"]
    phases = [p for p in phases if p in ("open", "close", "login", "session") or p in ops]
    groups = split(specs, procs)
    results = run_processes(imap_worker, [(g, phases, seconds, ops) for g in groups],
                            timeout=len(phases) * (seconds + 120) + 300)
    out = {}
    opened = merge(results, "open")
    for phase in IMAP_PHASES:
        if phase not in phases:
            out[phase] = {"supported": False}
            continue
        s = merge(results, phase)
        if phase == "login":
            lat = s["latency"]["login"]
            n = s["count"]["login"]
        elif phase == "session":
            lat = s["latency"]["session"]
            n = s["count"]["session"]
        else:
            lat = s["latency"][phase]
            n = s["count"][phase]
        row = {"supported": True, "count": n, "seconds": round(seconds, 3), "ops_per_s": round(n / seconds, 1),
               "p50_ms": ms(percentile(lat, 50)), "p99_ms": ms(percentile(lat, 99)),
               "errors": sum(s["errors"].values()), "first_errors": s["first_error"]}
        if phase == "session":
            ops_done = sum(s["count"][o] for o in SESSION_OPS)
            row["sessions_per_s"] = row["ops_per_s"]
            row["ops_per_s"] = round(ops_done / seconds, 1)
            row["per_op_ms"] = {o: {"p50": ms(percentile(s["latency"][o], 50)), "p99": ms(percentile(s["latency"][o], 99))}
                                for o in SESSION_OPS if s["latency"][o]}
        if phase == "login":
            row["connect_p50_ms"] = ms(percentile(s["latency"]["connect"], 50))
        out[phase] = row
    out["open_errors"] = sum(opened["errors"].values())
    if opened["errors"]:
        out["open_first_errors"] = opened["first_error"]
    return out


async def probe(port, user, ctx):
    """Which benchmark commands the server answers with OK: {op: None or the refusal}."""
    c = await Imap.connect(port, ctx)
    refusals = {}
    try:
        status, line, _ = await c.login(user, PASSWORD)
        if status != "OK":
            raise RuntimeError(f"LOGIN {user}: {line!r}")
        cl = ImapClient(user, port, ctx, 1, set())
        cl.conn = c
        for name in ["select", "fetch_headers", "fetch_full", "store", "search"]:
            s = Stats()
            try:
                await cl.op(s, name)
                refusals[name] = None
            except Refused:
                refusals[name] = s.first_error[name]
        ssl_object = c.w.get_extra_info("ssl_object")
        refusals["tls"] = f"{ssl_object.version()} {ssl_object.cipher()[0]}" if ssl_object else None
        await c.logout()
    finally:
        c.close()
    return refusals


# ---------------------------------------------------------------------------- IDLE memory
def idle_worker(specs, hold_event, barrier, results, index):
    """Opens connections [(user, port)]: TLS, LOGIN, SELECT INBOX, IDLE; reports, waits on the
    barrier (the parent measures), waits for hold_event, closes everything."""
    raise_nofile()

    async def main():
        ctx = client_context()
        conns, failures, idle_refused = [], collections.Counter(), None
        first_failure = None
        sem = asyncio.Semaphore(48)

        async def one(user, port):
            nonlocal idle_refused, first_failure
            async with sem:
                try:
                    c = await Imap.connect(port, ctx, timeout=120)
                    status, line, _ = await c.login(user, PASSWORD)
                    if status != "OK":
                        raise ConnectionError(f"LOGIN: {line[:120]!r}")
                    status, line, _ = await c.select()
                    if status != "OK":
                        raise ConnectionError(f"SELECT: {line[:120]!r}")
                    if idle_refused is None or idle_refused is False:
                        ok, reply = await c.idle()
                        if not ok:
                            idle_refused = reply.decode(errors="replace").strip()
                        else:
                            idle_refused = False
                    conns.append(c)
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError) as e:
                    failures[type(e).__name__] += 1
                    first_failure = first_failure or f"{type(e).__name__}: {e}"
        t = time.monotonic()
        await asyncio.gather(*(one(u, p) for u, p in specs))
        opened = time.monotonic() - t
        # Tell the parent, then keep the connections open (and readable) while it measures.
        loop = asyncio.get_running_loop()
        results.put((index, {"open": len(conns), "failures": dict(failures), "first_failure": first_failure,
                             "idle_refused": idle_refused, "seconds": opened}))
        await loop.run_in_executor(None, hold_event.wait, 900)
        for c in conns:
            c.close()
        await asyncio.sleep(0.5)

    try:
        asyncio.run(main())
    except BaseException as e:  # noqa: BLE001
        results.put((index, {"crash": f"{type(e).__name__}: {e}"}))


def idle_memory(ports, users, count, procs, measure):
    """Opens `count` IDLE connections; measure() is called before and with them open."""
    before = measure()
    specs = [(users[i % len(users)], ports[i % len(ports)]) for i in range(count)]
    groups = split(specs, procs)
    hold = multiprocessing.Event()
    results = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=idle_worker, args=(g, hold, None, results, i), daemon=True)
          for i, g in enumerate(groups)]
    t = time.monotonic()
    for p in ps:
        p.start()
    reports = []
    try:
        for _ in ps:
            reports.append(results.get(timeout=900)[1])
        opened_s = time.monotonic() - t
        time.sleep(1.0)  # let the servers settle (buffers, allocator)
        after = measure()
    finally:
        hold.set()
        for p in ps:
            p.join(60)
            if p.is_alive():
                p.kill()
    crash = [r["crash"] for r in reports if "crash" in r]
    if crash:
        raise RuntimeError(f"IDLE client process: {crash[0]}")
    opened = sum(r["open"] for r in reports)
    failures = collections.Counter()
    for r in reports:
        failures.update(r["failures"])
    refused = next((r["idle_refused"] for r in reports if r["idle_refused"]), None)
    return {"requested": count, "open": opened, "failures": dict(failures),
            "first_failure": next((r["first_failure"] for r in reports if r["first_failure"]), None),
            "idle_refused": refused, "seconds_to_open": round(opened_s, 2), "before": before, "after": after}


# ---------------------------------------------------------------------------- Kite helpers
class Kite:
    def __init__(self, args):
        self.args = args
        self.env = dict(os.environ, KITE_CONFIG=os.path.join(args.data, "kite.yaml"))

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

    def sql(self, query):
        with open(os.path.join(self.args.data, "pg", "password")) as f:
            password = f.read().strip()
        r = subprocess.run([psql_path(), "-X", "-q", "-A", "-t", "-F", "\t", "-v", "ON_ERROR_STOP=1", "-h",
                            "127.0.0.1", "-p", str(self.args.pg_port), "-U", "postgres", "-d", "kite"],
                           input=query, capture_output=True, text=True, timeout=120,
                           env=dict(os.environ, PGPASSWORD=password))
        if r.returncode != 0:
            raise RuntimeError(f"psql: {r.stderr.strip()}")
        return [line.split("\t") for line in r.stdout.splitlines() if line]

    def hashes(self, users):
        """{address: the argon2id PHC string kite-auth verifies}."""
        rows = self.sql("SELECT address, password_hash FROM accounts WHERE address LIKE '%@" + DOMAIN + "'")
        found = {a: h for a, h in rows}
        return {u: found[u] for u in users}

    def status(self, pid):
        out = {}
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    key = line.split(":")[0]
                    if key in ("VmRSS", "VmHWM"):
                        out[key] = int(line.split()[1]) * 1024
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        out["Pss"] = int(line.split()[1]) * 1024
        except OSError:
            pass
        return out


def create_users(kite, users):
    try:
        kite.kitectl("domain", "add", DOMAIN)
    except RuntimeError as e:
        if "already" not in str(e):
            raise
    with ThreadPoolExecutor(2) as pool:  # the machine may have 2 cores
        list(pool.map(lambda a: kite.kitectl("user", "add", a, "--password-stdin", stdin=PASSWORD + "\n"), users))


def smtp_fill(port, messages, recipients, sessions=8):
    """Sends every message to all `recipients` through kite-mta; returns how many were accepted."""
    lock = threading.Lock()
    todo = list(range(len(messages)))
    done = [0]

    def worker():
        conn = smtplib.SMTP("127.0.0.1", port, local_hostname="client.test", timeout=300)
        try:
            conn.ehlo()
            while True:
                with lock:
                    if not todo:
                        return
                    i = todo.pop(0)
                conn.sendmail(f"sender{i % SENDERS}@client.test", recipients, messages[i])
                with lock:
                    done[0] += 1
        finally:
            try:
                conn.quit()
            except (smtplib.SMTPException, OSError):
                pass
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(3600)
    return done[0]


def wait_delivered(kite, users, per_user, limit=1800):
    """Until every user's INBOX holds per_user messages (mailbox_entries)."""
    deadline = time.monotonic() + limit
    want = len(users) * per_user
    while True:
        rows = kite.sql("SELECT count(*) FROM mailbox_entries e JOIN accounts a ON a.id = e.account_id "
                        f"WHERE a.address LIKE '%@{DOMAIN}'")
        have = int(rows[0][0])
        if have >= want:
            return have
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {have} of {want} mailbox entries after {limit} s")
        time.sleep(0.5)


async def mark_half_seen(port, users, ctx):
    """\\Seen on every even sequence number of each user's INBOX (the same share as Dovecot's)."""
    async def one(user):
        c = await Imap.connect(port, ctx)
        try:
            status, line, _ = await c.login(user, PASSWORD)
            if status != "OK":
                raise RuntimeError(f"LOGIN {user}: {line!r}")
            status, line, exists = await c.select()
            evens = list(range(2, exists + 1, 2))
            for i in range(0, len(evens), 200):
                chunk = b",".join(b"%d" % s for s in evens[i:i + 200])
                status, line, _ = await c.command(b"STORE " + chunk + b" +FLAGS.SILENT (\\Seen)")
                if status != "OK":
                    return line.decode(errors="replace").strip()
            return None
        finally:
            await c.logout()
    results = []
    for i in range(0, len(users), 10):
        results += await asyncio.gather(*(one(u) for u in users[i:i + 10]))
    return next((r for r in results if r), None)


def wait_port(port, timeout=60):
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return True
        except OSError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)


# ---------------------------------------------------------------------------- IDLE latency
async def idle_latency(idle_port, user, trials, trigger, ctx, timeout=10):
    """A client IDLEs on idle_port; trigger(i) makes a message appear (returns when the
    message is committed, or raises); the time from just before trigger(i) to "* n EXISTS".
    Returns (latencies, error)."""
    c = await Imap.connect(idle_port, ctx)
    try:
        status, line, _ = await c.login(user, PASSWORD)
        if status != "OK":
            return [], f"LOGIN: {line!r}"
        status, line, exists = await c.select()
        ok, reply = await c.idle()
        if not ok:
            return [], "IDLE: " + reply.decode(errors="replace").strip()
        queue = asyncio.Queue()

        async def reader():
            while True:
                resp = await c.response()
                m = EXISTS.match(resp)
                if m:
                    queue.put_nowait((time.perf_counter(), int(m.group(1))))
        task = asyncio.create_task(reader())
        latencies, error = [], None
        loop = asyncio.get_running_loop()
        rng = random.Random(trials)
        try:
            for i in range(trials):
                while not queue.empty():
                    queue.get_nowait()
                t0 = time.perf_counter()
                try:
                    await trigger(i, loop)
                except Exception as e:  # noqa: BLE001 - reported as the error
                    error = f"trigger: {type(e).__name__}: {e}"
                    break
                try:
                    t1, _ = await asyncio.wait_for(queue.get(), timeout)
                except asyncio.TimeoutError:
                    error = f"no EXISTS within {timeout} s (trial {i + 1})"
                    break
                latencies.append(t1 - t0)
                # A random pause, so that trials do not fall into step with a server's timers.
                await asyncio.sleep(rng.uniform(0.05, 0.5))
        finally:
            task.cancel()
        return latencies, error
    finally:
        c.close()


def latency_row(label, lat, error):
    return {"what": label, "trials": len(lat), "p50_ms": ms(percentile(lat, 50)), "p99_ms": ms(percentile(lat, 99)),
            "max_ms": ms(max(lat)) if lat else None, "error": error}


async def latency_runs(args, kite, dovecot, users, with_replica):
    ctx = client_context()
    rows = []
    user = users[-1]
    note = "kite-imap@2" if with_replica else "kite-imap (no second replica)"
    idle_port = args.imap_port + 100 if with_replica else args.imap_port
    smtp = smtplib.SMTP("127.0.0.1", args.smtp_port, local_hostname="client.test", timeout=60)
    smtp.ehlo()
    body = make_messages(1, seed=99)[0]
    try:
        async def by_smtp(i, loop):
            await loop.run_in_executor(None, smtp.sendmail, "sender1@client.test", [user], body)
        lat, err = await idle_latency(idle_port, user, args.latency_trials, by_smtp, ctx)
        rows.append(latency_row(f"Kite: delivery through kite-mta, IDLE on {note}", lat, err))
    finally:
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            pass
    appender = await Imap.connect(args.imap_port, ctx)
    try:
        await appender.login(user, PASSWORD)

        async def by_append(i, loop):
            status, line, _ = await appender.append(b"INBOX", body)
            if status != "OK":
                raise RuntimeError(line.decode(errors="replace").strip())
        lat, err = await idle_latency(idle_port, user, args.latency_trials, by_append, ctx)
        rows.append(latency_row(f"Kite: APPEND on kite-imap, IDLE on {note}", lat, err))
    finally:
        appender.close()
    if dovecot:
        appender = await Imap.connect(dovecot.imaps_port, ctx)
        try:
            await appender.login(user, PASSWORD)

            async def dc_append(i, loop):
                status, line, _ = await appender.append(b"INBOX", body)
                if status != "OK":
                    raise RuntimeError(line.decode(errors="replace").strip())
            # Dovecot waits about 0.5 s before it notifies: 20 trials show that well enough.
            lat, err = await idle_latency(dovecot.imaps_port, user, min(20, args.latency_trials), dc_append, ctx)
            rows.append(latency_row("Dovecot: APPEND on one connection, IDLE on another (one server)", lat, err))
        finally:
            appender.close()
    return rows


# ---------------------------------------------------------------------------- POP3 load
def pop3_worker(clients, seconds, barrier, results, index):
    raise_nofile()

    async def main():
        ctx = client_context()
        stats = Stats()

        async def client(user, port, seed):
            rng = random.Random(seed)
            while time.monotonic() < deadline:
                c = None
                try:
                    t0 = time.perf_counter()
                    c = await Pop3.connect(port, ctx)
                    stats.ok("connect", time.perf_counter() - t0)

                    async def cmd(op, text, multi=False):
                        t = time.perf_counter()
                        ok, first, lines = await c.command(text, multi)
                        if not ok:
                            stats.fail(op, first.decode(errors="replace").strip())
                            raise Refused(op)
                        stats.ok(op, time.perf_counter() - t)
                        return first, lines
                    t = time.perf_counter()
                    ok, first, _ = await c.command(b"USER " + user.encode())
                    if ok:
                        ok, first, _ = await c.command(b"PASS " + PASSWORD.encode())
                    if not ok:
                        stats.fail("login", first.decode(errors="replace").strip())
                        raise Refused("login")
                    stats.ok("login", time.perf_counter() - t)
                    first, _ = await cmd("stat", b"STAT")
                    n = int(first.split()[1])
                    await cmd("list", b"LIST", True)
                    await cmd("uidl", b"UIDL", True)
                    for m in rng.sample(range(1, n + 1), min(3, n)):
                        await cmd("retr", b"RETR %d" % m, True)
                    await cmd("quit", b"QUIT")
                    c.close()
                    stats.ok("session", time.perf_counter() - t0)
                except Refused:
                    if c:
                        c.close()
                    return
                except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, ConnectionError,
                        ValueError, IndexError) as e:
                    stats.fail("session", f"{type(e).__name__}: {e}")
                    if c:
                        c.close()
                    await asyncio.sleep(0.1)
        barrier.wait(600)
        start = time.monotonic()
        deadline = start + seconds
        await asyncio.gather(*(client(u, p, s) for u, p, s in clients))
        d = stats.as_dict()
        d["seconds"] = time.monotonic() - start
        return {"run": d}

    try:
        results.put((index, asyncio.run(main())))
    except BaseException as e:  # noqa: BLE001
        results.put((index, {"crash": f"{type(e).__name__}: {e}"}))


def pop3_load(port, users, clients, seconds, procs, seed):
    specs = [(users[i % len(users)], port, seed * 100003 + i) for i in range(clients)]
    results = run_processes(pop3_worker, [(g, seconds) for g in split(specs, procs)], timeout=seconds + 600)
    s = merge(results, "run")
    n = s["count"]["session"]
    commands = sum(s["count"][o] for o in POP3_OPS if o != "connect")  # USER+PASS count as one
    return {"sessions": n, "sessions_per_s": round(n / seconds, 1), "commands_per_s": round(commands / seconds, 1),
            "per_op_ms": {o: {"p50": ms(percentile(s["latency"][o], 50)), "p99": ms(percentile(s["latency"][o], 99))}
                          for o in POP3_OPS + ["session"] if s["latency"][o]},
            "errors": sum(s["errors"].values()), "first_errors": s["first_error"]}


# ---------------------------------------------------------------------------- reports
def fmt(v, unit=""):
    return "n/a" if v is None else f"{v:.1f}{unit}" if isinstance(v, float) else f"{v}{unit}"


def ratio(a, b):
    return round(a / b, 2) if a and b else None


LABELS = {"select": "select", "fetch_headers": "fetch headers (20)", "fetch_full": "fetch full (5)",
          "store": "store (3 msgs)", "search": "search", "login": "login (TLS+LOGIN+LOGOUT)",
          "session": "session (all 7 ops)"}


def print_imap_table(clients, kite_rows, dovecot_row):
    """kite_rows: [(label, figures)]; dovecot_row: figures or None."""
    names = [label for label, _ in kite_rows] + (["Dovecot"] if dovecot_row else [])
    head = f"{'IMAP, ' + str(clients) + ' clients':<26}" + "".join(f" | {n + ' ops/s':>16} {'p50 ms':>7} {'p99 ms':>7}"
                                                                  for n in names)
    if dovecot_row:
        head += " | " + " ".join(f"{label + '/Dovecot':>14}" for label, _ in kite_rows)
    print(head)
    for phase in IMAP_PHASES:
        line = f"{LABELS[phase]:<26}"
        cells = [fig[phase] for _, fig in kite_rows] + ([dovecot_row[phase]] if dovecot_row else [])
        for c in cells:
            if not c.get("supported"):
                line += f" | {'not supported':>16} {'':>7} {'':>7}"
            else:
                line += f" | {fmt(c['ops_per_s']):>16} {fmt(c['p50_ms']):>7} {fmt(c['p99_ms']):>7}"
        if dovecot_row:
            d = dovecot_row[phase]
            line += " | " + " ".join(
                f"{fmt(ratio(fig[phase].get('ops_per_s'), d.get('ops_per_s'))):>14}" for _, fig in kite_rows)
        print(line)
    sess = [fig["session"] for _, fig in kite_rows] + ([dovecot_row["session"]] if dovecot_row else [])
    print(f"{'  sessions/s':<26}" + "".join(f" | {fmt(s.get('sessions_per_s')):>16} {'':>7} {'':>7}" for s in sess))
    for label, fig in kite_rows + ([("Dovecot", dovecot_row)] if dovecot_row else []):
        errs = {p: fig[p].get("first_errors") for p in IMAP_PHASES if fig[p].get("errors")}
        if errs or fig.get("open_errors"):
            print(f"  {label}: errors: " + "; ".join(f"{p}: {e}" for p, e in errs.items()) +
                  (f"; opening connections: {fig.get('open_first_errors')}" if fig.get("open_errors") else ""))
    print(flush=True)


def mib(b):
    return None if b is None else round(b / 1048576, 1)


def describe_idle(label, r, kind):
    n = r["open"]
    if kind == "kite":
        before, after = r["before"].get("VmRSS"), r["after"].get("VmRSS")
        pss_b, pss_a = r["before"].get("Pss"), r["after"].get("Pss")
        per = (after - before) / n if n and before is not None and after is not None else None
        r["rss_before_bytes"], r["rss_after_bytes"] = before, after
        r["pss_after_bytes"] = pss_a
        r["bytes_per_connection"] = round(per) if per is not None else None
        text = (f"{label}: {n} of {r['requested']} connections open in {r['seconds_to_open']} s; "
                f"VmRSS {mib(before)} -> {mib(after)} MiB (PSS {mib(pss_b)} -> {mib(pss_a)}), "
                f"{per / 1024:.1f} KiB per connection" if per is not None else f"{label}: {n} connections, no memory figure")
    else:
        before, after = r["before"], r["after"]
        per = (after["pss"] - before["pss"]) / n if n else None
        r["pss_before_bytes"], r["pss_after_bytes"] = before["pss"], after["pss"]
        r["rss_sum_after_bytes"] = after["rss"]
        r["processes_after"] = after["processes"]
        r["bytes_per_connection"] = round(per) if per is not None else None
        text = (f"{label}: {n} of {r['requested']} connections open in {r['seconds_to_open']} s; "
                f"{after['processes']} processes; PSS sum {mib(before['pss'])} -> {mib(after['pss'])} MiB "
                f"(RSS sum {mib(after['rss'])} MiB), {per / 1024:.1f} KiB per connection" if per is not None
                else f"{label}: no connection opened")
    if r["failures"]:
        text += f"; failures {r['failures']} (first: {r['first_failure']})"
    print(text, flush=True)


# ---------------------------------------------------------------------------- main
def run_imap(args, kite):
    users = [f"imap{i}@{DOMAIN}" for i in range(1, args.users + 1)]
    ctx = client_context()
    t_start = time.monotonic()
    print(f"creating {len(users)} accounts; generating {args.messages} messages", flush=True)
    create_users(kite, users)
    messages = make_messages(args.messages)
    avg = sum(map(len, messages)) / len(messages)
    print(f"filling Kite through kite-mta: {len(messages)} messages (average {avg / 1024:.1f} KiB) to each of "
          f"{len(users)} users", flush=True)
    t = time.monotonic()
    accepted = smtp_fill(args.smtp_port, messages, users)
    entries = wait_delivered(kite, users, accepted)
    print(f"  {accepted} accepted, {entries} mailbox entries in {time.monotonic() - t:.1f} s", flush=True)
    refusal = asyncio.run(mark_half_seen(args.imap_port, users, ctx))
    if refusal:
        print(f"  marking half of each INBOX \\Seen on Kite failed: {refusal}", flush=True)

    dovecot = None
    notes = []
    if args.dovecot:
        dovecot = dovecot_instance.DovecotInstance(
            cert=os.path.join(args.data, "tls", "cert.pem"), key=os.path.join(args.data, "tls", "key.pem"),
            users={u: "{ARGON2ID}" + h for u, h in kite.hashes(users).items()},
            imaps_port=free_port(), pop3s_port=0, protocols=("imap",),
            max_connections=max([args.dovecot_idle_connections, *args.clients]) + 100)
        dovecot.start()
    try:
        if dovecot:
            t = time.monotonic()
            for u in users:
                dovecot.fill(u, messages, seen=lambda i: i % 2 == 1)
            print(f"filled Dovecot ({dovecot_instance.version()}, Maildir) in {time.monotonic() - t:.1f} s", flush=True)

        refusals = asyncio.run(probe(args.imap_port, users[0], ctx))
        tls = {"kite": refusals.pop("tls")}
        ops = {op for op, r in refusals.items() if r is None}
        for op, r in refusals.items():
            if r is not None:
                note = f"kite-imap refuses {op} ({r}): left out of every run, on both servers"
                print(note, flush=True)
                notes.append(note)
        if dovecot:
            dref = asyncio.run(probe(dovecot.imaps_port, users[0], ctx))
            tls["dovecot"] = dref.pop("tls")
            for op, r in dref.items():
                if r is not None:
                    notes.append(f"Dovecot refuses {op}: {r}")
                    ops.discard(op)
        print("TLS: " + ", ".join(f"{k} {v}" for k, v in tls.items()), flush=True)
        print(flush=True)

        results = []
        kite_pid = kite.pid("imap")
        replica_ports = {1: [args.imap_port], 2: [args.imap_port, args.imap_port + 100]}
        for clients in args.clients:
            kite_rows = []
            for r in args.replicas:
                if r == 2:
                    kite.kite_local("start-daemon", "imap@2")
                    if not wait_port(args.imap_port + 100):
                        raise RuntimeError("kite-imap@2 does not listen")
                fig = imap_load(replica_ports[r], users, clients, args.seconds, args.procs, ops, seed=clients)
                fig["rss_bytes"] = kite.status(kite_pid).get("VmRSS")
                label = "Kite" if r == 1 else f"Kite x{r}"
                kite_rows.append((label, fig))
                results.append({"protocol": "imap", "server": "kite", "replicas": r, "clients": clients, **fig})
                if r == 2:
                    kite.kite_local("kill-daemon", "imap@2", "TERM", check=False)
            drow = None
            if dovecot:
                drow = imap_load([dovecot.imaps_port], users, clients, args.seconds, args.procs, ops, seed=clients)
                results.append({"protocol": "imap", "server": "dovecot", "clients": clients, **drow})
            print_imap_table(clients, kite_rows, drow)

        # Memory per idle IDLE connection.
        idle = []
        if args.idle_connections:
            nofile = raise_nofile()
            r = idle_memory([args.imap_port], users, args.idle_connections, args.idle_procs,
                            lambda: kite.status(kite_pid))
            if r["idle_refused"]:
                print(f"IDLE: not supported by this build ({r['idle_refused']}); the figures below are for "
                      "connections logged in with INBOX selected, not in IDLE", flush=True)
            describe_idle("Kite (one kite-imap process)", r, "kite")
            r.update({"server": "kite", "nofile_limit": nofile})
            idle.append(r)
        if dovecot and args.dovecot_idle_connections:
            r = idle_memory([dovecot.imaps_port], users, args.dovecot_idle_connections, args.idle_procs,
                            dovecot.memory)
            if r["idle_refused"]:
                print(f"Dovecot refused IDLE: {r['idle_refused']}", flush=True)
            describe_idle("Dovecot (all its processes)", r, "dovecot")
            r["server"] = "dovecot"
            idle.append(r)
        by = {r["server"]: r.get("bytes_per_connection") for r in idle}
        if by.get("kite") and by.get("dovecot"):
            print(f"memory per connection, Kite/Dovecot: {by['kite'] / by['dovecot']:.3f}", flush=True)
        print(flush=True)

        # IDLE notification latency across replicas.
        latency = []
        if args.latency_trials:
            kite.kite_local("start-daemon", "imap@2")
            with_replica = wait_port(args.imap_port + 100)
            try:
                latency = asyncio.run(latency_runs(args, kite, dovecot, users, with_replica))
            finally:
                kite.kite_local("kill-daemon", "imap@2", "TERM", check=False)
            for row in latency:
                print(f"IDLE latency, {row['what']}: " + (
                    f"p50 {row['p50_ms']} ms, p99 {row['p99_ms']} ms, max {row['max_ms']} ms over {row['trials']} trials"
                    if row["trials"] else "no figure") + (f" ({row['error']})" if row["error"] else ""), flush=True)
    finally:
        if dovecot:
            dovecot.stop()
    print(f"imap benchmark took {time.monotonic() - t_start:.0f} s", flush=True)
    return {"results": results, "idle_memory": idle, "idle_latency": latency, "notes": notes, "tls": tls,
            "messages": {"count": len(messages), "average_bytes": round(avg), "users": len(users)}}


def run_pop3(args, kite):
    users = [f"pop{i}@{DOMAIN}" for i in range(1, args.users + 1)]
    t_start = time.monotonic()
    print(f"creating {len(users)} accounts; generating {args.messages} messages", flush=True)
    create_users(kite, users)
    messages = make_messages(args.messages, seed=11)
    avg = sum(map(len, messages)) / len(messages)
    print(f"filling Kite through kite-mta: {len(messages)} messages (average {avg / 1024:.1f} KiB) to each of "
          f"{len(users)} users", flush=True)
    t = time.monotonic()
    accepted = smtp_fill(args.smtp_port, messages, users)
    entries = wait_delivered(kite, users, accepted)
    print(f"  {accepted} accepted, {entries} mailbox entries in {time.monotonic() - t:.1f} s", flush=True)
    dovecot = None
    notes = []
    if args.dovecot:
        dovecot = dovecot_instance.DovecotInstance(
            cert=os.path.join(args.data, "tls", "cert.pem"), key=os.path.join(args.data, "tls", "key.pem"),
            users={u: "{ARGON2ID}" + h for u, h in kite.hashes(users).items()},
            imaps_port=free_port(), pop3s_port=free_port(), max_connections=max(args.clients) + 100)
        dovecot.start()
    results = []
    try:
        if dovecot:
            for u in users:
                dovecot.fill(u, messages)
        kite_ok = wait_port(args.pop3_port, timeout=5)
        if not kite_ok:
            note = f"kite-pop3 does not listen on 127.0.0.1:{args.pop3_port}: Kite not measured"
            print(note, flush=True)
            notes.append(note)
        print(f"{'POP3':<12} {'server':<8} | {'sessions/s':>10} {'commands/s':>10} | {'login p50':>9} "
              f"{'RETR p50':>9} {'RETR p99':>9} {'session p50':>11} {'p99':>9} | errors", flush=True)
        for clients in args.clients:
            rows = []
            if kite_ok:
                rows.append(("kite", pop3_load(args.pop3_port, users, clients, args.seconds, args.procs, clients)))
            if dovecot:
                rows.append(("dovecot", pop3_load(dovecot.pop3s_port, users, clients, args.seconds, args.procs,
                                                  clients)))
            for server, fig in rows:
                results.append({"protocol": "pop3", "server": server, "clients": clients, **fig})
                po = fig["per_op_ms"]
                g = lambda o, k: fmt(po.get(o, {}).get(k))  # noqa: E731
                print(f"{str(clients) + ' clients':<12} {server:<8} | {fmt(fig['sessions_per_s']):>10} "
                      f"{fmt(fig['commands_per_s']):>10} | {g('login', 'p50'):>9} {g('retr', 'p50'):>9} "
                      f"{g('retr', 'p99'):>9} {g('session', 'p50'):>11} {g('session', 'p99'):>9} | "
                      f"{fig['errors']}{' ' + json.dumps(fig['first_errors']) if fig['errors'] else ''}", flush=True)
            if len(rows) == 2:
                print(f"{'':<12} {'ratio':<8} | {fmt(ratio(rows[0][1]['sessions_per_s'], rows[1][1]['sessions_per_s'])):>10}"
                      f" {fmt(ratio(rows[0][1]['commands_per_s'], rows[1][1]['commands_per_s'])):>10} |", flush=True)
    finally:
        if dovecot:
            dovecot.stop()
    print(f"pop3 benchmark took {time.monotonic() - t_start:.0f} s", flush=True)
    return {"results": results, "notes": notes,
            "messages": {"count": len(messages), "average_bytes": round(avg), "users": len(users)}}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("protocol", choices=["imap", "pop3"])
    p.add_argument("--imap-port", type=int, help="kite-imap's implicit-TLS port")
    p.add_argument("--pop3-port", type=int, help="kite-pop3's implicit-TLS port")
    p.add_argument("--smtp-port", type=int, required=True, help="kite-mta's SMTP port")
    p.add_argument("--pg-port", type=int, required=True, help="the suite's PostgreSQL port")
    p.add_argument("--data", required=True, help="the suite's data folder (kite-local --data)")
    p.add_argument("--bin", required=True, help="folder with kitectl and the daemons")
    p.add_argument("--launcher", required=True, help="scripts/kite-local")
    p.add_argument("--users", type=int, help="accounts (imap default 20, pop3 default 100)")
    p.add_argument("--messages", type=int, help="messages per INBOX (imap default 1000, pop3 default 50)")
    p.add_argument("--clients", default="10,100", help="concurrent clients, comma separated")
    p.add_argument("--seconds", type=float, default=3.0, help="length of each measured phase")
    p.add_argument("--procs", type=int, default=2, help="client processes for the load")
    p.add_argument("--replicas", default="1", help="kite-imap replicas for the load: 1, 2 or 1,2")
    p.add_argument("--idle-connections", type=int, default=10000, help="IDLE connections to one kite-imap")
    p.add_argument("--dovecot-idle-connections", type=int, default=1000)
    p.add_argument("--idle-procs", type=int, default=4, help="client processes holding the IDLE connections")
    p.add_argument("--latency-trials", type=int, default=50)
    p.add_argument("--no-dovecot", dest="dovecot", action="store_false")
    p.add_argument("--idle-only", action="store_true",
                   help="only the memory per idle IDLE connection: no load phases, no latency trials")
    p.add_argument("--build", default="", help="how the binaries were built (for the report)")
    p.add_argument("--json", default="", help="write the results here")
    args = p.parse_args()
    args.idle_only = args.idle_only and args.protocol == "imap"
    args.clients = [] if args.idle_only else [int(c) for c in args.clients.split(",")]
    if args.idle_only:
        args.latency_trials = 0
    args.replicas = [int(r) for r in args.replicas.split(",")]
    if any(r not in (1, 2) for r in args.replicas):
        sys.exit("imap_bench: --replicas takes 1 and/or 2")
    if args.users is None:
        args.users = 20 if args.protocol == "imap" else 100
    if args.messages is None:
        args.messages = 1000 if args.protocol == "imap" else 50
    if args.dovecot and not dovecot_instance.available():
        print("Dovecot not measured: dovecot-imapd/dovecot-pop3d not installed, or not root", flush=True)
        args.dovecot = False
    kite = Kite(args)
    if args.protocol == "imap":
        if not args.imap_port:
            sys.exit("imap_bench: --imap-port is needed")
        out = run_imap(args, kite)
    else:
        if not args.pop3_port:
            sys.exit("imap_bench: --pop3-port is needed")
        out = run_pop3(args, kite)
    doc = {
        "benchmark": args.protocol,
        "host": {"cpus": os.cpu_count(), "kernel": platform.release()},
        "build": args.build,
        "method": "same accounts, password hashes, messages and client load over implicit TLS on loopback; "
                  f"phases of {args.seconds} s, {args.procs} asyncio client processes",
        "dovecot": f"Dovecot {dovecot_instance.version()}, private instance, Maildir" if args.dovecot else None,
        "clients": args.clients,
        **out,
    }
    if args.json:
        os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
        with open(args.json, "w") as f:
            json.dump(doc, f, indent=2)
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()

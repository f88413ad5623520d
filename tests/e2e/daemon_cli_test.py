#!/usr/bin/python3
# ctest-quick: part of `scripts/test --quick` (a fresh machine's first look, scripts/check-fresh)
"""Every daemon's operator surface, on the real binaries: --help, --version,
--check-config naming the bad key (file and environment), /metrics, and a graceful exit 0
on SIGTERM. Needs no PostgreSQL or Redis: it uses kite-freebusy, a daemon that touches
neither yet, for the run-time checks."""
import os
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.request

BIN = os.environ["KITE_BIN_DIR"]
DAEMONS = ["kite-auth", "kite-mta", "kite-submission", "kite-delivery", "kite-imap",
           "kite-pop3", "kite-caldav", "kite-freebusy"]


def run(args, env=None, **kw):
    e = {k: v for k, v in os.environ.items() if not k.startswith("KITE_")}
    e.update(env or {})
    return subprocess.run(args, env=e, capture_output=True, text=True, timeout=60, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class DaemonCli(unittest.TestCase):
    def test_help_and_version(self):
        for d in DAEMONS:
            r = run([os.path.join(BIN, d), "--help"])
            self.assertEqual(r.returncode, 0, d)
            self.assertIn("Usage: " + d, r.stdout)
            self.assertIn("--check-config", r.stdout)
            r = run([os.path.join(BIN, d), "--version"])
            self.assertEqual(r.returncode, 0, d)
        r = run([os.path.join(BIN, "kitectl"), "--help"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("migrate", r.stdout)

    def test_check_config_names_the_bad_key(self):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml") as f:
            f.write("global:\n  log_level: info\nfreebusy:\n  grpc_lisen: 127.0.0.1:1\n")
            f.flush()
            r = run([os.path.join(BIN, "kite-freebusy"), "--check-config", "--config", f.name])
        self.assertEqual(r.returncode, 2)
        self.assertIn("unknown key 'freebusy.grpc_lisen'", r.stderr)
        self.assertIn("did you mean 'freebusy.grpc_listen'", r.stderr)
        r = run([os.path.join(BIN, "kite-freebusy"), "--check-config"],
                env={"KITE_FREEBUSY_METRICS_LISTEN": "127.0.0.1:notaport"})
        self.assertEqual(r.returncode, 2)
        self.assertIn("freebusy.metrics_listen", r.stderr)
        self.assertIn("KITE_FREEBUSY_METRICS_LISTEN", r.stderr)
        r = run([os.path.join(BIN, "kite-freebusy"), "--check-config"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("configuration OK", r.stdout)
        # Daemons with client ports refuse to run without TLS, and say which keys to set.
        r = run([os.path.join(BIN, "kite-mta"), "--check-config"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("global.tls_cert", r.stderr)

    def test_metrics_and_graceful_sigterm(self):
        metrics, grpc = free_port(), free_port()
        p = subprocess.Popen(
            [os.path.join(BIN, "kite-freebusy")],
            env={"KITE_FREEBUSY_METRICS_LISTEN": f"127.0.0.1:{metrics}",
                 "KITE_FREEBUSY_GRPC_LISTEN": f"127.0.0.1:{grpc}",
                 "PATH": os.environ.get("PATH", "")},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            body = None
            for _ in range(100):
                try:
                    body = urllib.request.urlopen(f"http://127.0.0.1:{metrics}/metrics", timeout=2).read().decode()
                    break
                except OSError:
                    time.sleep(0.1)
            self.assertIsNotNone(body, "metrics never came up")
            self.assertIn('kite_build_info{daemon="kite-freebusy"', body)
            p.send_signal(signal.SIGTERM)
            out, err = p.communicate(timeout=30)
            self.assertEqual(p.returncode, 0, err)
            self.assertIn("daemon.stopping", err)
            self.assertIn("daemon.stopped", err)
        finally:
            if p.poll() is None:
                p.kill()


if __name__ == "__main__":
    unittest.main(verbosity=2)

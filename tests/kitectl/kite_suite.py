"""The whole suite started by scripts/kite-local for the kitectl tests (not a test itself).

SuiteTestCase.setUpClass starts PostgreSQL, Redis and every daemon in a temporary folder on a
random free port offset (KITE_BIN_DIR: the binaries; KITE_SOURCE_DIR: the repository);
tearDownClass stops them by the pids the launcher recorded, and on failure prints the last
lines of every log and keeps the folder. kitectl() runs the operator's tool against it.
Never uses DNS: every address is 127.0.0.1 and every domain ends in .test.
"""
import functools
import json
import os
import random
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import unittest

BASE_PORTS = {
    "pg": 15432, "redis": 16379,
    "smtp": 2525, "sub_starttls": 2587, "sub_tls": 2465,
    "imap_starttls": 2143, "imap_tls": 2993, "pop3": 2110, "pop3_tls": 2995,
    "http": 8080, "https": 8443,
}
DAEMONS = ["auth", "mta", "submission", "delivery", "imap", "pop3", "caldav", "freebusy"]
for _i, _d in enumerate(DAEMONS):
    BASE_PORTS[f"{_d}_grpc"] = 7000 + _i
    BASE_PORTS[f"{_d}_metrics"] = 9100 + _i


def port_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def pick_offset():
    # Ports stay in 2110+O .. 16379+O; keep them below the kernel's ephemeral range (32768).
    rng = random.Random()
    for _ in range(50):
        offset = rng.randrange(100, 16000, 7)
        if all(port_free(p + offset) for p in BASE_PORTS.values()):
            return offset
    raise RuntimeError("no port offset with all ports free found")


def insecure_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the launcher's certificate is self-signed
    return ctx


def record_failure(method):
    """Marks the class failed when the test fails, so tearDownClass dumps the logs."""
    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except unittest.SkipTest:
            raise
        except BaseException:
            type(self).failed = True
            raise
    return wrapper


class Result:
    def __init__(self, args, returncode, stdout, stderr):
        self.args, self.returncode, self.stdout, self.stderr = args, returncode, stdout, stderr

    def json(self):
        return json.loads(self.stdout)

    def __repr__(self):
        return f"kitectl {' '.join(self.args)} -> {self.returncode}\nstdout: {self.stdout}\nstderr: {self.stderr}"


class SuiteTestCase(unittest.TestCase):
    failed = False
    data = None
    offset = None
    extra_env = {}  # KITE_* settings a test class wants for the launcher and kitectl

    @classmethod
    def port(cls, name):
        return BASE_PORTS[name] + cls.offset

    @classmethod
    def kite_local(cls, *args, check=True, timeout=300):
        cmd = [cls.launcher, *args, "--data", cls.data]
        r = subprocess.run(cmd, env=cls.env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=timeout)
        out = r.stdout.decode(errors="replace")
        if check and r.returncode != 0:
            raise AssertionError(f"{' '.join(cmd)} exited {r.returncode}:\n{out}")
        return r.returncode, out

    @classmethod
    def kitectl(cls, *args, stdin=None, timeout=120):
        env = dict(cls.env)
        env["KITE_CONFIG"] = os.path.join(cls.data, "kite.yaml")
        r = subprocess.run([cls.kitectl_path, *args], env=env, input=stdin, capture_output=True, text=True,
                           timeout=timeout)
        return Result(list(args), r.returncode, r.stdout, r.stderr)

    def ok(self, *args, **kwargs):
        """kitectl ARGS..., which must exit 0."""
        r = self.kitectl(*args, **kwargs)
        self.assertEqual(r.returncode, 0, repr(r))
        return r

    def refused(self, *args, code=1, contains=None, **kwargs):
        """kitectl ARGS..., which must exit `code` with one line "kitectl: ..." on stderr."""
        r = self.kitectl(*args, **kwargs)
        self.assertEqual(r.returncode, code, repr(r))
        lines = r.stderr.strip().splitlines()
        self.assertEqual(len(lines), 1, repr(r))
        self.assertTrue(lines[0].startswith("kitectl: "), repr(r))
        if contains:
            self.assertIn(contains, lines[0], repr(r))
        return r

    @classmethod
    def setUpClass(cls):
        bin_dir = os.environ.get("KITE_BIN_DIR")
        if not bin_dir:
            raise RuntimeError("KITE_BIN_DIR is not set (run through ctest, or set it to <build>/bin)")
        cls.bin_dir = os.path.abspath(bin_dir)
        for exe in ["kitectl"] + [f"kite-{d}" for d in DAEMONS]:
            path = os.path.join(cls.bin_dir, exe)
            if not os.access(path, os.X_OK):
                raise RuntimeError(f"{path} is missing: this test starts the whole suite")
        source = os.environ.get("KITE_SOURCE_DIR") or os.path.join(os.path.dirname(__file__), "..", "..")
        cls.launcher = os.path.join(os.path.abspath(source), "scripts", "kite-local")
        cls.kitectl_path = os.path.join(cls.bin_dir, "kitectl")
        cls.data = tempfile.mkdtemp(prefix=f"kite-{cls.__name__.lower()}-")
        os.chmod(cls.data, 0o755)  # PostgreSQL runs as user postgres and must enter it
        cls.offset = pick_offset()
        cls.env = dict(os.environ)
        cls.env.update(cls.extra_env)
        print(f"\n[{cls.__name__}] data {cls.data}, port offset {cls.offset}", file=sys.stderr)
        try:
            _, out = cls.kite_local("up", "--bin", cls.bin_dir, "--port-offset", str(cls.offset), "--no-install")
            print(out, file=sys.stderr)
        except BaseException:
            cls.failed = True
            cls.tearDownClass()
            raise

    @classmethod
    def tearDownClass(cls):
        if cls.data is None:
            return
        try:
            rc, out = cls.kite_local("down", check=False, timeout=120)
            if rc != 0:
                cls.failed = True
                print(f"[{cls.__name__}] kite-local down exited {rc}:\n{out}", file=sys.stderr)
        finally:
            if cls.failed:
                log_dir = os.path.join(cls.data, "log")
                logs = sorted(os.listdir(log_dir)) if os.path.isdir(log_dir) else []
                for name in logs:
                    with open(os.path.join(log_dir, name), "rb") as f:
                        tail = f.read().decode(errors="replace").splitlines()[-40:]
                    print(f"---- {name} (last {len(tail)} lines) ----", file=sys.stderr)
                    print("\n".join(tail), file=sys.stderr)
                print(f"[{cls.__name__}] failed: data kept in {cls.data}", file=sys.stderr)
            else:
                shutil.rmtree(cls.data, ignore_errors=True)
            cls.data = None

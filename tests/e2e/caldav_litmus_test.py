#!/usr/bin/python3
# ctest-quick: part of `scripts/test --quick` (a fresh machine's first look, scripts/check-fresh)
"""End-to-end: WebDAV conformance of kite-caldav with litmus (Debian's litmus package).

The suites basic, copymove and props run against a collection under the demo-style user's
calendar home (/dav/calendars/<address>/: litmus creates its own plain collection
"litmus/" there with MKCOL, PUTs plain resources, copies, moves and sets dead properties).
The test asserts that every suite reports zero failures. Plain HTTP on loopback (the
launcher sets caldav.allow_plaintext_loopback). Never uses DNS.
"""
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures"))
from kite_suite import SuiteTestCase, record_failure  # noqa: E402

USER = "litmus@example.test"
PASSWORD = "litmus-password-123"


class Litmus(SuiteTestCase):
    @record_failure
    def test_litmus_basic_copymove_props(self):
        self.ok("user", "add", USER, "--password-stdin", stdin=PASSWORD + "\n")
        url = f"http://127.0.0.1:{self.port('http')}/dav/calendars/{USER}/"
        env = dict(os.environ)
        env["TESTS"] = "basic copymove props"
        with tempfile.TemporaryDirectory() as work:
            r = subprocess.run(["litmus", url, USER, PASSWORD], env=env, cwd=work, capture_output=True, text=True,
                               timeout=300)
        out = r.stdout + r.stderr
        print(out, file=sys.stderr)
        summaries = re.findall(r"<- summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed", out)
        self.assertEqual(sorted(s[0] for s in summaries), ["basic", "copymove", "props"], out)
        for name, run, passed, failed in summaries:
            self.assertEqual(failed, "0", f"litmus {name}: {failed} failed\n{out}")
            self.assertEqual(run, passed, out)
        self.assertEqual(r.returncode, 0, out)


if __name__ == "__main__":
    unittest.main(verbosity=2)

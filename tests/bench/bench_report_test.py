#!/usr/bin/python3
"""bench.report (a ctest test, fast, no servers): bench_report.py turns the per-benchmark JSON
files of one `scripts/bench all --quick` run (tests/bench/testdata/quick, real output) into
the summary table, results.json and an SVG chart. Checks the rows and ratios, that every
section is there, that a run without a peer is said so, and that the SVG is well-formed XML
with one bar per row that has a ratio. Never about time: the figures are fixed input."""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "testdata", "quick")
REPORT = os.path.join(HERE, "bench_report.py")
SVG = "{http://www.w3.org/2000/svg}"


class BenchReport(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="kite-bench-report-")

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def report(self, src):
        out, svg = os.path.join(self.dir, "results.json"), os.path.join(self.dir, "results.svg")
        r = subprocess.run([sys.executable, REPORT, "report", "--dir", src, "--out", out, "--svg", svg,
                            "--machine", os.path.join(DATA, "machine.json"), "--runs", os.path.join(src, "runs.tsv"),
                            "--total-seconds", "409"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return r.stdout, json.load(open(out)), ET.parse(svg).getroot()

    def test_summary_json_and_chart(self):
        text, results, svg = self.report(DATA)
        summary = results["summary"]
        sections = {r["section"] for r in summary}
        self.assertEqual(sections, {"SMTP acceptance", "End to end", "Delivery", "IMAP", "POP3", "CalDAV",
                                    "Free/busy", "Scaling"})
        by = {r["benchmark"]: r for r in summary}
        smtp = by["SMTP accept 4 KiB, 1 session"]
        self.assertEqual(smtp["peer_name"], "Postfix")
        self.assertAlmostEqual(smtp["ratio"], smtp["kite"] / smtp["peer"], places=2)
        lat = by["submission→mailbox latency p99, 1 session"]
        self.assertFalse(lat["higher_is_better"])
        self.assertAlmostEqual(lat["advantage"], lat["peer"] / lat["kite"], places=2)
        self.assertIn("SMTP accept 4 KiB, 100 sessions, 2 kite-mta", by)
        self.assertIn("IMAP SELECT, 10 clients, 2 kite-imap", by)
        fb = [r for r in summary if r["section"] == "Free/busy"]
        self.assertTrue(fb and all(r["compared_with"] == "target" for r in fb))
        self.assertEqual(results["machine"]["cores"], 2)
        self.assertEqual(set(results["benchmarks"]), {"smtp", "e2e", "delivery", "imap", "pop3", "caldav", "freebusy"})
        for r in summary:
            self.assertIn(r["benchmark"], text)
        bars = [e for e in svg.iter(f"{SVG}rect") if e.find(f"{SVG}title") is not None]
        self.assertEqual(len(bars), len([r for r in summary if r["advantage"]]))

    def test_peer_missing_is_said(self):
        src = os.path.join(self.dir, "in")
        shutil.copytree(DATA, src)
        doc = json.load(open(os.path.join(src, "caldav.json")))
        doc["results"].pop("radicale")
        json.dump(doc, open(os.path.join(src, "caldav.json"), "w"))
        with open(os.path.join(src, "runs.tsv"), "a") as f:
            f.write("caldav\tok\t30\tpeer not available: radicale is not installed\n")
        text, results, _ = self.report(src)
        rows = [r for r in results["summary"] if r["section"] == "CalDAV"]
        self.assertTrue(rows and all(r["peer"] is None and r["ratio"] is None for r in rows))
        self.assertIn("peer not measured", text)
        self.assertIn("peer not available: radicale is not installed", text)


if __name__ == "__main__":
    unittest.main()

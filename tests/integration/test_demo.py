"""`xdrflow demo`, the newcomer's first command: embedded broker, the bundled outbreak, the
daemon; the incident it prints is the one `xdrflow replay` finds in the same recording, and the
hosts of that incident are isolated through the demo's own webhook receiver, which verifies each
signature."""
import json
import re
import unittest

from xftest import SCENARIO, run


class Demo(unittest.TestCase):
    def test_demo_once_prints_the_same_incident_as_replay(self):
        demo = run("demo", "--once", "--api", "127.0.0.1:0", "--format", "json", timeout=300)
        replay = run("replay", "-q", "--format", "json", SCENARIO)
        self.assertEqual(demo.stdout, replay.stdout)
        self.assertIn("2056 records correlated into 1 incident(s)", demo.stderr)
        # --format json keeps stdout to incidents: the isolations are told on stderr
        hosts = json.loads(replay.stdout.splitlines()[0])["hosts"]
        self.assertEqual(hosts, ["fs-01.corp.example", "ws-011.corp.example",
                                 "ws-012.corp.example"])
        isolated = re.findall(r"^isolated (\S+) via webhook demo-hook \(action (act-[0-9a-f]{16}),"
                              r" signature verified\)$", demo.stderr, re.M)
        self.assertEqual(sorted(h for h, _ in isolated), hosts)
        self.assertEqual(len({a for _, a in isolated}), 3, "one action per host")

    def test_demo_text_prints_the_isolations_after_the_incident(self):
        demo = run("demo", "--once", "--api", "127.0.0.1:0", timeout=300)
        out = demo.stdout
        self.assertIn("incident inc-", out)
        lines = [line for line in out.splitlines() if line.startswith("isolated ")]
        self.assertEqual(sorted(line.split()[1] for line in lines),
                         ["fs-01.corp.example", "ws-011.corp.example", "ws-012.corp.example"])
        self.assertGreater(out.index(lines[0]), out.index("incident inc-"))
        self.assertNotIn("mx1.corp.example", " ".join(lines), "the mail server is protected")

    def test_demo_help(self):
        self.assertIn("usage: xdrflow demo", run("demo", "--help").stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""`xdrflow demo`, the newcomer's first command: embedded broker, the bundled outbreak, the
daemon; the incident it prints is the one `xdrflow replay` finds in the same recording."""
import unittest

from xftest import SCENARIO, run


class Demo(unittest.TestCase):
    def test_demo_once_prints_the_same_incident_as_replay(self):
        demo = run("demo", "--once", "--api", "127.0.0.1:0", "--format", "json", timeout=300)
        replay = run("replay", "-q", "--format", "json", SCENARIO)
        self.assertEqual(demo.stdout, replay.stdout)
        self.assertIn("2056 records correlated into 1 incident(s)", demo.stderr)

    def test_demo_help(self):
        self.assertIn("usage: xdrflow demo", run("demo", "--help").stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""The xdrflow command line as a user meets it: help, exit codes, errors with where and why,
and the incident views over a database."""
import json
import os
import unittest

from xftest import SCENARIO, run, tempdir

COMMANDS = ["run", "demo", "replay", "incidents", "rules", "decode", "produce", "devbroker"]


class Help(unittest.TestCase):
    def test_top_level_help_lists_every_command(self):
        p = run("--help")
        for c in COMMANDS:
            self.assertIn(c, p.stdout)

    def test_every_command_has_help(self):
        for c in COMMANDS:
            p = run(c, "--help")
            self.assertIn("usage: xdrflow " + c, p.stdout)

    def test_unknown_command_is_a_usage_error(self):
        p = run("frobnicate", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("unknown command 'frobnicate'", p.stderr)

    def test_replay_without_files_is_a_usage_error(self):
        p = run("replay", check=False)
        self.assertEqual(p.returncode, 2)
        self.assertIn("no input files", p.stderr)


class BadInput(unittest.TestCase):
    def test_bad_records_are_reported_and_replay_still_succeeds(self):
        with tempdir() as d:
            bad = os.path.join(d, "bad.jsonl")
            with open(SCENARIO, encoding="utf-8") as f:
                good = f.readlines()[:50]
            with open(bad, "w", encoding="utf-8") as f:
                f.writelines(good[:25])
                f.write("{not json\n")
                f.writelines(good[25:])
            p = run("replay", "--no-progress", bad)
            self.assertIn(f"{bad}:26: ", p.stderr)
            self.assertIn("1 bad", p.stderr)
            self.assertIn("50 events", p.stderr)

    def test_a_missing_file_is_reported_and_fails_the_replay(self):
        p = run("replay", "--no-progress", "/nonexistent/x.json", SCENARIO, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("/nonexistent/x.json: cannot read file", p.stderr)
        self.assertEqual(len(p.stdout.strip().splitlines()) > 0, True)  # the rest was read

    def test_a_directory_is_refused(self):
        p = run("replay", "--no-progress", os.path.dirname(SCENARIO), check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("is a directory", p.stderr)


class Incidents(unittest.TestCase):
    def test_list_and_show_read_what_replay_stored(self):
        with tempdir() as d:
            db = os.path.join(d, "db")
            out = run("replay", "--db", db, "--format", "json", "-q", SCENARIO).stdout
            replayed = [json.loads(line) for line in out.splitlines()]
            self.assertGreaterEqual(len(replayed), 1)
            listed = run("incidents", "list", "--db", db, "--format", "json").stdout
            stored = {json.loads(line)["id"]: line for line in listed.splitlines()}
            self.assertEqual(sorted(stored), sorted(i["id"] for i in replayed))
            inc = replayed[0]["id"]
            text = run("incidents", "list", "--db", db).stdout
            self.assertIn(inc, text)
            show = run("incidents", "show", inc, "--db", db, "--format", "json").stdout
            self.assertEqual(json.loads(show), json.loads(stored[inc]))
            dot = run("incidents", "show", inc, "--db", db, "--format", "dot").stdout
            self.assertTrue(dot.startswith("digraph"))
            human = run("incidents", "show", inc, "--db", db).stdout
            self.assertIn(inc, human)

    def test_show_of_an_unknown_id_says_so(self):
        with tempdir() as d:
            db = os.path.join(d, "db")
            run("replay", "--db", db, "-q", SCENARIO)
            p = run("incidents", "show", "inc-0000", "--db", db, check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn("no incident 'inc-0000'", p.stderr)


class Rules(unittest.TestCase):
    def test_the_bundled_pack_checks_clean(self):
        p = run("rules", "check")
        self.assertIn("0 problem(s)", p.stdout)

    def test_a_broken_rule_is_reported_with_file_and_line(self):
        with tempdir() as d:
            path = os.path.join(d, "broken.yml")
            with open(path, "w", encoding="utf-8") as f:
                f.write("title: broken\nid: 6f1d7e4c-1111-4111-8111-111111111111\n"
                        "logsource: {category: process_creation, product: windows}\n"
                        "detection:\n  sel:\n    Image|nosuchmodifier: x\n"
                        "  condition: sel\nlevel: high\n")
            p = run("rules", "check", d, check=False)
            self.assertEqual(p.returncode, 1)
            self.assertIn(path + ":", p.stdout)
            self.assertIn("nosuchmodifier", p.stdout)


if __name__ == "__main__":
    unittest.main(verbosity=2)

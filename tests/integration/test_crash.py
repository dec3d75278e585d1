"""Crash safety of replay --db: kill -9 in the middle of a replay, then replay the whole input
into the same database; the incidents must equal those of a clean run."""
import json
import os
import random
import signal
import subprocess
import time
import unittest

from xftest import OTRF, SCENARIO, XDRFLOW, otrf_lines, run, tempdir


def incidents(db):
    out = run("incidents", "list", "--db", db, "--format", "json").stdout
    return sorted(out.splitlines())


class KillDuringReplay(unittest.TestCase):
    def make_input(self, d):
        """The outbreak scenario plus two OTRF recordings: enough records that a replay is
        still running when it is killed."""
        lines = []
        with open(SCENARIO, encoding="utf-8") as f:
            lines += f.readlines()
        if OTRF and os.path.isdir(OTRF):
            lines += otrf_lines("atomic_windows_lateral_movement_host_empire_smbexec_dcerpc_smb_svcctl.zip")
            lines += otrf_lines("atomic_windows_lateral_movement_host_empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod.zip")
        full = os.path.join(d, "full.jsonl")
        half = os.path.join(d, "half.jsonl")
        with open(full, "w", encoding="utf-8") as f:
            f.writelines(lines)
        with open(half, "w", encoding="utf-8") as f:
            f.writelines(lines[: len(lines) // 2])
        return full, half

    def test_kill_9_mid_replay_then_full_replay_equals_a_clean_run(self):
        rng = random.Random(20261121)
        with tempdir() as d:
            full, half = self.make_input(d)
            clean = os.path.join(d, "clean")
            clean_out = run("replay", "--db", clean, "--format", "json", "-q", full).stdout
            expected = incidents(clean)
            self.assertGreater(len(expected), 0)
            for attempt in range(3):
                db = os.path.join(d, f"crashed{attempt}")
                # replay half, killed at a random point (sometimes twice)
                for _ in range(1 + attempt % 2):
                    p = subprocess.Popen([XDRFLOW, "replay", "--db", db, "-q", "--no-progress",
                                          half], stdout=subprocess.DEVNULL,
                                         stderr=subprocess.DEVNULL)
                    time.sleep(rng.uniform(0.05, 0.6))
                    p.send_signal(signal.SIGKILL)
                    p.wait()
                out = run("replay", "--db", db, "--format", "json", "-q", full).stdout
                self.assertEqual(incidents(db), expected, f"attempt {attempt}")
                self.assertEqual(out, clean_out, f"attempt {attempt}")


def host_of(line):
    rec = json.loads(line)
    return rec.get("host.name") or (rec.get("host") or {}).get("name") or ""


class ReplayInChunks(unittest.TestCase):
    """Incidents must not depend on where the engine stopped and started again: input replayed
    in several runs into one database (each run rebuilds the correlation state, checkpoints
    and computes incidents at its end) must give exactly the incidents of one pass over the
    same records. Each input is cut at random places, with a fixed seed."""

    def check(self, d, name, lines, trials, rng, always=()):
        src = os.path.join(d, f"{name}.jsonl")
        with open(src, "w", encoding="utf-8") as f:
            f.writelines(lines)
        one = run("replay", "--format", "json", src).stdout
        self.assertTrue(one.strip(), f"{name}: no incident in one pass")
        for t in range(trials):
            k = rng.randint(1, 4)
            cuts = sorted(set(rng.sample(range(1, len(lines)), k)) | set(always))
            db = os.path.join(d, f"{name}-{t}")
            out = ""
            for i, (a, b) in enumerate(zip([0] + cuts, cuts + [len(lines)])):
                part = os.path.join(d, f"{name}-{t}-{i}.jsonl")
                with open(part, "w", encoding="utf-8") as f:
                    f.writelines(lines[a:b])
                out = run("replay", "--db", db, "--format", "json", "-q", part).stdout
            self.assertEqual(out, one, f"{name}: cut at {cuts}")

    def test_replay_in_chunks_into_one_db_equals_one_pass(self):
        rng = random.Random(20261122)
        with open(SCENARIO, encoding="utf-8") as f:
            lines = [line for line in f if line.strip()]
        # as a consumer reading one partition after another would see it: every other host,
        # then ws-012, then the mail gateway (whose deliveries link both recipients last)
        groups = [[x for x in lines if not host_of(x).startswith(("ws-012", "mx1"))],
                  [x for x in lines if host_of(x).startswith("ws-012")],
                  [x for x in lines if host_of(x).startswith("mx1")]]
        by_host = groups[0] + groups[1] + groups[2]
        bounds = (len(groups[0]), len(groups[0]) + len(groups[1]))
        with tempdir() as d:
            self.check(d, "scenario", lines, 4, rng)
            self.check(d, "by-host", by_host, 6, rng, always=bounds)
            if OTRF and os.path.isdir(OTRF):
                self.check(d, "otrf-smb", otrf_lines(
                    "atomic_windows_lateral_movement_host_empire_smbexec_dcerpc_smb_svcctl.zip"),
                    3, rng)


if __name__ == "__main__":
    unittest.main(verbosity=2)

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


if __name__ == "__main__":
    unittest.main(verbosity=2)

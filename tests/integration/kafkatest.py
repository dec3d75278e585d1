"""Helpers for the Kafka integration tests: `xdrflow devbroker` as a real process with its stdin
control channel, and kcat as the independent client. Every wait is bounded."""
import os
import select
import shutil
import subprocess
import time

from xftest import XDRFLOW

KCAT = shutil.which("kcat") or shutil.which("kafkacat")
DUMP = os.environ.get("XF_KAFKA_DUMP", "xf-test-kafka-dump")
# kcat resolves "localhost"-style names to IPv6 first; the devbroker listens on IPv4 only
KCAT_OPTS = ["-X", "broker.address.family=v4", "-q"]


class DevBroker:
    """`xdrflow devbroker` in the background; stop() (or the with-block) ends it."""

    def __init__(self, *args, timeout=30):
        self.proc = subprocess.Popen([XDRFLOW, "devbroker", *args], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     bufsize=1)
        line = self._readline(timeout)
        if not line.startswith("bootstrap: "):
            self.stop()
            raise AssertionError(f"devbroker said {line!r}")
        self.bootstrap = line.split(" ", 1)[1].strip()

    def _readline(self, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r, _, _ = select.select([self.proc.stdout], [], [], 0.2)
            if r:
                return self.proc.stdout.readline()
            if self.proc.poll() is not None:
                break
        raise AssertionError("devbroker did not answer in time")

    def control(self, command, timeout=10):
        """Sends one control line and returns the one-line answer."""
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        return self._readline(timeout).strip()

    def stop(self, timeout=15):
        """SIGTERM, then the exit status (stderr is returned too)."""
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def kcat_consume(bootstrap, topic, timeout=60, fmt="%p\t%k\t%s\n"):
    """Every record of topic (all partitions, from the beginning) as kcat prints it."""
    p = subprocess.run([KCAT, *KCAT_OPTS, "-b", bootstrap, "-C", "-t", topic, "-o", "beginning",
                        "-e", "-f", fmt], capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError(f"kcat -C failed: {p.stderr}")
    return p.stdout


def kcat_produce(bootstrap, topic, data, *extra, timeout=60):
    """Produces data (lines) with kcat -P; extra args e.g. -K '\\t' or -H name=value."""
    p = subprocess.run([KCAT, *KCAT_OPTS, "-b", bootstrap, "-P", "-t", topic, *extra],
                       input=data, capture_output=True, text=True, timeout=timeout)
    if p.returncode != 0:
        raise AssertionError(f"kcat -P failed: {p.stderr}")


def dump(bootstrap, group, topic, count, timeout=60):
    """Reads count records with xdrflow's group consumer; returns (exit status, lines)."""
    p = subprocess.run([DUMP, bootstrap, group, topic, str(count), str(timeout)],
                       capture_output=True, text=True, timeout=timeout + 30)
    return p.returncode, p.stdout.splitlines()

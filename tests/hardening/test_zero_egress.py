"""Row 23, zero egress: ingest corpus/ (isolated parser child included), then serve and answer
questions over HTTP on 127.0.0.1, with every outbound connection recorded two ways:

- an audit hook (`socket.connect`, `socket.getaddrinfo`, `socket.sendto`, `urllib.Request`)
  installed by a sitecustomize.py on PYTHONPATH, so it runs in the driver *and* in the spawned
  parser process; each event goes to a log file with its pid;
- strace -f on connect/sendto/sendmsg, when strace works here (C code that bypasses Python's
  sockets, e.g. a native library's telemetry, shows up there).

The child's environment drops the offline switches the test suite sets (HF_HUB_OFFLINE,
DO_NOT_TRACK, ORT_DISABLE_TELEMETRY, ...) and CI (onnxruntime keeps quiet under it): Hearth
must keep itself offline. Pass: 0 connections beyond loopback, and onnxruntime (started by the
parser child for PDFs) started with its telemetry switched off.
Uses the hash embedder and the scripted model (the real models are exercised elsewhere).
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.hardening

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CORPUS = REPO / "corpus"

SITECUSTOMIZE = """
import os, sys
_LOG = os.environ.get("HEARTH_EGRESS_LOG")
def _hook(event, args):
    if event == "import" and args[0] == "onnxruntime":  # its telemetry's switch, as it starts
        with open(_LOG, "a", encoding="utf-8") as log:
            log.write(f"{os.getpid()}\\tonnxruntime\\t\\t{os.environ.get('ORT_DISABLE_TELEMETRY')!r}\\n")
    if event in ("socket.connect", "socket.getaddrinfo", "socket.sendto", "urllib.Request"):
        detail = args[1] if event in ("socket.connect", "socket.sendto") else args[:2]
        family = getattr(args[0], "family", None) if event != "urllib.Request" else None
        with open(_LOG, "a", encoding="utf-8") as log:
            log.write(f"{os.getpid()}\\t{event}\\t{int(family) if family is not None else ''}\\t{detail!r}\\n")
if _LOG:
    sys.addaudithook(_hook)
    with open(_LOG, "a", encoding="utf-8") as log:
        log.write(f"{os.getpid()}\\tstart\\t\\t{os.getppid()}\\n")
"""
OFFLINE_SWITCHES = (
    "HF_HUB_OFFLINE",
    "TRANSFORMERS_OFFLINE",
    "DO_NOT_TRACK",
    "SCARF_NO_ANALYTICS",
    "UNSTRUCTURED_DISABLE_NOTICE",
    "HF_DATASETS_OFFLINE",
    "NLTK_DATA",
    "ORT_DISABLE_TELEMETRY",
)
# onnxruntime (1.29 and later) uploads telemetry on Linux unless ORT_DISABLE_TELEMETRY is set,
# and stays quiet by itself on a CI runner: under these the test could never see it
CI_SWITCHES = ("CI", "GITHUB_ACTIONS", "TF_BUILD", "CODEBUILD_BUILD_ID")
UNIX, INET, INET6 = 1, 2, 10


def local(address: str) -> bool:
    host = address.strip("[]")
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def strace_works() -> bool:
    if shutil.which("strace") is None:
        return False
    probe = subprocess.run(["strace", "-f", "-o", "/dev/null", "true"], capture_output=True)
    return probe.returncode == 0


def audit_problems(log: Path) -> tuple[list[str], int, set[str]]:
    """(events beyond loopback, socket events, pids of the processes the hook watched)."""
    problems, events, pids = [], 0, set()
    if not log.exists():
        return ["no audit log: the sitecustomize hook never ran"], 0, pids
    for line in log.read_text(encoding="utf-8").splitlines():
        pid, event, family, detail = line.split("\t", 3)
        if event == "start":
            pids.add(pid)
            continue
        if event == "onnxruntime":  # started without its telemetry switched off
            if detail != "'1'":
                problems.append(line)
            continue
        events += 1
        if event == "urllib.Request":
            problems.append(line)
        elif event == "socket.getaddrinfo":
            host = re.match(r"\('?([^',]*)", detail)
            if host and not local(host.group(1)):
                problems.append(line)
        elif family in (str(INET), str(INET6)):
            host = re.match(r"\('([^']*)'", detail)
            if not host or not local(host.group(1)):
                problems.append(line)
        elif family != str(UNIX):
            problems.append(line)
    return problems, events, pids


def strace_problems(trace: Path) -> tuple[list[str], int]:
    problems, calls = [], 0
    for line in trace.read_text(errors="replace").splitlines():
        if not re.search(r"\b(connect|sendto|sendmsg)\(", line):
            continue
        if "sa_family=" not in line:
            continue  # a send on an already-connected socket (its connect is listed)
        calls += 1
        if "AF_UNIX" in line or "AF_NETLINK" in line:
            continue
        addresses = re.findall(r'inet_(?:addr|pton)\((?:AF_INET6, )?"([^"]+)"', line)
        if not addresses or not all(local(a) for a in addresses):
            problems.append(line.strip()[:300])
    return problems, calls


@pytest.mark.timeout(300)
def test_ingest_and_serving_connect_to_nothing_beyond_loopback(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "egress.log"
    # without the switches Hearth must set itself, and as on a user's machine, not a CI runner's
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_SWITCHES + CI_SWITCHES}
    env.update(
        PYTHONPATH=os.pathsep.join([str(site), str(REPO)]),
        HEARTH_EGRESS_LOG=str(log),
        HOME=str(tmp_path / "home"),  # no cached model or nltk data from the real home
    )
    command = [sys.executable, str(HERE / "egress_child.py"), str(tmp_path / "data"), str(CORPUS)]
    trace = tmp_path / "strace.txt"
    traced = strace_works()
    if traced:
        command = [
            "strace",
            "-f",
            "-qq",
            "-e",
            "trace=connect,sendto,sendmsg",
            "-o",
            str(trace),
            *command,
        ]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, timeout=280)
    output = done.stdout.decode(errors="replace")
    assert done.returncode == 0, (output, done.stderr.decode(errors="replace")[-2000:])
    audit, events, pids = audit_problems(log)
    syscalls, calls = strace_problems(trace) if traced else ([], 0)
    print(output.strip())
    print(
        f"egress: {events} socket events audited in {len(pids)} processes,"
        f" {calls} connect/send syscalls traced{'' if traced else ' (no strace)'};"
        f" beyond loopback: {len(audit)} audited, {len(syscalls)} traced"
    )
    assert len(pids) >= 2, "the hook did not run in the parser child (one process watched)"
    # its upload runs on a thread a short run may end before: the switch is checked at its start
    assert "\tonnxruntime\t" in log.read_text(encoding="utf-8"), "onnxruntime never started"
    assert audit == []
    assert syscalls == []

"""Row 22, supply chain: audit the installed distributions for known vulnerabilities.

Runs `pip-audit` over this venv (the project itself skipped: it is not on PyPI). pip-audit
reports "No known vulnerabilities found" even when it could audit nothing (every package
skipped because its advisory source is unreachable, as behind a PyPI mirror that answers only
the project-level JSON API); this script counts the skips instead of passing.

What pip-audit skipped is then audited from PyPI's project JSON (`/pypi/NAME/json`), whose
`vulnerabilities` list (OSV data) describes the *latest* release: exact for an installed
version that is the latest, silent about older ones, so those are listed as not audited.
Advisories accepted after review (`ACCEPTED`, with the reason) are printed but do not fail.

    .venv/bin/python bench/audit.py [--service pypi|osv]

Exit status: 0 nothing known-vulnerable, 1 a vulnerable package, 2 nothing could be audited.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import subprocess
import sys
import tempfile
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

# Reviewed: not reachable in Hearth. Keep the reason next to each id.
ACCEPTED = {
    # diskcache <= 5.6.3 unpickles its cache files (code execution for whoever can write the
    # cache folder); no fixed release. It comes with llama-cpp-python for `LlamaDiskCache`,
    # which Hearth never creates: no diskcache folder exists for anyone to write.
    "GHSA-w8v5-vhqr-4h9v": "diskcache pickle cache: LlamaDiskCache is never used",
    "PYSEC-2026-2447": "diskcache pickle cache: LlamaDiskCache is never used",
}


def pip_audit(service: str) -> list[dict[str, Any]] | None:
    """pip-audit's per-package results ({name, version, vulns, skip_reason?}), or None."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "audit.json"
        command = [sys.executable, "-m", "pip_audit", "--progress-spinner", "off",
                   "--skip-editable", "-s", service, "-f", "json", "-o", str(out)]  # fmt: skip
        run = subprocess.run(command, capture_output=True, text=True)
        if not out.exists():
            print(run.stderr.strip()[-2000:], file=sys.stderr)
            return None
        packages: list[dict[str, Any]] = json.loads(out.read_text()).get("dependencies", [])
        return packages


def latest_release(name: str) -> dict[str, Any] | None:
    """PyPI's project JSON for `name` (latest release and its vulnerabilities), or None."""
    try:
        with urllib.request.urlopen(f"https://pypi.org/pypi/{name}/json", timeout=30) as answer:
            data: dict[str, Any] = json.load(answer)
            return data
    except (OSError, ValueError):
        return None


def installed_version(name: str) -> str:
    """pip-audit leaves the version out of a skipped package's entry."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "?"


def same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def audit_skipped(skipped: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    """(audited packages with their vulns, names not auditable) from the project JSON."""
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(latest_release, [p["name"] for p in skipped]))
    audited, not_audited = [], []
    for package, data in zip(skipped, answers, strict=True):
        name = package["name"]
        version = package.get("version") or installed_version(name)
        if data is None:
            not_audited.append(f"{name} {version} (no answer)")
        elif not same_version(data["info"]["version"], version):
            not_audited.append(f"{name} {version} (latest {data['info']['version']})")
        else:
            vulns = [
                {"id": v["id"], "aliases": v.get("aliases", []), "fix_versions": v["fixed_in"]}
                for v in data.get("vulnerabilities") or []
            ]
            audited.append({"name": name, "version": version, "vulns": vulns})
    return audited, not_audited


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", default="pypi", choices=["pypi", "osv"])
    args = parser.parse_args()
    packages = pip_audit(args.service)
    if packages is None:
        return 2
    skipped = [p for p in packages if p.get("skip_reason")]
    audited = [p for p in packages if not p.get("skip_reason")]
    print(f"pip-audit ({args.service}): {len(packages)} distributions, {len(audited)} audited, "
          f"{len(skipped)} skipped")  # fmt: skip
    fallback, not_audited = audit_skipped(skipped)
    print(f"PyPI project JSON (latest releases): {len(fallback)} of the skipped audited, "
          f"{len(not_audited)} not auditable (older than the latest release)")  # fmt: skip
    for line in not_audited:
        print(f"  not audited: {line}")
    failing = 0
    for package in audited + fallback:
        for vuln in package["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
            reason = ACCEPTED.get(vuln["id"])
            verdict = f"accepted: {reason}" if reason else "VULNERABLE"
            failing += reason is None
            print(f"  {package['name']} {package['version']}: {vuln['id']} "
                  f"(fixed in {fixes}) {verdict}")  # fmt: skip
    total = len(audited) + len(fallback)
    print(f"{total} of {len(packages)} audited; {failing} unaccepted known vulnerabilities")
    if total == 0:
        print("FAIL: nothing could be audited (advisory source unreachable?)", file=sys.stderr)
        return 2
    return 1 if failing else 0


if __name__ == "__main__":
    sys.exit(main())

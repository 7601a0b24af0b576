"""Row 22, supply chain: audit the installed distributions for known vulnerabilities.

Runs `pip-audit` over this venv (the project itself skipped: it is not on PyPI) and prints a
summary. pip-audit reports "No known vulnerabilities found" even when it could audit nothing
(every package skipped because its advisory source is unreachable, as behind a PyPI mirror
without the JSON API); this script counts the skips and fails in that case instead of passing.
Needs network access to PyPI's JSON API (or `--service osv`: api.osv.dev).

    .venv/bin/python bench/audit.py [--service pypi|osv]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--service", default="pypi", choices=["pypi", "osv"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "audit.json"
        command = [sys.executable, "-m", "pip_audit", "--progress-spinner", "off",
                   "--skip-editable", "-s", args.service, "-f", "json", "-o", str(out)]  # fmt: skip
        run = subprocess.run(command, capture_output=True, text=True)
        if not out.exists():
            print(run.stderr.strip()[-2000:], file=sys.stderr)
            return 2
        report = json.loads(out.read_text())
    packages = report.get("dependencies", [])
    skipped = [p for p in packages if p.get("skip_reason")]
    vulnerable = [p for p in packages if p.get("vulns")]
    audited = len(packages) - len(skipped)
    print(f"pip-audit ({args.service}): {len(packages)} distributions, {audited} audited, "
          f"{len(skipped)} skipped, {len(vulnerable)} with known vulnerabilities")  # fmt: skip
    for package in vulnerable:
        for vuln in package["vulns"]:
            fixes = ", ".join(vuln.get("fix_versions") or []) or "no fix yet"
            print(f"  {package['name']} {package['version']}: {vuln['id']} (fixed in {fixes})")
    if skipped:
        print(f"  skipped, e.g. {skipped[0]['name']}: {skipped[0]['skip_reason'][:120]}")
    if audited == 0:
        print("FAIL: nothing could be audited (advisory source unreachable?)", file=sys.stderr)
        return 2
    return 1 if vulnerable else 0


if __name__ == "__main__":
    sys.exit(main())

"""Container health check without curl: exit 0 when the URL answers 200, 1 otherwise.

    python healthcheck.py [URL]    # default http://127.0.0.1:$HEARTH_PORT/readyz

Used by the Dockerfile's HEALTHCHECK (Hearth's /readyz) and by compose for the llama.cpp server
(/v1/models). Proxies from the environment are ignored: the check is always local.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    port = os.environ.get("HEARTH_PORT", "8000")
    url = sys.argv[1] if len(sys.argv) > 1 else f"http://127.0.0.1:{port}/readyz"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=5) as response:
            return 0 if response.status == 200 else 1
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

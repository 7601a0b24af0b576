"""Container health check without curl: exit 0 when the URL answers 200, 1 otherwise.

    python healthcheck.py [URL] [--busy-ok] [--timeout S]
    # default URL: http://127.0.0.1:$HEARTH_PORT/readyz; default timeout: 5 s

Used by the Dockerfile's HEALTHCHECK (Hearth's /readyz) and by compose for the llama.cpp server
(/v1/models, with --busy-ok: llama_cpp.server answers it only after the completion it is
running, so a server that took the connection but has not answered within the timeout is busy,
not down; Hearth's /readyz reads it the same way). Proxies from the environment are ignored:
the check is always local.
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.error
import urllib.request


def main(argv: list[str] | None = None) -> int:
    port = os.environ.get("HEARTH_PORT", "8000")
    parser = argparse.ArgumentParser(description="exit 0 when URL answers 200, 1 otherwise")
    parser.add_argument("url", nargs="?", default=f"http://127.0.0.1:{port}/readyz")
    parser.add_argument(
        "--busy-ok", action="store_true", help="a server that answers late is healthy"
    )
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds (default: 5)")
    args = parser.parse_args(argv)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(args.url, timeout=args.timeout) as response:
            return 0 if response.status == 200 else 1
    except TimeoutError as exc:  # connected and asked; urllib wraps a connect timeout in URLError
        if args.busy_ok:
            return 0
        print(
            f"unhealthy: {args.url}: no answer within {args.timeout:g} s ({exc})", file=sys.stderr
        )
        return 1
    except (urllib.error.URLError, OSError, ValueError) as exc:
        print(f"unhealthy: {args.url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())

"""Serve the hardening documents with the real model on 127.0.0.1, in a process of its own, so
that the overload test's fifty clients do not share the server's interpreter (and its GIL).

    python overload_child.py DATA_DIR PORT QUEUE_SIZE
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent), str(HERE.parent.parent)]

import uvicorn  # noqa: E402
from hardkit import make_services  # noqa: E402

from app.engines import LlamaCppChatModel, bundled_gguf_path  # noqa: E402
from app.main import create_app  # noqa: E402


def main() -> None:
    data_dir, port, queue = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    model = LlamaCppChatModel(bundled_gguf_path(), n_ctx=2048, queue_size=queue)
    services, settings = make_services(data_dir, model, queue_size=queue)
    uvicorn.run(
        create_app(settings, services=services),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        limit_concurrency=200,
    )


if __name__ == "__main__":
    main()

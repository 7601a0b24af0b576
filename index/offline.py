"""The environment that keeps every model library off the network: set before importing them.

Hugging Face's libraries download and report usage unless told not to; onnxruntime (1.29 and
later, on Linux too) uploads telemetry to Microsoft unless `ORT_DISABLE_TELEMETRY` is set
before it starts (it stays quiet by itself only under CI, which is why CI never saw it).
"""

from __future__ import annotations

import os

OFFLINE_ENV = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "ORT_DISABLE_TELEMETRY": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
}


def force_offline() -> None:
    """Make every model library refuse the network (called before importing them)."""
    for key, value in OFFLINE_ENV.items():
        os.environ[key] = value

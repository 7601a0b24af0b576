"""Row 9, API fuzzing: schemathesis over the app's own OpenAPI schema, in-process (ASGI), with
the fakes. Every phase it offers: examples, coverage and fuzzing for each operation (positive
and negative data), then the stateful phase (links between operations). Every default check
runs: no 5xx, status codes, content types, headers and bodies conforming to the schema,
negative data rejected, positive data accepted (or refused with a documented 400).

Bounded: HEARTH_FUZZ_EXAMPLES (default 30) examples per operation in the fuzzing phase and a
fixed seed, so a CI run is reproducible.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis  # a dev dependency: row 9 runs wherever `make test` does
from fakes import ScriptedChatModel
from hardkit import make_services
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings

from app.main import create_app

pytestmark = pytest.mark.hardening

EXAMPLES = int(os.environ.get("HEARTH_FUZZ_EXAMPLES", "30"))
SEED = 7


# schemathesis's own list for invalid data, and 413
REJECTED = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5XX"]


def _config():
    from schemathesis.config import SchemathesisConfig

    return SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            # A schema-valid request may still be refused with 400 and a clear error when it
            # asks for something Hearth will not do (tool calls on /v1, a prompt over the
            # window, max_tokens above the operator's HEARTH_MAX_ANSWER_TOKENS): row 11 wants
            # exactly that. Everything else is checked as schemathesis ships it.
            "checks": {
                "positive_data_acceptance": {
                    "expected-statuses": ["2XX", 400, 401, 403, 404, 409, 429]
                },
                # Invalid data may also be refused for its size (413, HEARTH_MAX_BODY_BYTES)
                # before it is parsed: a megabytes-long message is a rejection, not a hole.
                "negative_data_rejection": {"expected-statuses": REJECTED},
            },
            "generation": {"mode": "all", "max-examples": EXAMPLES, "database": "none"},
            "phases": {
                "examples": {"enabled": True},
                "coverage": {"enabled": True},
                "fuzzing": {"enabled": True},
                "stateful": {"enabled": True, "max-steps": 10},
            },
        }
    )


def _build_app():
    """The app over a real store in a temporary folder (removed at exit); built at import
    because schemathesis generates one test per operation from the schema at collection
    (its lazy `from_fixture` loader does not work with this pytest)."""
    folder = tempfile.mkdtemp(prefix="hearth-fuzz-")
    atexit.register(shutil.rmtree, folder, True)
    services, settings = make_services(Path(folder) / "data", ScriptedChatModel())
    app = create_app(settings, services=services)
    app.state.services = services  # what the lifespan does; the ASGI client may skip it
    return app


APP = _build_app()
schema = schemathesis.openapi.from_asgi("/openapi.json", APP, config=_config())


@schema.parametrize()
@hypothesis_settings(
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
)
def test_every_operation_holds_its_schema(case):
    case.call_and_validate()


@pytest.mark.timeout(300)
def test_stateful_links_hold():
    machine = schema.as_state_machine()
    machine.run(
        settings=hypothesis_settings(
            max_examples=max(EXAMPLES // 3, 5),
            stateful_step_count=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
    )

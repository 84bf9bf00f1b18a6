"""Where data comes from: preference environments with known parameters, the
Bradley-Terry feedback oracle, queries and their feature differences, and seeds with common
random numbers."""

from .behaviour import (
    BEHAVIOURS,
    LoggedData,
    behaviour_marginal,
    behaviour_queries,
    behaviour_reference,
    optimal_arm_mask,
    skewed_pairs,
)
from .core.checkpoints import log_checkpoints
from .core.seeding import (
    CRN_STREAMS,
    CommonRandomNumbers,
    as_generator,
    as_seed_sequence,
    repetition_seeds,
    spawn_streams,
)
from .environment import PreferenceEnv
from .feedback import (
    LINK_CODES,
    bt_label,
    bt_labels,
    context_cdf,
    draw_contexts,
    link_code_of,
    preference_probability,
)
from .generators import kappa_env, random_directions_env, shared_offset_env
from .queries import pair_differences, uniform_pairs

__all__ = [
    "BEHAVIOURS",
    "LoggedData",
    "behaviour_marginal",
    "behaviour_queries",
    "behaviour_reference",
    "optimal_arm_mask",
    "skewed_pairs",
    "CRN_STREAMS",
    "LINK_CODES",
    "CommonRandomNumbers",
    "PreferenceEnv",
    "as_generator",
    "as_seed_sequence",
    "bt_label",
    "bt_labels",
    "context_cdf",
    "draw_contexts",
    "kappa_env",
    "link_code_of",
    "log_checkpoints",
    "pair_differences",
    "preference_probability",
    "random_directions_env",
    "repetition_seeds",
    "shared_offset_env",
    "spawn_streams",
    "uniform_pairs",
]

"""One registry of algorithms for both stages, with typed entries and typed options.

An algorithm is a typed tuple (stage, selector, reward model, output rule) plus its accepted
options (DESIGN.md: registry entries are typed tuples, not names parsed back from strings):

    stage      "passive" | "active" (the training stage, `algorithms.training`) or
               "deployment" (`algorithms.deployment_registry`)
    selector   passive: "behaviour" (the queries come from the behaviour policy);
               active: "max-norm" (argmax of ||z||_{M_t^{-1}} over the pool), "uniform";
               deployment: a key of `deployment_loop.RULES` ("algorithm4", "maxinp", "colstim",
               "random-pair", "llm"), or a user `SelectionRule`
    model      "omd" | "mle" | "sgd" (built-in) or a user `algorithms.protocol.RewardModel`
    output     passive: "pessimistic" | "lcb-proxy" | "greedy"; active: "average" (greedy on
               theta_bar, as Algorithm 3) | "last" (greedy on the final estimate);
               deployment: "greedy"

Researchers register their own with `register(Algorithm(...))` from their own module, or name
them on the command line as `module:attribute` (`load`), without editing the project.

    run(algorithm, env, T, seed, **kwargs) -> RunResult     # either stage
"""

from __future__ import annotations

import importlib
import math
import numbers
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from . import protocol
from .protocol import RewardModel

STAGES: tuple[str, ...] = ("passive", "active", "deployment")
TRAINING_STAGES: tuple[str, ...] = ("passive", "active")
SELECTORS: dict[str, tuple[str, ...]] = {
    "passive": ("behaviour",),
    "active": ("max-norm", "uniform"),
    "deployment": ("algorithm4", "maxinp", "colstim", "random-pair", "llm"),
}
OUTPUTS: dict[str, tuple[str, ...]] = {
    "passive": ("pessimistic", "lcb-proxy", "greedy"),
    "active": ("average", "last"),
    "deployment": ("greedy",),
}
BUILTIN_MODEL_NAMES: tuple[str, ...] = ("omd", "mle", "sgd")


class SelectionRule(NamedTuple):
    """A user's pair-selection rule for the deployment stage.

    select(phi_x, theta, Minv, beta, u) -> (a, a2): a numba function of the context's features
    (K, d), the learner's estimate theta_t (d,), its inverse confidence matrix M_t^{-1} (d, d),
    the radius beta_t and u, this round's row of n_uniforms pre-drawn uniforms from the
    algorithm's own stream. It returns two arm indices in 0..K-1 (checked after the run).
    """

    name: str
    select: Any
    n_uniforms: int = 0


class _RuleKernels(NamedTuple):
    select: Any


protocol.KERNEL_TYPES = (*protocol.KERNEL_TYPES, _RuleKernels)


def rule_handle(rule: SelectionRule) -> _RuleKernels:
    """What the compiled loop receives for a user rule."""
    return _RuleKernels(rule.select)


# ------------------------------------------------------------------------------- options


@dataclass(frozen=True)
class Option:
    """An accepted option: name, type, default and meaning; `parse` validates a value."""

    name: str
    kind: str
    """"bool", "int", "float" (finite), "str", "choice", "object" (passed through)."""
    default: Any
    doc: str
    choices: tuple = ()
    minimum: float | None = None
    """Smallest allowed value (int and float)."""
    positive: bool = False
    """float: strictly > 0 (ignores minimum)."""
    optional: bool = False
    """None is allowed (for example "use beta_t")."""

    def parse(self, value: Any, owner: str = "") -> Any:
        """The value, checked against the option's type; ValueError naming the option."""
        where = f"{owner}: " if owner else ""
        if value is None and self.optional:
            return None
        if self.kind == "object":
            return value
        if self.kind == "bool":
            if isinstance(value, (bool, np.bool_)):
                return bool(value)
            raise ValueError(f"{where}option {self.name} must be True or False, got {value!r}")
        if self.kind == "int":
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
                raise ValueError(f"{where}option {self.name} must be an int, got {value!r}")
            if self.minimum is not None and value < self.minimum:
                raise ValueError(f"{where}option {self.name} must be >= {self.minimum:g}, got "
                                 f"{value!r}")
            return int(value)
        if self.kind == "float":
            if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or \
                    not math.isfinite(float(value)):
                raise ValueError(f"{where}option {self.name} must be a finite number, got "
                                 f"{value!r}")
            v = float(value)
            if self.positive and v <= 0.0:
                raise ValueError(f"{where}option {self.name} must be > 0, got {value!r}")
            if not self.positive and self.minimum is not None and v < self.minimum:
                raise ValueError(f"{where}option {self.name} must be >= {self.minimum:g}, got "
                                 f"{value!r}")
            return v
        if self.kind in ("str", "choice"):
            if not isinstance(value, str):
                raise ValueError(f"{where}option {self.name} must be a string, got {value!r}")
            if self.choices and value not in self.choices:
                raise ValueError(f"{where}option {self.name} must be one of "
                                 f"{', '.join(map(str, self.choices))}, got {value!r}")
            return value
        raise ValueError(f"option {self.name} has an unknown kind {self.kind!r}")


# ---------------------------------------------------------------------------- algorithm


@dataclass(frozen=True)
class Algorithm:
    """A registered algorithm: a typed (stage, selector, model, output) tuple and its options.

    Calling it runs `run` with it.
    """

    name: str
    stage: str
    selector: str | SelectionRule
    model: str | RewardModel
    output: str
    description: str = ""
    options: tuple[Option, ...] = ()
    variant: Mapping[str, Any] = field(default_factory=dict)
    """Fixed settings of a built-in (e.g. the LLM strategy, the active MLE mode)."""
    builtin: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name or ":" in self.name:
            raise ValueError(f"algorithm name must be a non-empty string without ':', got "
                             f"{self.name!r}")
        if self.stage not in STAGES:
            raise ValueError(f"{self.name}: stage must be one of {', '.join(STAGES)}, got "
                             f"{self.stage!r}")
        if isinstance(self.selector, SelectionRule):
            if self.stage != "deployment":
                raise ValueError(f"{self.name}: a SelectionRule is a deployment selector; the "
                                 f"{self.stage} stage takes one of "
                                 f"{', '.join(SELECTORS[self.stage])}")
        elif self.selector not in SELECTORS[self.stage]:
            raise ValueError(f"{self.name}: selector must be one of "
                             f"{', '.join(SELECTORS[self.stage])} for the {self.stage} stage, "
                             f"got {self.selector!r}")
        if not isinstance(self.model, RewardModel) and self.model not in BUILTIN_MODEL_NAMES:
            raise ValueError(f"{self.name}: model must be one of "
                             f"{', '.join(BUILTIN_MODEL_NAMES)} or an "
                             f"algorithms.protocol.RewardModel, got {self.model!r}")
        if self.output not in OUTPUTS[self.stage]:
            raise ValueError(f"{self.name}: output must be one of "
                             f"{', '.join(OUTPUTS[self.stage])} for the {self.stage} stage, "
                             f"got {self.output!r}")
        names = [o.name for o in self.options]
        if len(set(names)) != len(names):
            raise ValueError(f"{self.name}: duplicate option names {names}")

    @property
    def training(self) -> bool:
        return self.stage in TRAINING_STAGES

    @property
    def model_name(self) -> str:
        return self.model.name if isinstance(self.model, RewardModel) else self.model

    @property
    def selector_name(self) -> str:
        return self.selector.name if isinstance(self.selector, SelectionRule) else self.selector

    @property
    def user_kernels(self) -> bool:
        """Whether a user RewardModel or SelectionRule runs in it."""
        return isinstance(self.model, RewardModel) or isinstance(self.selector, SelectionRule)

    @property
    def projects(self) -> bool:
        """Whether the estimate stays in the B-ball (unless the option project=False is
        given): every built-in does; a user model says so in RewardModel.projects."""
        if isinstance(self.model, RewardModel):
            return self.model.projects
        return True

    @property
    def defaults(self) -> dict[str, Any]:
        return {o.name: o.default for o in self.options}

    def resolve(self, options: Mapping[str, Any]) -> dict[str, Any]:
        """The defaults updated by `options`, each parsed by its type; ValueError naming any
        option it does not accept or any bad value."""
        known = {o.name: o for o in self.options}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ValueError(f"{self.name} does not accept option(s) {', '.join(unknown)}; "
                             f"accepted: {', '.join(sorted(known)) or 'none'}")
        return {n: o.parse(options.get(n, o.default), self.name) if n in options else o.default
                for n, o in known.items()}

    def __call__(self, env, T: int, seed, **kwargs):
        return run(self, env, T, seed, **kwargs)


# ------------------------------------------------------------------------------ registry

_REGISTRY: dict[str, Algorithm] = {}


def register(algorithm: Algorithm, *, replace: bool = False) -> Algorithm:
    """Add an algorithm to the registry (ValueError if the name is taken, unless replace=True;
    built-in names are never replaced)."""
    if not isinstance(algorithm, Algorithm):
        raise ValueError(f"register takes an algorithms.registry.Algorithm, got "
                         f"{type(algorithm).__name__}")
    if not algorithm.builtin:
        _ensure_builtins()
    old = _REGISTRY.get(algorithm.name)
    if old is not None and old is not algorithm:
        if old.builtin or not replace:
            raise ValueError(f"an algorithm named {algorithm.name!r} is already registered")
    _REGISTRY[algorithm.name] = algorithm
    return algorithm


def unregister(name: str) -> None:
    """Remove a user algorithm from the registry (built-ins stay)."""
    alg = _REGISTRY.get(name)
    if alg is None:
        raise ValueError(f"no algorithm named {name!r} is registered")
    if alg.builtin:
        raise ValueError(f"{name!r} is built in and cannot be removed")
    del _REGISTRY[name]


def _ensure_builtins() -> None:
    """Import the modules that register the built-in algorithms (once)."""
    from . import deployment_registry, training  # noqa: F401


def get(name: str | Algorithm, stage: str | tuple[str, ...] | None = None) -> Algorithm:
    """The registered algorithm of that name (or `module:attribute`, loaded and registered);
    ValueError listing the known names otherwise. stage restricts the lookup."""
    _ensure_builtins()
    if isinstance(name, Algorithm):
        alg = name
    elif isinstance(name, str) and ":" in name:
        alg = load(name)
    else:
        try:
            alg = _REGISTRY[name]
        except (KeyError, TypeError):
            pool = names(stage)
            raise ValueError(f"unknown {_stage_word(stage)}algorithm {name!r}; known: "
                             f"{', '.join(pool)}") from None
    stages = (stage,) if isinstance(stage, str) else stage
    if stages is not None and alg.stage not in stages:
        raise ValueError(f"{alg.name} is a {alg.stage} algorithm; expected a "
                         f"{' or '.join(stages)} one")
    return alg


def _stage_word(stage) -> str:
    if stage is None:
        return ""
    if isinstance(stage, str):
        stage = (stage,)
    return "training " if set(stage) == set(TRAINING_STAGES) else f"{'/'.join(stage)} "


def names(stage: str | tuple[str, ...] | None = None, *, builtin: bool | None = None
          ) -> tuple[str, ...]:
    """Names of the registered algorithms in registration order, optionally of one stage (or
    several) and only built-in or only user ones."""
    _ensure_builtins()
    stages = (stage,) if isinstance(stage, str) else stage
    order = {name: i for i, name in enumerate(_REGISTRY)}
    chosen = [a for a in _REGISTRY.values()
              if (stages is None or a.stage in stages) and (builtin is None or a.builtin == builtin)]
    # built-ins first, by stage, then in registration order; then users' in registration order
    chosen.sort(key=lambda a: (not a.builtin, STAGES.index(a.stage) if a.builtin else 0,
                               order[a.name]))
    return tuple(a.name for a in chosen)


def algorithms(stage: str | tuple[str, ...] | None = None) -> tuple[Algorithm, ...]:
    """The registered algorithms (optionally of one stage), in registration order."""
    return tuple(_REGISTRY[n] for n in names(stage))


def find(stage: str, selector: str, model: str, **variant) -> Algorithm:
    """The built-in algorithm with this (stage, selector, model) and variant settings."""
    _ensure_builtins()
    for a in _REGISTRY.values():
        if a.builtin and a.stage == stage and a.selector == selector and a.model == model and \
                all(a.variant.get(k) == v for k, v in variant.items()):
            return a
    raise ValueError(f"no built-in {stage} algorithm with selector {selector!r}, model "
                     f"{model!r} and {variant}")


def load(spec: str) -> Algorithm:
    """Import `module:attribute` and register the Algorithm it names (an Algorithm, or a
    function returning one). Returns the registered algorithm."""
    if not isinstance(spec, str) or spec.count(":") != 1:
        raise ValueError(f"an algorithm from a module is named module:attribute, got {spec!r}")
    mod_name, attr = spec.split(":")
    try:
        mod = importlib.import_module(mod_name)
    except ImportError as e:
        raise ValueError(f"cannot import module {mod_name!r} for algorithm {spec!r}: {e}") from None
    obj = getattr(mod, attr, None)
    if obj is None:
        raise ValueError(f"module {mod_name!r} has no attribute {attr!r}")
    if callable(obj) and not isinstance(obj, Algorithm):
        obj = obj()
    if not isinstance(obj, Algorithm):
        raise ValueError(f"{spec} must be an algorithms.registry.Algorithm (or a function "
                         f"returning one), got {type(obj).__name__}")
    existing = _REGISTRY.get(obj.name)
    if existing is obj:
        return obj
    return register(obj, replace=existing is not None and not existing.builtin)


class StageView(Mapping):
    """A live read-only view of the registry restricted to some stages (name -> Algorithm)."""

    def __init__(self, stages: tuple[str, ...]) -> None:
        self._stages = stages

    def __getitem__(self, name: str) -> Algorithm:
        alg = _REGISTRY.get(name) if isinstance(name, str) else None
        if alg is None or alg.stage not in self._stages:
            raise KeyError(name)
        return alg

    def __iter__(self) -> Iterator[str]:
        return iter(names(self._stages))

    def __len__(self) -> int:
        return len(names(self._stages))


# ----------------------------------------------------------------------------------- run


def run(algorithm: str | Algorithm, env: Any, T: int, seed: Any, **kwargs: Any) -> Any:
    """Run any registered algorithm (or an Algorithm object) for T samples or rounds on env.

    Training algorithms go to `algorithms.training.run_training`, deployment ones to
    `algorithms.deployment_registry.run_deployment`; both return a `RunResult`.
    """
    alg = get(algorithm)
    if alg.training:
        from .training import run_training

        return run_training(alg, env, T, seed, **kwargs)
    from .deployment_registry import run_deployment

    return run_deployment(alg, env, T, seed, **kwargs)


__all__ = ["Algorithm", "OUTPUTS", "Option", "SELECTORS", "STAGES", "SelectionRule", "StageView",
           "algorithms", "find", "get", "load", "names", "register", "run", "unregister"]

"""The deployment stage on a real multi-arm table (the paper's Fig. 4 in miniature).

Contexts are instructions (uniform rho), arms are the models' answers, features phi(x, a)
from a text encoder. In each round the registered LLM-practice strategy
(`algorithms.deployment_registry`, `llm-<strategy>-<model>`) draws n candidates from the
softmax policy of the learned reward, shows a pair, gets a Bradley-Terry label from the
oracle (`judge_oracle`: "judge" or "semi-synthetic") and updates its reward model (one-pass
OMD or the MLE refit every round).

Metrics per round t, from the run's trace (the oracle's reward table r):

    cum_reward  sum_{s<=t} (r(x_s, a_s) + r(x_s, a'_s)) / 2        (reward of the shown pairs)
    regret      sum_{s<=t} [max_a r(x_s, a) - (r(x_s, a_s) + r(x_s, a'_s)) / 2]
    win_rate    (1/t) sum_{s<=t} P_win(x_s, argmax_a phi(x_s, a)' theta_s)   (ties: lowest arm)

P_win(x, a) is the probability that answer a beats the reference: the judge's p[x, a] for
the judge oracle (the AlpacaEval win rate of the policy's greedy answer), and the linear
model's sigma((phi(x, a) - phi_ref(x))' theta) for the semi-synthetic one. `final_win_rate`
is the win rate of the final greedy policy averaged uniformly over the contexts.

`principal_features` optionally reduces the features to their top-k principal directions
within contexts (a labelled option: the MLE refit every round costs O(t d^2) per round).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from algorithms.deployment_registry import run_deployment
from algorithms.registry import find
from sim.core.links import inv_dsigmoid
from sim.core.seeding import SeedLike
from sim.environment import PreferenceEnv

from .judge_oracle import (
    fit_reference_logistic,
    judge_rewards,
    reference_win_probability,
    semi_synthetic_env,
)

ORACLES: tuple[str, ...] = ("judge", "semi-synthetic")
"""Names of the two oracles (the `oracle` column of every output row)."""
STRATEGIES: tuple[str, ...] = ("random", "best-second", "best-worst", "quantile")
"""The paper's Fig. 4 strategies: Random, Best+Second, Best+Worst, and the paper's
(best + the candidate at the top-1/q quantile)."""
REWARD_MODELS: tuple[str, ...] = ("mle", "omd")


def strategy_algorithm(strategy: str, model: str) -> str:
    """The registered deployment algorithm of a strategy and reward model (looked up in the
    registry by its typed entry: selector "llm", the strategy, the model)."""
    if strategy not in STRATEGIES:
        raise ValueError(f"unknown strategy {strategy!r}; known: {', '.join(STRATEGIES)}")
    if model not in REWARD_MODELS:
        raise ValueError(f"unknown reward model {model!r}; known: {', '.join(REWARD_MODELS)}")
    return find("deployment", "llm", model, strategy=strategy).name


def principal_features(phi, phi_ref, k: int, L: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """(phi V_k, phi_ref V_k) rescaled by one factor so that the largest norm is L, where V_k
    (d, k) spans the top-k principal directions of the within-context deviations
    phi(x, a) - mean_b phi(x, b) (the directions along which answers to one instruction differ,
    the only ones Bradley-Terry sees)."""
    phi = np.asarray(phi, dtype=np.float64)
    phi_ref = np.asarray(phi_ref, dtype=np.float64)
    if phi.ndim != 3 or phi_ref.shape != (phi.shape[0], phi.shape[2]):
        raise ValueError(f"phi must be (n_x, K, d) and phi_ref (n_x, d), got {phi.shape} and "
                         f"{phi_ref.shape}")
    n_x, K, d = phi.shape
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or not 1 <= k <= min(d, n_x * K):
        raise ValueError(f"k must be an int in 1..{min(d, n_x * K)}, got {k!r}")
    dev = (phi - phi.mean(axis=1, keepdims=True)).reshape(n_x * K, d)
    _, vecs = np.linalg.eigh(dev.T @ dev)  # eigenvalues ascending
    V = vecs[:, ::-1][:, : int(k)]
    pk, rk = phi @ V, phi_ref @ V
    top = max(np.linalg.norm(pk, axis=2).max(), np.linalg.norm(rk, axis=1).max())
    c = L / top * (1.0 - 1e-12)
    return np.ascontiguousarray(pk * c), np.ascontiguousarray(rk * c)


@dataclass(frozen=True, eq=False)
class DeploymentOracle:
    """One oracle of the deployment runs."""

    name: str
    """"judge" or "semi-synthetic"."""
    env: PreferenceEnv
    """Features and theta* = the semi-synthetic fit (for the judge oracle theta* only serves
    the error columns of the run's records)."""
    rewards: np.ndarray
    """(n_x, K) the rewards behind the labels and the regret."""
    win_probability: np.ndarray
    """(n_x, K) P_win(x, a) of the module docstring."""

    @property
    def oracle_rewards(self) -> np.ndarray | None:
        """What `run_deployment(..., oracle_rewards=)` takes: the table for the judge, None
        (rewards phi' theta* from the environment) for the semi-synthetic oracle."""
        return self.rewards if self.name == "judge" else None


def deployment_oracles(phi, phi_ref, p, *, L: float = 1.0, lam_fit: float = 1.0
                       ) -> dict[str, DeploymentOracle]:
    """Both oracles on one multi-arm table (`judge_oracle`), sharing the fitted theta."""
    theta = fit_reference_logistic(phi, phi_ref, p, lam=lam_fit)
    env = semi_synthetic_env(phi, theta, L)
    semi_win = reference_win_probability(phi, phi_ref, theta)
    return {
        "judge": DeploymentOracle("judge", env, judge_rewards(p), np.asarray(p, dtype=np.float64)),
        "semi-synthetic": DeploymentOracle("semi-synthetic", env, env.rewards(), semi_win),
    }


def greedy_arms(phi: np.ndarray, x: np.ndarray, thetas: np.ndarray) -> np.ndarray:
    """argmax_a phi(x_s, a)' theta_s for each round s (ties: lowest arm), grouped by context."""
    out = np.empty(x.shape[0], dtype=np.int64)
    for c in np.unique(x):
        rows = np.flatnonzero(x == c)
        out[rows] = np.argmax(thetas[rows] @ phi[c].T, axis=1)
    return out


def curve_points(T: int, n: int = 40) -> np.ndarray:
    """About n evenly spaced rounds in [1, T], always with T."""
    return np.unique(np.round(np.linspace(1, T, min(n, T))).astype(np.int64))


def deployment_run(strategy: str, model: str, oracle: DeploymentOracle, T: int, seed: SeedLike,
                   *, n: int = 16, q: float = 4.0, points: int = 40
                   ) -> tuple[pd.DataFrame, dict]:
    """One deployment run: (curve rows at `curve_points`, summary row). See the module
    docstring for the metrics; n candidates per round, q the quantile of the paper's rule."""
    algorithm = strategy_algorithm(strategy, model)
    options = {"n": n, "q": q} if strategy == "quantile" else {"n": n}
    res = run_deployment(algorithm, oracle.env, T, seed, oracle_rewards=oracle.oracle_rewards,
                         keep_path=True, **options)
    r = oracle.rewards
    rounds = res.rounds
    x = rounds["x"].to_numpy(np.int64)
    a = rounds["a"].to_numpy(np.int64)
    a2 = rounds["a2"].to_numpy(np.int64)
    shown = 0.5 * (r[x, a] + r[x, a2])
    greedy = greedy_arms(oracle.env.phi, x, res.theta_path[:-1])
    win = oracle.win_probability[x, greedy]
    t = np.arange(1, T + 1)
    cum_reward = np.cumsum(shown)
    regret = np.cumsum(rounds["regret"].to_numpy())
    win_rate = np.cumsum(win) / t
    keep = curve_points(T, points) - 1
    ids = dict(oracle=oracle.name, algorithm=algorithm, strategy=strategy, reward_model=model)
    curve = pd.DataFrame({**ids, "t": t[keep], "cum_reward": cum_reward[keep],
                          "regret": regret[keep], "win_rate": win_rate[keep]})
    final = np.argmax(oracle.env.phi @ res.theta, axis=1)
    final_win = oracle.win_probability[np.arange(r.shape[0]), final]
    summary = dict(**ids, T=T, cum_reward=float(cum_reward[-1]), regret=float(regret[-1]),
                   win_rate=float(win_rate[-1]),
                   final_win_rate=float(final_win.mean()),
                   same_arm_rounds=int((a == a2).sum()),
                   wall_time=float(res.records["wall_time"].iloc[-1]))
    return curve, summary


def reference_win_rates(oracle: DeploymentOracle) -> dict[str, float]:
    """Win rates of two fixed policies under the oracle: the best arm of each context
    (argmax of its rewards) and a uniformly random arm; and the oracle's instance kappa,
    1 / sigma'(max_x [max_a r(x, a) - min_a r(x, a)])."""
    n_x = oracle.rewards.shape[0]
    best = np.argmax(oracle.rewards, axis=1)
    gap = float((oracle.rewards.max(axis=1) - oracle.rewards.min(axis=1)).max())
    return {"best_arm": float(oracle.win_probability[np.arange(n_x), best].mean()),
            "uniform_arm": float(oracle.win_probability.mean()),
            "kappa_instance": float(inv_dsigmoid(gap))}


__all__ = ["DeploymentOracle", "ORACLES", "REWARD_MODELS", "STRATEGIES",
           "curve_points", "deployment_oracles", "deployment_run", "greedy_arms",
           "principal_features", "reference_win_rates", "strategy_algorithm"]

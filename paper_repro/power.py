"""The power of the checks: every check against every variant of `theory_checks.variants`.

`python -m theory_checks --power [--quick | --full | --tiny]` runs each variant in its stages
on fixed environments, as a researcher's algorithm would be run, applies the checks of
`theory_checks.power_checks` to what it outputs, and writes the power table (variant x check:
caught / missed / pass / undecided / n.a.). A harmful variant is caught when at least one check
fails on it; a valid variant must fail none.

Runs per variant and stage (seeds s for evaluation, 10_000 + s for calibration, disjoint):

    deployment   Algorithm 4's rule (or the variant's own rule) on `random_directions_env`,
                 every round recorded: calibrated radius (c_beta fitted on calibration runs,
                 refitted once with the fitted value because the rule uses the radius), and the
                 theory radius with the theory constants (Lemma 1's lambda)
    passive      uniform behaviour, pessimistic output, calibrated radius; the MLE (greedy, same
                 seeds) as the yardstick of the estimation error
    active       maximum-norm selection on `sim.instances.informative_directions_env` against
                 the same model on uniform pairs (same seeds)
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from algorithms.confidence import Radius
from algorithms.protocol import RewardModel, fit_path
from algorithms.registry import Algorithm, run
from sim import context_cdf, random_directions_env
from sim.feedback import bt_labels
from sim.instances import informative_directions_env
from sim.queries import pair_differences, uniform_pairs
from theory_checks import power_checks as pc
from theory_checks.variants import Variant, variants
from theory_checks.verdicts import FAIL, PASS, REPORT, Verdict


@dataclass(frozen=True)
class PowerScale:
    """Sizes of the power study ("small" is the scale the tests hold to the targets; "tiny" is a
smoke run too small to judge valid variants reliably)."""

    seeds: int
    """Evaluation runs per variant and stage (the same seeds for every variant: CRN)."""
    calibration_seeds: int
    """Runs that fit the calibrated c_beta (seeds 10_000 + s)."""
    deploy_T: int
    """Rounds of the deployment runs that record every round (coverage, instance bound,
    accounting, ball)."""
    passive_T: int
    active_T: int
    rate_deploy_T: int
    """Horizon of the deployment runs of the rate check (checkpoints only: the rate is
    asymptotic, so it needs long runs)."""
    rate_passive_T: int
    """Horizon of the passive runs of the rate check."""
    d: int = 4
    n_x: int = 20
    K: int = 10
    B: float = 1.0
    delta: float = 0.05
    t0: int = 20
    """Rounds before which the calibration ignores the error (the prior dominates)."""


POWER_SCALES = {
    "quick": PowerScale(seeds=12, calibration_seeds=20, deploy_T=5_000, passive_T=4_000,
                        active_T=400, rate_deploy_T=100_000, rate_passive_T=100_000),
    "full": PowerScale(seeds=40, calibration_seeds=60, deploy_T=20_000, passive_T=50_000,
                       active_T=1_600, rate_deploy_T=1_000_000, rate_passive_T=1_000_000),
    "small": PowerScale(seeds=10, calibration_seeds=16, deploy_T=3_000, passive_T=3_000,
                        active_T=400, rate_deploy_T=40_000, rate_passive_T=40_000),
    "tiny": PowerScale(seeds=4, calibration_seeds=6, deploy_T=300, passive_T=500, active_T=100,
                       rate_deploy_T=20_000, rate_passive_T=20_000, t0=10),
}

CALIBRATION_OFFSET = 10_000


def _seeds(n: int, calibration: bool = False) -> range:
    return range(CALIBRATION_OFFSET, CALIBRATION_OFFSET + n) if calibration else range(n)


def _records(results) -> pd.DataFrame:
    return pd.concat([r.records for r in results], ignore_index=True)


def _model_of(alg: Algorithm) -> RewardModel | None:
    return alg.model if isinstance(alg.model, RewardModel) else None


class _Runner:
    """Runs the variants at one scale, sharing environments and the yardsticks."""

    def __init__(self, s: PowerScale) -> None:
        self.s = s
        self.env = random_directions_env(s.n_x, s.K, s.d, L=1.0, B=s.B, seed=3)
        self.active_env = informative_directions_env()
        self._mle: np.ndarray | None = None

    # --------------------------------------------------------------- calibration
    def calibrate(self, alg: Algorithm, stage: str, kw: dict) -> float:
        s = self.s
        c = 1.0
        for _ in range(2 if stage == "deployment" else 1):
            res = [run(alg, self._stage_env(stage), self._T(stage), seed,
                       radius=Radius("practical", s.delta, c), **kw)
                   for seed in _seeds(s.calibration_seeds, calibration=True)]
            c = pc.calibrated_c_beta(_records(res), s.d, s.delta, s.t0)
            if not math.isfinite(c):
                break
        return c

    def _stage_env(self, stage: str):
        return self.active_env if stage == "active" else self.env

    def _T(self, stage: str) -> int:
        return {"deployment": self.s.deploy_T, "passive": self.s.passive_T,
                "active": self.s.active_T}[stage]

    def _kw(self, stage: str) -> dict:
        if stage == "deployment":
            return dict(checkpoints=None)
        if stage == "passive":
            return dict(checkpoints=8, n_eval=1000)
        return dict(checkpoints=5, n_eval=500)

    def mle_errors(self) -> np.ndarray:
        if self._mle is None:
            self._mle = np.array([
                run("passive-mle-greedy", self.env, self.s.passive_T, seed, checkpoints=1,
                    n_eval=0).records["err_l2"].iloc[-1] for seed in _seeds(self.s.seeds)])
        return self._mle

    # ----------------------------------------------------------------- one stage
    def stage_verdicts(self, v: Variant, stage: str) -> list[tuple[str, Verdict]]:
        s, alg = self.s, v.algorithms[stage]
        env = self._stage_env(stage)
        kw = self._kw(stage)
        c = self.calibrate(alg, stage, kw)
        radius = Radius("practical", s.delta, c * v.radius_scale if math.isfinite(c) else 1e6)
        results = [run(alg, env, self._T(stage), seed, radius=radius,
                       **({**kw, "keep_path": True} if stage == "deployment" else kw))
                   for seed in _seeds(s.seeds)]
        recs, rounds = [], []
        for r in results:
            rec, rd = r.records, r.rounds
            if v.report is not None and v.report_stage == stage:
                rec, rd = v.report(rec, rd)
            recs.append(rec)
            rounds.append(rd)
        records = pd.concat(recs, ignore_index=True)
        tag = f"{v.name}:{stage}"
        out: list[tuple[str, Verdict]] = []
        cov = pc.coverage_calibrated(f"coverage-calibrated[{tag}]", records, d=env.d,
                                     delta=s.delta, t0=s.t0)
        out.append(("coverage-calibrated", _with_c(cov, c, v.radius_scale)))
        rewards = env.rewards()
        gaps = rewards.max(axis=1) - rewards.min(axis=1)
        if stage == "deployment":
            out += self._deployment_checks(v, alg, tag, records, rounds, results, rewards, gaps)
        else:
            out += self._training_checks(v, alg, stage, tag, records, results, rewards, gaps)
        model = _model_of(alg)
        if model is not None:
            out.append(("inverse-consistent", self._inverse_check(model, tag)))
        return out

    def _deployment_checks(self, v, alg, tag, records, rounds, results, rewards, gaps):
        s, env = self.s, self.env
        out = []
        per_round = records.groupby("seed", sort=False)["regret"].diff().fillna(
            records["regret"])
        bound = records.groupby("seed", sort=False)["instance_bound"].diff().fillna(
            records["instance_bound"])
        x = np.concatenate([rd["x"].to_numpy() for rd in rounds])
        in_set = np.concatenate([rd["in_set"].to_numpy() for rd in rounds])
        if records["instance_bound"].notna().any():
            out.append(("instance-bound", pc.instance_bound(
                f"instance-bound[{tag}]", per_round.to_numpy(), bound.to_numpy(), in_set,
                gaps[x])))
        errs = [pc.accounting_regret("", rec_r, rewards, rd["x"].to_numpy(), rd["a"].to_numpy(),
                                     rd["a2"].to_numpy()).measured
                for rec_r, rd in zip(_split(records, "regret"), rounds)]
        worst = float(np.max(errs))
        out.append(("accounting", Verdict(f"accounting[{tag}]", "reported regret = direct "
                                          "recomputation", worst, 1e-9,
                                          FAIL if worst > 1e-9 else PASS,
                                          f"max relative difference {worst:.3g}; decisive")))
        radius = Radius("practical", s.delta, float(records["c_beta"].iloc[0]))
        long = _records([run(alg, env, s.rate_deploy_T, seed, radius=radius, checkpoints=16)
                         for seed in _seeds(s.seeds)])
        if v.report is not None and v.report_stage == "deployment":
            long, _ = v.report(long, None)
        piv = long[long["t"] >= s.rate_deploy_T // 100].pivot_table(
            index="seed", columns="t", values="regret")
        out.append(("rate", pc.rate(f"rate[{tag}:regret]", piv.columns.to_numpy(float),
                                    piv.to_numpy(), 0.5, log_power=1.0, delta=s.delta)))
        if alg.projects:
            norms = [float(np.linalg.norm(r.theta_path, axis=1).max()) for r in results]
            proj = int(sum(r.counters.get("projections", 0) for r in results))
            out.append(("stays-in-ball", pc.stays_in_ball(f"stays-in-ball[{tag}]",
                                                          np.array(norms), env.B, proj)))
        theory = [run(alg, env, s.deploy_T, seed, constants="theory", radius=Radius("theory"),
                      checkpoints=None) for seed in _seeds(s.seeds)]
        out.append(("coverage-theory", pc.coverage_theory(f"coverage-theory[{tag}]",
                                                          _records(theory), delta=s.delta,
                                                          t0=s.t0)))
        return out

    def _training_checks(self, v, alg, stage, tag, records, results, rewards, gaps):
        s, env = self.s, self._stage_env(stage)
        out = []
        last = records.loc[records.groupby("seed")["t"].idxmax()]
        left = pc.max_error_ratio(records, env.d, s.delta, 0, denominator="beta") > 1.0
        in_event = ~left.reindex(last["seed"]).to_numpy()
        trivial = float(np.dot(env.rho, gaps))
        if last["instance_bound"].notna().any():
            out.append(("instance-bound", pc.instance_bound(
                f"instance-bound[{tag}]", last["subopt"].to_numpy(),
                last["instance_bound"].to_numpy(), in_event, np.full(len(last), trivial),
                min_decisive=max(3, s.seeds // 2))))
        direct = [pc.suboptimality_direct(rewards, env.rho, r.policy) for r in results]
        out.append(("accounting", pc.accounting_subopt(f"accounting[{tag}]",
                                                       last["subopt"].to_numpy(), direct)))
        if last["eval_acc_true"].notna().all():
            out.append(("beats-chance", pc.beats_chance(f"beats-chance[{tag}]",
                                                        last["eval_acc_true"].to_numpy())))
        if stage == "passive":
            out.append(("error-within-mle", pc.error_within_mle(
                f"error-within-mle[{tag}]", last["err_l2"].to_numpy(), self.mle_errors())))
            radius = Radius("practical", s.delta, float(records["c_beta"].iloc[0]))
            long = _records([run(alg, env, s.rate_passive_T, seed, radius=radius,
                                 checkpoints=12, n_eval=0) for seed in _seeds(s.seeds)])
            piv = long[long["t"] >= s.rate_passive_T // 100].pivot_table(
                index="seed", columns="t", values="err_l2")
            out.append(("rate", pc.rate(f"rate[{tag}:err_l2]", piv.columns.to_numpy(float),
                                        piv.to_numpy(), -0.5)))
        if stage == "active":
            # a paired comparison on its own, larger set of seeds (runs of a few hundred rounds):
            # the effect is a few thousandths of the reward range
            uniform = Algorithm(f"{alg.name}-uniform-counterpart", "active", "uniform",
                                alg.model, alg.output)
            seeds = _seeds(3 * s.seeds)
            mine = [run(alg, env, s.active_T, seed, checkpoints=1, n_eval=0)
                    .records["subopt"].iloc[-1] for seed in seeds]
            base = [run(uniform, env, s.active_T, seed, checkpoints=1, n_eval=0)
                    .records["subopt"].iloc[-1] for seed in seeds]
            out.append(("beats-uniform", pc.beats_uniform(f"beats-uniform[{tag}]",
                                                          np.array(mine), np.array(base))))
        return out

    def _inverse_check(self, model: RewardModel, tag: str) -> Verdict:
        env = self.env
        from algorithms.constants import practical_constants

        c = practical_constants(env.d, env.L, env.B)
        params = model.make_params(c.eta, c.lam, env.B, env.L, True)
        res = []
        for seed in range(3):
            rng = np.random.default_rng(seed)
            T = 500
            x, a, a2 = uniform_pairs(context_cdf(env.rho), env.K, rng.random(T),
                                     rng.random((T, 2)))
            y = bt_labels(env.phi, env.theta_star, x, a, a2, rng.random(T), env.link_code)
            Z = pair_differences(env.phi, x, a, a2)
            _, state, _ = fit_path(model, Z, y.astype(np.float64), params)
            M = np.asarray(model.matrix(state))
            Minv = np.asarray(model.inverse(state))
            res.append(float(np.abs(Minv @ M - np.eye(env.d)).max()))
        return pc.inverse_consistent(f"inverse-consistent[{tag}]", np.array(res))


def _split(records: pd.DataFrame, col: str) -> list[np.ndarray]:
    return [g[col].to_numpy() for _, g in records.groupby("seed", sort=False)]


def _with_c(v: Verdict, c: float, scale: float) -> Verdict:
    extra = f"; calibrated c_beta {c:.3g}" + (f" x {scale:g} (the variant's radius)"
                                              if scale != 1.0 else "")
    return Verdict(v.check, v.claim, v.measured, v.threshold, v.verdict, v.detail + extra)


def run_power(scale: str = "quick", only: tuple[str, ...] = ()
              ) -> tuple[pd.DataFrame, pd.DataFrame, list[Verdict]]:
    """Run every check on every variant: (power table, summary, all verdicts).

    power table: one row per variant (name, harmful, area, defect, caught, seconds) and one
    column per check with caught / missed / pass / undecided / n.a.; summary: the fraction of
    harmful variants caught and of valid variants flagged.
    """
    if scale not in POWER_SCALES:
        raise ValueError(f"unknown scale {scale!r}; known: {', '.join(POWER_SCALES)}")
    runner = _Runner(POWER_SCALES[scale])
    rows, verdicts = [], []
    checks: list[str] = []
    for v in variants():
        if only and v.name not in only:
            continue
        t0 = time.perf_counter()
        found: dict[str, list[str]] = {}
        for stage in v.stages:
            for check, verdict in runner.stage_verdicts(v, stage):
                verdicts.append(verdict)
                if check not in checks:
                    checks.append(check)
                found.setdefault(check, []).append(verdict.verdict)
        row = dict(variant=v.name, harmful=v.harmful, area=v.area, defect=v.defect)
        failed_any = False
        for check in checks:
            vs = found.get(check)
            if not vs:
                row[check] = "n.a."
            elif FAIL in vs:
                row[check] = "caught" if v.harmful else "FLAGGED"
                failed_any = True
            elif all(x in (pc.UNDECIDED, REPORT) for x in vs):
                row[check] = "undecided"
            else:
                row[check] = "missed" if v.harmful else "pass"
        row["caught"] = failed_any if v.harmful else not failed_any
        row["seconds"] = round(time.perf_counter() - t0, 2)
        rows.append(row)
    table = pd.DataFrame(rows)
    for check in checks:
        if check not in table.columns:
            table[check] = "n.a."
        table[check] = table[check].fillna("n.a.")
    cols = ["variant", "harmful", "area", "defect", *checks, "caught", "seconds"]
    table = table[cols]
    harm = table[table["harmful"]]
    valid = table[~table["harmful"]]
    summary = pd.DataFrame([dict(
        scale=scale, harmful=len(harm), harmful_caught=int(harm["caught"].sum()),
        harmful_caught_fraction=float(harm["caught"].mean()) if len(harm) else math.nan,
        valid=len(valid), valid_flagged=int((~valid["caught"]).sum()),
    )])
    return table, summary, verdicts


__all__ = ["POWER_SCALES", "PowerScale", "run_power"]


def subject_verdicts(scale: str, chosen: list[Variant]) -> list[Verdict]:
    """The checks of the power suite applied to given algorithms (wrapped as valid
    `Variant`s): the paper's and a user's."""
    runner = _Runner(POWER_SCALES[scale])
    out: list[Verdict] = []
    for v in chosen:
        for stage in v.stages:
            out += [verdict for _, verdict in runner.stage_verdicts(v, stage)]
    return out


def counts_verdicts(scale: str) -> list[Verdict]:
    """Cost judged by counted work, not by wall time: on the same rounds, Algorithm 4's
    one-pass model does no refit (0 Newton iterations) while Dueling-RL's MLE refits every
    round (at least one Newton iteration per round, each touching all t past samples)."""
    s = POWER_SCALES[scale]
    env = random_directions_env(s.n_x, s.K, s.d, L=1.0, B=s.B, seed=3)
    T = s.deploy_T
    one_pass = run("algorithm4", env, T, 0, checkpoints=4).counters
    mle = run("dueling-rl-mle", env, min(T, 2_000), 0, checkpoints=4).counters
    n_mle = min(T, 2_000)
    return [
        Verdict("cost-counts[algorithm4]", "one-pass update: no refit work (0 Newton "
                "iterations) in T rounds", float(one_pass["newton_iterations"]), 0.0,
                PASS if one_pass["newton_iterations"] == 0 else FAIL,
                f"{one_pass['newton_iterations']} Newton iterations, "
                f"{one_pass['projections']} active projections in {T} rounds; decisive"),
        Verdict("cost-counts[dueling-rl-mle]", "MLE refit every round: >= 1 Newton iteration "
                "per round, each O(t d^2)", mle["newton_iterations"] / n_mle, 1.0,
                PASS if mle["newton_iterations"] >= n_mle else FAIL,
                f"{mle['newton_iterations']} Newton iterations in {n_mle} rounds "
                f"({mle['unconverged_refits']} unconverged); decisive"),
    ]

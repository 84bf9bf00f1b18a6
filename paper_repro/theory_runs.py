"""The experiments behind `python -m theory_checks`, at three scales, and the checks run on them.

| part    | what runs                                                              | judged by   |
|---------|------------------------------------------------------------------------|-------------|
| power   | every variant of `theory_checks.variants` (harmful and valid) in its   | the power   |
|         | stages, every check of `theory_checks.power_checks` on its outputs     | targets     |
| checks  | the same checks on the paper's algorithms (Algorithm 2, 3, 4) and on   | each check  |
|         | the user's (`--algorithms`)                                            |             |
| cost    | Algorithm 4 against Dueling-RL (MLE refit every round): work counted   | counts;     |
|         | (Newton iterations), time per round against t reported                 | time shown  |

The power part comes first: a check is worth what it catches. Its targets: at least 90 % of
the harmful variants caught at --quick, all at --full, no valid variant flagged. Every check's
row says whether it was decisive at this scale (it could have failed on the data it saw),
vacuous (a bound above the trivial one, a radius ten times too large) or undecided.

The cost runs are sweep cells (`paper_repro.cells.run_cell`), kept in the result store; the
power and checks parts run in process (seconds to a few minutes at --quick).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace

import pandas as pd

from algorithms.registry import get as get_algorithm
from paper_repro.cells import EnvConfig, RadiusConfig, StudyConfig, run_cell
from paper_repro.runner import run_sweep
from paper_repro.store import ResultStore
from theory_checks.checks import cost_checks
from theory_checks.power_checks import UNDECIDED
from theory_checks.variants import Variant
from theory_checks.verdicts import FAIL, PASS, REPORT, Verdict

PARTS: tuple[str, ...] = ("power", "checks", "cost")
PRACTICAL = RadiusConfig("practical", c_beta=1.0, delta=0.05)
POWER_TARGETS = {"quick": 0.9, "full": 1.0, "tiny": 0.0}
"""Fraction of harmful variants the checks must catch at each scale (tiny: a smoke run)."""


@dataclass(frozen=True)
class CostScale:
    """Sizes of the cost runs."""

    cost_T: int
    cost_seeds: int
    env: EnvConfig = EnvConfig(n_x=20, K=10, d=4, B=2.0)


SCALES = {
    "quick": CostScale(cost_T=3_000, cost_seeds=2),
    "full": CostScale(cost_T=20_000, cost_seeds=5),
    "tiny": CostScale(cost_T=300, cost_seeds=1, env=EnvConfig(n_x=5, K=4, d=3, B=1.0)),
}

SUBJECTS: dict[str, str] = {"passive": "passive-omd-pessimistic", "active": "active-omd",
                            "deployment": "algorithm4"}
"""The paper's algorithm of each stage: the subjects of the checks part."""


def subjects(algorithms: tuple[str, ...] = ()) -> dict[str, list[str]]:
    """The algorithms each stage's checks run on: the paper's, then the given user algorithms
    (module:attribute or registered names) of that stage."""
    out = {stage: [name] for stage, name in SUBJECTS.items()}
    for a in algorithms:
        stage = get_algorithm(a).stage
        if a not in out[stage]:
            out[stage].append(a)
    return out


def cells_by_part(scale: str) -> dict[str, list]:
    """The sweep cells of the parts that run through the result store, by part name."""
    s = SCALES[scale]
    study = StudyConfig("deployment", s.env, s.cost_T, ("algorithm4", "dueling-rl-mle"),
                        seeds=s.cost_seeds, checkpoints=16, radius=PRACTICAL)
    return {"cost": study.cells("theory-cost")}


def run_part(cells, root: str, *, backend="local", workers=None, scheduler=None, quiet=True,
             label="") -> pd.DataFrame:
    return run_sweep(cells, run_cell, ResultStore(os.path.join(root, "store")), backend=backend,
                     workers=workers, scheduler=scheduler, quiet=quiet, label=label)


def power_verdicts(table: pd.DataFrame, summary: pd.DataFrame, scale: str) -> list[Verdict]:
    """One verdict for the power targets, then one per variant (caught / passed)."""
    row = summary.iloc[0]
    target = POWER_TARGETS[scale]
    ok = row["harmful_caught_fraction"] >= target and row["valid_flagged"] == 0
    out = [Verdict(f"power[{scale}]", f"checks catch >= {target:.0%} of the harmful variants "
                   "and flag no valid one", float(row["harmful_caught_fraction"]), target,
                   PASS if ok else FAIL,
                   f"{int(row['harmful_caught'])}/{int(row['harmful'])} harmful caught, "
                   f"{int(row['valid_flagged'])}/{int(row['valid'])} valid flagged")]
    checks = [c for c in table.columns if c not in ("variant", "harmful", "area", "defect",
                                                    "caught", "seconds")]
    for _, r in table.iterrows():
        by = [c for c in checks if r[c] in ("caught", "FLAGGED")]
        if r["harmful"]:
            out.append(Verdict(f"power[{r['variant']}]", f"harmful ({r['area']}: {r['defect']}): "
                               "caught by at least one check", float(len(by)), 1.0,
                               REPORT if r["caught"] else FAIL,
                               "caught by " + (", ".join(by) if by else "no check")))
        else:
            out.append(Verdict(f"power[{r['variant']}]", f"valid ({r['defect']}): no check "
                               "fails", float(len(by)), 0.0, PASS if r["caught"] else FAIL,
                               "flagged by " + ", ".join(by) if by else "passes every check"))
    return out


def decisiveness(verdicts: list[Verdict]) -> pd.DataFrame:
    """Per check kind: how many verdicts were decisive, vacuous or undecided at this scale."""
    rows: dict[str, dict] = {}
    for v in verdicts:
        kind = v.check.split("[")[0]
        r = rows.setdefault(kind, dict(check=kind, verdicts=0, decisive=0, vacuous=0,
                                       undecided=0))
        r["verdicts"] += 1
        if v.verdict == UNDECIDED:
            r["undecided"] += 1
        elif "vacuous" in v.detail and "non-vacuous" not in v.detail:
            r["vacuous"] += 1
        elif v.verdict in (PASS, FAIL):
            r["decisive"] += 1
    return pd.DataFrame(list(rows.values()))


def _cost_verdicts(df: pd.DataFrame) -> list[Verdict]:
    """Work counted: the one-pass model does no refit (0 Newton iterations); the MLE baseline
    refits every round (its Newton iterations, each O(t d^2), are reported). Time per round
    against t is shown, not judged (wall clock on a shared machine)."""
    out = [replace(v, verdict=REPORT, detail=v.detail + "; wall clock: reported, not judged")
           for v in cost_checks(df, "deployment", flat_algs=("algorithm4",),
                                growing_algs=("dueling-rl-mle",))]
    return out


def run_checks(scale: str, out: str, algorithms: tuple[str, ...] = (),
               parts: tuple[str, ...] = PARTS, **sweep
               ) -> tuple[list[Verdict], dict[str, pd.DataFrame]]:
    """Run the parts at `scale` (results under `out`); returns verdicts and tables.

    algorithms: user algorithms (module:attribute) checked beside the paper's. Writes
    out/power.csv and out/power.md (the power table) when the power part runs, and
    out/decisiveness.csv.
    """
    from paper_repro.power import POWER_SCALES, counts_verdicts, run_power, subject_verdicts
    from paper_repro.tables import markdown_table

    if scale not in SCALES or scale not in POWER_SCALES:
        raise ValueError(f"unknown scale {scale!r}; known: {', '.join(SCALES)}")
    unknown = sorted(set(parts) - set(PARTS))
    if unknown:
        raise ValueError(f"unknown part(s) {', '.join(unknown)}; known: {', '.join(PARTS)}")
    verdicts: list[Verdict] = []
    tables: dict[str, pd.DataFrame] = {}
    if "power" in parts:
        table, summary, detail = run_power(scale)
        tables["power"], tables["power_summary"] = table, summary
        tables["power_verdicts"] = pd.DataFrame([v.row() for v in detail])
        verdicts += power_verdicts(table, summary, scale)
        table.to_csv(os.path.join(out, "power.csv"), index=False)
        with open(os.path.join(out, "power.md"), "w") as f:
            f.write(f"# Power of the checks ({scale})\n\n{markdown_table(summary)}\n\n"
                    f"{markdown_table(table)}\n")
    if "checks" in parts:
        subj = subjects(tuple(algorithms))
        chosen = [Variant(get_algorithm(name).name, False, "subject", "checked algorithm",
                          {stage: get_algorithm(name)})
                  for stage, names in subj.items() for name in names]
        verdicts += subject_verdicts(scale, chosen)
    if "cost" in parts:
        for part, cells in cells_by_part(scale).items():
            df = run_part(cells, out, label=f"theory_checks:{part}", **sweep)
            tables[part] = df
            verdicts += _cost_verdicts(df)
        verdicts += counts_verdicts(scale)
    dec = decisiveness(verdicts)
    tables["decisiveness"] = dec
    dec.to_csv(os.path.join(out, "decisiveness.csv"), index=False)
    return verdicts, tables


__all__ = ["PARTS", "POWER_TARGETS", "SCALES", "SUBJECTS", "cells_by_part", "decisiveness",
           "power_verdicts", "run_checks", "subjects"]

"""Predictive scoring on the real public datasets, with the splits of ../shared/data/README.md:

- olist MQL -> deal: first 80 % by first-contact date / last 20 %; features origin, landing page, weekday, month;
- bank telemarketing (bank-additional-full.csv, in time order): first 80 % / last 20 %, without `duration`;
- online shoppers: stratified 80/20, seed 0.

For each: Leadline's model (candidates chosen on rolling time folds or 3-fold CV, calibrated), its naive-Bayes
fallback, and each candidate forced; ROC AUC (95 % bootstrap interval), Brier score, training time and the
process's peak RSS (each dataset in its own process, so the figure includes Python and the libraries).

    OMP_NUM_THREADS=1 python bench/predict_datasets.py [--data ../shared/data] [--markdown]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

BASELINES = {  # ../shared/data/README.md: naive Bayes, logistic regression, gradient boosting (ROC AUC / Brier)
    "olist": ((0.664, 0.092), (0.674, 0.085), (0.639, 0.091)),
    "bank": ((0.563, 0.284), (0.748, 0.191), (0.643, 0.243)),
    "shoppers": ((0.865, 0.126), (0.902, 0.083), (0.932, 0.062)),
}


def load(name: str, data: Path):  # -> (frame, target, time column, in order)
    import pandas as pd

    if name == "olist":
        folder = data / "olist_marketing_funnel"
        mqls = pd.read_csv(folder / "olist_marketing_qualified_leads_dataset.csv")
        deals = pd.read_csv(folder / "olist_closed_deals_dataset.csv")
        mqls["converted"] = mqls["mql_id"].isin(deals["mql_id"]).map({True: "yes", False: "no"})
        return mqls.drop(columns=["mql_id"]), "converted", "first_contact_date", False
    if name == "bank":
        frame = pd.read_csv(data / "bank_marketing" / "bank-additional-full.csv", sep=";")
        return frame.drop(columns=["duration"]), "y", None, True
    frame = pd.read_csv(data / "online_shoppers_intention" / "online_shoppers_intention.csv")
    return frame, "Revenue", None, False


def one(name: str, data: Path) -> dict:
    from leadline.predict.holdout import holdout

    frame, target, time_column, in_order = load(name, data)
    out: dict = {"dataset": name, "rows": len(frame)}
    for label, candidates in (("auto", None), ("logistic", ("logistic",)), ("boosted_trees", ("boosted_trees",))):
        started = time.perf_counter()
        result = holdout(frame, target, time_column=time_column, in_order=in_order, candidates=candidates)
        out[label] = {"roc_auc": result.report.roc_auc, "ci": result.report.roc_auc_ci, "brier": result.report.brier,
                      "pr_auc": result.report.pr_auc, "lift": result.report.top_decile_lift,
                      "algorithm": result.model.algorithm, "calibration": result.model.calibrator.method,
                      "train_seconds": round(result.train_seconds, 2),
                      "wall_seconds": round(time.perf_counter() - started, 2)}
        if label == "auto":
            out["naive_bayes"] = {"roc_auc": result.baseline.roc_auc, "ci": result.baseline.roc_auc_ci,
                                  "brier": result.baseline.brier}
            out["split"], out["why"] = result.split, result.model.why
            out["test_rate"] = result.report.base_rate
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def markdown(results: list[dict]) -> str:
    lines = ["| data | Leadline (chosen) ROC AUC [95 % CI] / Brier | naive-Bayes fallback | Leadline logistic | "
             "Leadline boosted trees | best baseline AUC / best Brier | train s | peak RSS MB |",
             "|---|---|---|---|---|---|---|---|"]
    for r in results:
        base = BASELINES[r["dataset"]]
        a, nb, lr, gb = r["auto"], r["naive_bayes"], r["logistic"], r["boosted_trees"]
        lines.append(
            f"| {r['dataset']} ({r['split']}) | {a['roc_auc']:.3f} [{a['ci'][0]:.3f}-{a['ci'][1]:.3f}] / "
            f"{a['brier']:.3f} ({a['algorithm']}, {a['calibration']}) | {nb['roc_auc']:.3f} / {nb['brier']:.3f} | "
            f"{lr['roc_auc']:.3f} / {lr['brier']:.3f} | {gb['roc_auc']:.3f} / {gb['brier']:.3f} | "
            f"{max(b[0] for b in base):.3f} / {min(b[1] for b in base):.3f} | {a['train_seconds']:.1f} | "
            f"{r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--one", help=argparse.SUPPRESS)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one(args.one, args.data)))
        return
    results = []
    for name in BASELINES:
        done = subprocess.run([sys.executable, __file__, "--one", name, "--data", str(args.data)],
                              capture_output=True, text=True, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), file=sys.stderr)
    print(f"load average: {os.getloadavg()}")
    print(markdown(results))


if __name__ == "__main__":
    main()

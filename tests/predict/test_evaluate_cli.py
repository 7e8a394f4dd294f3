"""`leadline model evaluate` on samples of the real public datasets (tests/predict/data/SOURCE.txt)."""

import json
from pathlib import Path

from typer.testing import CliRunner

from leadline.cli.main import app

DATA = Path(__file__).parent / "data"


def run(*args):
    # In process: a subprocess pays seconds of imports (pandas, scikit-learn) per call on a busy machine.
    return CliRunner().invoke(app, ["model", "evaluate", *args])


def test_bank_time_ordered_json():
    result = run("--csv", str(DATA / "bank_sample.csv"), "--sep", ";", "--target", "y", "--drop", "duration",
                 "--in-order", "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert 0.6 < data["roc_auc"] <= 1 and 0 < data["brier"] < 0.3
    assert data["split"].startswith("time-ordered") and "duration" not in data["features"]["numeric"]
    assert data["test_rows"] == 589 and data["naive_bayes_baseline"]["roc_auc"] > 0.5
    assert len(data["report"]["roc_auc_ci"]) == 2 and data["report"]["reliability"]


def test_olist_split_by_time_column_uses_weekday_and_month():
    result = run("--csv", str(DATA / "olist_sample.csv"), "--target", "converted", "--time", "first_contact_date",
                 "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {"first_contact_date_weekday", "first_contact_date_month"} <= set(data["features"]["categorical"])
    assert data["roc_auc"] > 0.55 and data["brier"] < data["report"]["brier_base"] + 0.01


def test_shoppers_stratified_table_output():
    result = run("--csv", str(DATA / "shoppers_sample.csv"), "--target", "Revenue", "--algorithm", "logistic")
    assert result.exit_code == 0, result.output
    assert "roc_auc" in result.output and "reliability curve" in result.output and "stratified" in result.output


def test_bad_input_is_refused_clearly():
    result = run("--csv", str(DATA / "shoppers_sample.csv"), "--target", "nope")
    assert result.exit_code == 2 and "no column 'nope'" in result.output

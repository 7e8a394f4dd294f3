"""The pure maths: candidates, choice, calibration, evaluation, reasons and safe persistence."""

import numpy as np
import pandas as pd
import pytest
import skops.io as sio

from leadline.predict import persistence
from leadline.predict.evaluation import evaluate, top_decile
from leadline.predict.features import OTHER, binary_target, infer_kinds, learn_spec
from leadline.predict.models import CANDIDATES, FrequencyNaiveBayes, train
from leadline.predict.reasons import reasons


def synthetic(n=3000, seed=1):
    """Conversion driven by pricing visits and channel; `noise` carries nothing."""
    rng = np.random.default_rng(seed)
    visits = rng.poisson(1.5, n)
    channel = rng.choice(["seo", "sea", "email", "social"], n, p=[0.4, 0.3, 0.2, 0.1])
    logit = -3 + 0.7 * visits + np.where(channel == "sea", 1.0, 0) - np.where(channel == "social", 1.0, 0)
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    frame = pd.DataFrame({"pricing_visits_7d": visits, "channel": channel, "noise": rng.normal(size=n)})
    return frame, y


def test_infer_kinds_ignores_identifiers_and_constants():
    frame = pd.DataFrame({"id": [f"x{i}" for i in range(200)], "n": range(200), "c": ["a", "b"] * 100,
                          "k": ["same"] * 200})
    numeric, categorical, ignored = infer_kinds(frame)
    assert (numeric, categorical, sorted(ignored)) == (["n"], ["c"], ["id", "k"])


def test_binary_target_reads_yes_no_and_two_values():
    assert binary_target(pd.Series(["yes", "no", "no"]))[0].tolist() == [1, 0, 0]
    labels, positive = binary_target(pd.Series(["won", "lost", "lost"]))
    assert positive == "won" and labels.tolist() == [1, 0, 0]
    labels, positive = binary_target(pd.Series(["A", "B", "B", "B"]))
    assert positive == "a" and labels.tolist() == [1, 0, 0, 0]
    with pytest.raises(ValueError, match="two outcomes"):
        binary_target(pd.Series(["a", "b", "c"]))


def test_unknown_levels_become_other():
    frame, _ = synthetic(500)
    spec = learn_spec(frame, categorical=["channel"], numeric=["pricing_visits_7d"])
    encoded = spec.encode(pd.DataFrame({"channel": ["never-seen"], "pricing_visits_7d": ["x"]}))
    assert encoded["channel"].iloc[0] == OTHER and np.isnan(encoded["pricing_visits_7d"].iloc[0])


@pytest.mark.parametrize("name", list(CANDIDATES))
def test_every_candidate_learns_the_signal_and_round_trips_through_skops(name):
    frame, y = synthetic()
    spec = learn_spec(frame, categorical=["channel"], numeric=["pricing_visits_7d", "noise"])
    model = train(frame.iloc[:2400], y[:2400], spec, ordered=True, candidates=(name,))
    p = model.predict(frame.iloc[2400:])
    assert evaluate(y[2400:], p, rounds=20).roc_auc > 0.72
    again = persistence.loads(persistence.dumps(model))
    assert np.allclose(again.predict(frame.iloc[2400:]), p)


def test_auto_choice_says_why_and_falls_back_to_naive_bayes_with_few_outcomes():
    frame, y = synthetic()
    spec = learn_spec(frame, categorical=["channel"], numeric=["pricing_visits_7d", "noise"])
    model = train(frame, y, spec, ordered=False)
    assert model.algorithm in CANDIDATES and "best mean ROC AUC" in model.why
    assert set(model.validation_auc) == set(CANDIDATES)
    few = y.copy()
    few[np.flatnonzero(few)[20:]] = 0
    fallback = train(frame, few, spec, ordered=False)
    assert fallback.algorithm == "naive_bayes" and "too few" in fallback.why


def test_calibrated_probabilities_match_observed_rates():
    frame, y = synthetic(6000)
    spec = learn_spec(frame, categorical=["channel"], numeric=["pricing_visits_7d", "noise"])
    model = train(frame.iloc[:5000], y[:5000], spec, ordered=True)
    report = evaluate(y[5000:], model.predict(frame.iloc[5000:]), rounds=20)
    assert report.brier < report.brier_base
    assert abs(np.average([b.predicted for b in report.reliability], weights=[b.leads for b in report.reliability])
               - report.base_rate) < 0.03


def test_report_metrics():
    y = np.array([0] * 90 + [1] * 10)
    perfect = evaluate(y, y.astype(float), rounds=20)
    assert perfect.roc_auc == 1.0 and perfect.top_decile_lift == 10.0 and perfect.top_decile_capture == 1.0
    assert perfect.brier == 0.0 and perfect.roc_auc_ci == (1.0, 1.0)
    assert top_decile(y, np.zeros(100))[1] <= 0.1 + 1e-9  # ties: no credit for luck


def test_reasons_name_the_driving_factors_in_probability_terms():
    frame, y = synthetic()
    spec = learn_spec(frame, categorical=["channel"], numeric=["pricing_visits_7d", "noise"])
    model = train(frame, y, spec, ordered=False, candidates=("logistic",))
    lead = pd.DataFrame({"pricing_visits_7d": [6], "channel": ["sea"], "noise": [0.0]})
    top = reasons(model, lead)[0]
    assert top[0].feature == "pricing_visits_7d" and top[0].effect > 0.2
    assert top[0].text.startswith("pricing visits 7d: 6 raises the chance from ")
    assert {r.feature for r in top} <= {"pricing_visits_7d", "channel"}  # noise moves nothing worth saying
    cold = reasons(model, lead.assign(channel="social", pricing_visits_7d=0))[0]
    assert all(r.effect < 0 for r in cold) and "lowers" in cold[0].text


class Stranger:
    """Any type outside the trusted list: skops would have to import and build it."""


def test_loading_refuses_untrusted_types():
    evil = sio.dumps({"model": FrequencyNaiveBayes(), "x": Stranger()})
    with pytest.raises(persistence.UntrustedModel, match="untrusted types"):
        persistence.loads(evil)

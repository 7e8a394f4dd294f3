"""The model file documented in the README is a valid model and means what the README says."""

import re
from pathlib import Path

import yaml

from leadline.core.scoring.model import parse_model

README = Path(__file__).parents[3] / "README.md"


def test_the_readme_example_model_parses_with_every_documented_option():
    text = README.read_text(encoding="utf-8")
    block = re.search(r"```yaml\n(format: leadline-scoring/1.*?)```", text, re.S)
    assert block is not None, "the README lost its model example"
    model = parse_model(yaml.safe_load(block.group(1)))
    rules = {r.name: r for r in model.engagement}
    assert rules["Opened an email"].max_points == 3
    assert rules["Clicked an email"].max_per_day == 2
    assert rules["Unsubscribed"].half_life_seconds is None
    assert rules["Asked for a quote"].half_life_seconds == 90 * 86_400
    assert rules["Visited pricing"].half_life_seconds == 30 * 86_400
    assert (model.thresholds.warm, model.thresholds.hot) == (30, 60)
    assert [r.points for r in model.fit] == [30, -20, 20, -100]

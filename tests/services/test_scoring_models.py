"""Model documents as users write them, and the bulk fit shortcut."""

import pytest

from leadline.core.lead_input import LeadInput
from leadline.services.errors import Invalid
from leadline.services.leads import WriteMode, upsert_lead
from leadline.services.scoring.bulk import rescore_leads
from leadline.services.scoring.models import activate, load_document, store_version
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.tables import Lead


def test_yaml_reads_only_true_and_false_as_booleans():
    document = load_document("fit:\n  - {name: Nordics, when: {field: country, in: [SE, NO]}, points: 10}\n"
                             "flags: [yes, on, true, False]\n")
    assert document["fit"][0]["when"]["in"] == ["SE", "NO"]  # YAML 1.1 would read NO as false
    assert document["flags"] == ["yes", "on", True, False]


def test_a_yaml_syntax_error_says_where():
    with pytest.raises(Invalid) as caught:
        load_document("fit: [\n  {name: x\n")
    assert caught.value.problems[0].field.startswith("line ")


def test_leads_alike_share_a_fit_computation_but_true_is_not_the_number_one(db):
    model = {"format": "leadline-scoring/1", "name": "vip",
             "fit": [{"name": "VIP", "when": {"field": "custom.vip", "equals": True}, "points": 60}]}
    with db.write() as session:
        ws = get_or_create_workspace(session, "vip")
        activate(session, ws.id, store_version(session, ws.id, model, source=None, actor="test").version)
        ids = [upsert_lead(session, ws.id, LeadInput(email=f"{n}@vip.example", custom={"vip": value}),
                           mode=WriteMode.OVERWRITE).lead.id for n, value in (("a", True), ("b", 1), ("c", True))]
    with db.write() as session:
        rescore_leads(session, ws.id, ids, cause="test")
    with db.read() as session:
        assert [session.get(Lead, i).fit_score for i in ids] == [60.0, 0.0, 60.0]

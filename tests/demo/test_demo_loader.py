"""The demo workspace: the real Olist marketing-funnel data, loaded faithfully, fast and idempotently.

Expected figures are computed from the packaged CSV files (`data_dir`), not copied from the loader; the
figures published in SOURCE.txt (8,000 MQLs, 842 deals, paid_search 195/1586) anchor them.
"""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from leadline.demo import loader
from leadline.demo.loader import DemoSummary, load_demo
from leadline.demo.routing import MANAGER_HANDLE, RULE_NAME
from leadline.services.leads import timeline
from leadline.services.workspaces import authenticate, find_workspace
from leadline.storage.database import Database
from leadline.storage.migrate import upgrade
from leadline.storage.tables import Assignment, Event, EventKey, Lead, StageTransition, User

ORIGIN_TO_CHANNEL = {
    "organic_search": "seo", "paid_search": "sea", "social": "social", "display": "display", "email": "email",
    "referral": "referral", "direct_traffic": "direct", "other_publicities": "other", "other": "other",
    "unknown": "other", "": "other",
}


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture
def mqls(data_dir: Path) -> list[dict[str, str]]:
    return _read(data_dir / "olist_marketing_qualified_leads_dataset.csv")


@pytest.fixture
def deals(data_dir: Path) -> dict[str, dict[str, str]]:
    return {row["mql_id"]: row for row in _read(data_dir / "olist_closed_deals_dataset.csv")}


@pytest.fixture
def loaded(db: Database) -> DemoSummary:
    return load_demo(db)


def _count(db: Database, entity, *where) -> int:
    with db.read() as session:
        return session.scalar(select(func.count()).select_from(entity).where(*where))


def _snapshot(db: Database, workspace_id: int) -> dict[str, int]:
    return {
        "leads": _count(db, Lead, Lead.workspace_id == workspace_id),
        "customers": _count(db, Lead, Lead.workspace_id == workspace_id, Lead.stage == "customer"),
        "mqls": _count(db, Lead, Lead.workspace_id == workspace_id, Lead.stage == "mql"),
        "users": _count(db, User, User.workspace_id == workspace_id),
        "transitions": _count(db, StageTransition, StageTransition.workspace_id == workspace_id),
        "events": _count(db, Event, Event.workspace_id == workspace_id),
        "event_keys": _count(db, EventKey, EventKey.workspace_id == workspace_id),
    }


def test_counts_match_the_files_and_a_second_load_changes_nothing(db, mqls, deals):
    sdrs = {row["sdr_id"] for row in deals.values()}
    srs = {row["sr_id"] for row in deals.values()}
    expected = {"leads": len(mqls), "customers": len(deals), "mqls": len(mqls) - len(deals),
                "users": len(sdrs | srs) + 1, "transitions": len(mqls) + len(deals), "events": len(mqls),
                "event_keys": len(mqls)}
    assert (len(mqls), len(deals), len(sdrs), len(srs)) == (8000, 842, 32, 22)  # SOURCE.txt

    first = load_demo(db)
    assert first.new_leads == len(mqls)
    assert (first.leads, first.customers, first.owners, first.events) == (
        expected["leads"], expected["customers"], expected["users"], expected["events"])
    assert _snapshot(db, first.workspace_id) == expected
    # Every open MQL was routed to an SDR by the demo's rule; none was ever touched, so all are overdue now.
    assert first.routed_mqls == expected["mqls"] and first.overdue == expected["mqls"]

    second = load_demo(db)
    assert second.new_leads == 0
    assert (second.workspace_id, second.leads, second.customers, second.owners, second.events, second.routed_mqls,
            second.overdue) == (first.workspace_id, first.leads, first.customers, first.owners, first.events,
                                first.routed_mqls, first.overdue)
    assert _snapshot(db, first.workspace_id) == expected


def test_an_interrupted_load_is_completed_by_the_next_one(db, mqls, deals, monkeypatch):
    real = loader._load_chunk
    calls = 0

    def failing_after_three(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls > 3:
            raise RuntimeError("interrupted")
        return real(*args, **kwargs)

    monkeypatch.setattr(loader, "_load_chunk", failing_after_three)
    with pytest.raises(RuntimeError, match="interrupted"):
        load_demo(db)
    monkeypatch.setattr(loader, "_load_chunk", real)
    with db.read() as session:
        workspace_id = find_workspace(session, "demo").id
    partial = _count(db, Lead, Lead.workspace_id == workspace_id)
    assert partial == 3 * loader.CHUNK_LEADS  # committed chunk by chunk, each whole or not at all

    summary = load_demo(db)
    assert summary.new_leads == len(mqls) - partial
    assert _snapshot(db, workspace_id)["transitions"] == len(mqls) + len(deals)
    assert (summary.leads, summary.customers, summary.events) == (len(mqls), len(deals), len(mqls))


def test_conversion_by_origin_and_channels_match_the_file(db, loaded, mqls, deals):
    total = Counter(row["origin"] for row in mqls)
    won = Counter(row["origin"] for row in mqls if row["mql_id"] in deals)
    with db.read() as session:
        rows = session.execute(select(Lead.custom, Lead.stage, Lead.first_channel).where(
            Lead.workspace_id == loaded.workspace_id)).all()
    loaded_total = Counter((custom or {}).get("olist_origin", "") for custom, _, _ in rows)
    loaded_won = Counter((custom or {}).get("olist_origin", "") for custom, stage, _ in rows if stage == "customer")
    assert loaded_total == total
    assert loaded_won == won
    assert (won["paid_search"], total["paid_search"]) == (195, 1586)  # SOURCE.txt
    assert (won[""], total[""]) == (14, 60)  # missing origin: kept as missing, channel other

    channels = Counter(channel for _, _, channel in rows)
    expected_channels = Counter()
    for origin, n in total.items():
        expected_channels[ORIGIN_TO_CHANNEL[origin]] += n
    assert channels == expected_channels
    for custom, _, channel in rows:
        assert channel == ORIGIN_TO_CHANNEL[(custom or {}).get("olist_origin", "")]


def _roles(handle: str) -> list[str]:
    """sdr-1a2b3c4d -> [sdr]; sr-1a2b3c4d -> [sr]; sdr-sr-1a2b3c4d (the same person in both roles) -> both."""
    return handle.split("-")[:-1]


def test_customers_won_at_their_won_date_owned_by_their_sr(db, loaded, deals):
    with db.read() as session:
        users = {user.id: user for user in session.scalars(select(User).where(
            User.workspace_id == loaded.workspace_id))}
        leads = {lead.id: lead for lead in session.scalars(select(Lead).where(
            Lead.workspace_id == loaded.workspace_id, Lead.stage == "customer"))}
        won = session.execute(select(StageTransition).where(
            StageTransition.workspace_id == loaded.workspace_id, StageTransition.to_stage == "customer")).scalars()
        won_at = {leads[t.lead_id].external_id: t for t in won}
    assert set(won_at) == set(deals) and len(leads) == len(deals)
    for mql_id, deal in deals.items():
        transition = won_at[mql_id]
        expected = datetime.fromisoformat(deal["won_date"]).replace(tzinfo=UTC)
        assert transition.occurred_at == expected
        assert (transition.from_stage, transition.actor_type, transition.actor) == ("mql", "import", "olist demo")
    # The Olist people are reps; the demo adds one sales manager above them (see demo.routing).
    assert [u.handle for u in users.values() if u.role != "rep"] == [MANAGER_HANDLE]
    by_handle = {u.handle: u for u in users.values() if u.role == "rep"}
    assert sum("sdr" in _roles(h) for h in by_handle) == len({d["sdr_id"] for d in deals.values()})
    assert sum("sr" in _roles(h) for h in by_handle) == len({d["sr_id"] for d in deals.values()})
    for lead in leads.values():
        deal = deals[lead.external_id]
        owner = users[lead.owner_id]
        assert "sr" in _roles(owner.handle) and owner.handle.endswith("-" + deal["sr_id"][:8])
        assert owner.name.endswith(" " + deal["sr_id"][:8])
        sdr = by_handle[lead.custom["sdr"]]
        assert "sdr" in _roles(sdr.handle) and sdr.handle.endswith("-" + deal["sdr_id"][:8])
        for name in ("business_segment", "lead_type", "lead_behaviour_profile", "business_type"):
            assert lead.custom.get(name) == (deal[name] or None)  # empty values left out
        assert lead.custom["declared_monthly_revenue"] == float(deal["declared_monthly_revenue"])


def test_a_lead_looks_like_a_captured_lead_with_a_timeline(db, loaded, mqls, deals):
    row = next(r for r in mqls if r["origin"] == "paid_search" and r["mql_id"] in deals)
    first_contact = datetime.fromisoformat(row["first_contact_date"]).replace(tzinfo=UTC)
    with db.read() as session:
        lead = session.scalar(select(Lead).where(Lead.workspace_id == loaded.workspace_id,
                                                 Lead.external_id == row["mql_id"]))
        events = timeline(session, loaded.workspace_id, lead.id)
        history = session.scalars(select(StageTransition).where(StageTransition.lead_id == lead.id)
                                  .order_by(StageTransition.occurred_at)).all()
    assert lead.email == f"{row['mql_id']}@olist-demo.example.com"
    assert lead.created_at == lead.first_touch_at == first_contact
    assert lead.first_channel == "sea" and lead.custom["olist_origin"] == "paid_search"
    assert lead.first_touch == {"channel": "sea", "landing_page": f"/lp/{row['landing_page_id']}"}
    assert lead.last_channel == "sea" and lead.last_non_direct_channel == "sea"
    assert [(e.type, e.event_key, e.occurred_at, e.channel, e.path) for e in events] == [
        ("form_submit", f"olist-mql-{row['mql_id']}", first_contact, "sea", f"/lp/{row['landing_page_id']}")]
    assert [(t.from_stage, t.to_stage) for t in history] == [("new", "mql"), ("mql", "customer")]
    assert history[0].occurred_at == first_contact

    plain = next(r for r in mqls if r["mql_id"] not in deals and r["origin"] == "direct_traffic")
    with db.read() as session:
        lead = session.scalar(select(Lead).where(Lead.workspace_id == loaded.workspace_id,
                                                 Lead.external_id == plain["mql_id"]))
        history = session.scalars(select(StageTransition).where(StageTransition.lead_id == lead.id)).all()
        owner = session.get(User, lead.owner_id)
        assignments = session.scalars(select(Assignment).where(Assignment.lead_id == lead.id)).all()
    assert (lead.stage, lead.first_channel, lead.last_non_direct_touch) == ("mql", "direct", None)
    # Owned by an SDR through the demo's rule, routed in the week of first contact, and overdue (never touched).
    assert owner is not None and owner.handle.startswith("sdr-") and owner.timezone == "America/Sao_Paulo"
    assert [(a.rule, a.owner_id) for a in assignments] == [(RULE_NAME, owner.id)]
    assert lead.created_at <= lead.assigned_at < lead.follow_up_due_at <= lead.overdue_at
    assert [(t.from_stage, t.to_stage, t.occurred_at) for t in history] == [
        ("new", "mql", datetime.fromisoformat(plain["first_contact_date"]).replace(tzinfo=UTC))]


def test_the_data_ships_inside_the_package_with_its_licence(data_dir):
    packaged = loader.data_files()
    for name in (loader.MQL_FILE, loader.DEALS_FILE, "LICENSE-DATA.md", "SOURCE.txt"):
        assert (packaged / name).is_file(), name
    for name in (loader.MQL_FILE, loader.DEALS_FILE):
        assert (packaged / name).read_bytes() == (data_dir / name).read_bytes()
    licence = (packaged / "LICENSE-DATA.md").read_text(encoding="utf-8")
    for words in ("CC BY-NC-SA 4.0", "Olist", "kaggle.com/datasets/olistbr/marketing-funnel-olist",
                  "Non-commercial", "not** covered by Leadline's code licence", "Nothing in the files"):
        assert words in licence, words


def _leadline_command() -> list[str]:
    script = Path(sys.executable).with_name("leadline")
    return [str(script)] if script.exists() else [sys.executable, "-m", "leadline.cli.main"]


def test_cli_demo_loads_the_workspace_and_prints_a_working_key(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    env = {**os.environ, "LEADLINE_DATABASE_URL": url}
    keys = []
    for _ in range(2):  # a second run reuses the workspace and adds nothing
        result = subprocess.run([*_leadline_command(), "demo", "--no-serve"], env=env, capture_output=True,
                                text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        assert "8000 leads, 842 customers, 42 users, 8000 events" in result.stderr
        assert "7158 open MQLs routed to SDRs by a rule, 7158 overdue" in result.stderr
        assert result.stdout.count("\n") == 1  # the key alone on stdout
        assert "Log in to the app as demo@example.com with the password leadline-demo" in result.stderr
        keys.append(result.stdout.strip())
    upgrade(url)
    db = Database(url)
    try:
        with db.read() as session:
            workspace = find_workspace(session, "demo")
            for key in keys:
                principal = authenticate(session, key)
                assert principal is not None and principal.workspace_id == workspace.id
        assert _count(db, Lead, Lead.workspace_id == workspace.id) == 8000
    finally:
        db.dispose()

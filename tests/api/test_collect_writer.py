"""Group commit of snippet batches: requests waiting together share a transaction, each gets its own answer,
and one batch that cannot be stored does not take the others down with it."""

import asyncio
from dataclasses import replace

import pytest
from sqlalchemy import func, select

from leadline.api.collect_writer import CollectWriter
from leadline.api.deps import ConnectionGates
from leadline.core.tracking import parse_batch
from leadline.services.tracking import Delivery, configure_tracking, site_of
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.tables import Event


def _batch(visitor, n):
    return parse_batch({"consent": True, "visitor": visitor,
                        "events": [{"type": "page_view", "id": f"{visitor}-{i}", "props": {"path": "/"}}
                                   for i in range(n)]})


@pytest.fixture
def site(db):
    with db.write() as session:
        ws = get_or_create_workspace(session, "acme")
        return site_of(session, configure_tracking(session, ws.id, allowed_domains=["acme.fr"]))


def test_concurrent_batches_are_each_answered_with_their_own_result(db, site):
    async def run():
        writer = CollectWriter(db, ConnectionGates(db))
        return await asyncio.gather(*(writer.submit(Delivery(site, _batch(f"v1.visitor{i:04d}", i + 1)))
                                      for i in range(30)))

    results = asyncio.run(run())
    assert [r.accepted for r in results] == list(range(1, 31))
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == sum(range(1, 31))


def test_a_batch_that_cannot_be_stored_fails_alone(db, site, caplog):
    ghost = replace(site, workspace_id=999_999)  # no such workspace: its counters break a foreign key

    async def run():
        writer = CollectWriter(db, ConnectionGates(db))
        bad = parse_batch({"consent": False, "events": [{"type": "page_view", "props": {"path": "/"}}]})
        return await asyncio.gather(writer.submit(Delivery(site, _batch("v1.visitor-ok1", 2))),
                                    writer.submit(Delivery(ghost, bad)),
                                    writer.submit(Delivery(site, _batch("v1.visitor-ok2", 3))),
                                    return_exceptions=True)

    first, failed, third = asyncio.run(run())
    assert (first.accepted, third.accepted) == (2, 3)
    assert isinstance(failed, Exception)
    assert "storing its batches one by one" in caplog.text  # they had been grouped in one transaction
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Event)) == 5

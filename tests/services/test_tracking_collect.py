"""Batches received together are stored in one transaction, each answered with its own result."""

from sqlalchemy import func, select

from leadline.core.tracking import parse_batch
from leadline.services.tracking import Delivery, collect_many, configure_tracking, site_of
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.tables import Event, PageCount


def _batch(consent, visitor, *paths):
    return parse_batch({"consent": consent, "visitor": visitor,
                        "events": [{"type": "page_view", "id": f"{visitor}-{i}", "props": {"path": p}}
                                   for i, p in enumerate(paths)]})


def test_a_group_of_batches_from_two_workspaces_keeps_each_result_apart(db):
    with db.write() as session:
        sites = []
        for slug in ("acme", "globex"):
            ws = get_or_create_workspace(session, slug)
            sites.append(site_of(session, configure_tracking(session, ws.id, allowed_domains=[f"{slug}.com"])))
        acme, globex = sites
        results = collect_many(session, [
            Delivery(acme, _batch(True, "v1.visitor-a", "/", "/pricing")),
            Delivery(acme, _batch(False, None, "/", "/")),
            Delivery(globex, _batch(True, "v1.visitor-b", "/jobs")),
            Delivery(acme, _batch(True, "v1.visitor-a", "/")),  # a retry of the first batch's first event
            Delivery(acme, _batch(True, "v1.visitor-c", "/")),
            Delivery(globex, _batch(True, "v1.visitor-d", "/"), bot=True),
            Delivery(globex, _batch(True, "v1.visitor-e", "/"), gpc=True),
        ])
    assert [(r.accepted, r.duplicates, r.counted, r.bots) for r in results] == [
        (2, 0, 0, 0), (0, 0, 2, 0), (1, 0, 0, 0), (0, 1, 0, 0), (1, 0, 0, 0), (0, 0, 0, 1), (0, 0, 1, 0)]
    with db.read() as session:
        by_workspace = dict(session.execute(select(Event.workspace_id, func.count())
                                            .group_by(Event.workspace_id)).all())
        counts = {(c.workspace_id, c.audience, c.path): c.views for c in session.scalars(select(PageCount))}
    assert by_workspace == {acme.workspace_id: 3, globex.workspace_id: 1}
    assert counts == {(acme.workspace_id, "anonymous", "/"): 2, (globex.workspace_id, "bot", "/"): 1,
                      (globex.workspace_id, "anonymous", "/"): 1}

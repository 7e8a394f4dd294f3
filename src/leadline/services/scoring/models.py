"""Scoring model versions: parse a file, store it as a new version, activate one, find the active one.

An invalid model never replaces the active one: it is refused before anything is written.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import yaml
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from leadline.core.lead_input import FieldProblem
from leadline.core.scoring.model import InvalidScoringModel, ScoringModel, parse_model
from leadline.services.errors import Invalid, NotFound
from leadline.storage.tables import ScoringModelVersion, Workspace
from leadline.storage.types import utcnow

BUILT_IN = ("default-b2b", "default-b2c")


@dataclass(frozen=True, slots=True)
class ActiveModel:
    version: int
    model: ScoringModel


def built_in_source(name: str) -> str:
    if name not in BUILT_IN:
        raise NotFound(f"no built-in scoring model {name!r}; expected one of {', '.join(BUILT_IN)}")
    return (resources.files("leadline.core.scoring") / "defaults" / f"{name.removeprefix('default-')}.yaml"
            ).read_text(encoding="utf-8")


class _Loader(yaml.SafeLoader):
    """YAML 1.2 booleans: only true and false. YAML 1.1 also reads yes/no/on/off as booleans, so the
    country code NO (Norway) in `in: [FR, NO]` would silently become false."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))


def load_document(text: str) -> Any:
    """YAML or JSON (JSON is YAML); a syntax error says where."""
    try:
        return yaml.load(text, Loader=_Loader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "file"
        raise Invalid([FieldProblem(where, f"not valid YAML or JSON: {getattr(exc, 'problem', exc)}")]) from None


def validate(document: Any) -> ScoringModel:
    try:
        return parse_model(document)
    except InvalidScoringModel as exc:
        raise Invalid([FieldProblem(where or "model", why) for where, why in exc.problems]) from None


# Compiled models by (workspace, version, created_at): the creation time tells a version apart from another
# with the same number in a database that was emptied or restored.
_CacheKey = tuple[int, int, datetime]
_cache: dict[_CacheKey, ScoringModel] = {}
_cache_lock = threading.Lock()


def _compiled(key: _CacheKey, document: dict[str, Any]) -> ScoringModel:
    with _cache_lock:
        model = _cache.get(key)
    if model is None:
        model = parse_model(document)  # stored documents were validated when applied
        with _cache_lock:
            _cache[key] = model
    return model


def active_model(session: Session, workspace_id: int) -> ActiveModel | None:
    """The active model: one indexed lookup of its version; the compiled form is cached per version."""
    found = session.execute(select(ScoringModelVersion.version, ScoringModelVersion.created_at).where(
        ScoringModelVersion.workspace_id == workspace_id, ScoringModelVersion.active.is_(True)
    ).order_by(ScoringModelVersion.version.desc())).first()
    if found is None:
        return None
    key = (workspace_id, found[0], found[1])
    with _cache_lock:
        model = _cache.get(key)
    if model is None:
        document = session.scalar(select(ScoringModelVersion.document).where(
            ScoringModelVersion.workspace_id == workspace_id, ScoringModelVersion.version == found[0]))
        model = _compiled(key, document or {})
    return ActiveModel(found[0], model)


def model_version(session: Session, workspace_id: int, version: int) -> tuple[ScoringModelVersion, ScoringModel]:
    row = session.scalar(select(ScoringModelVersion).where(
        ScoringModelVersion.workspace_id == workspace_id, ScoringModelVersion.version == version))
    if row is None:
        raise NotFound(f"no scoring model version {version}", field="version")
    return row, _compiled((workspace_id, version, row.created_at), row.document)


def list_versions(session: Session, workspace_id: int) -> list[ScoringModelVersion]:
    return list(session.scalars(select(ScoringModelVersion).where(
        ScoringModelVersion.workspace_id == workspace_id).order_by(ScoringModelVersion.version.desc())))


def _lock_workspace(session: Session, workspace_id: int) -> None:
    """Model changes of one workspace go one at a time (PostgreSQL: a row lock; SQLite has one writer), so
    two at once can neither take the same version number nor leave two versions active."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Workspace.id).where(Workspace.id == workspace_id).with_for_update()).all()


def store_version(session: Session, workspace_id: int, document: dict[str, Any], *, source: str | None,
                  actor: str) -> ScoringModelVersion:
    """Save a validated model as the next version, not active yet."""
    model = validate(document)
    _lock_workspace(session, workspace_id)
    latest = session.scalar(select(func.max(ScoringModelVersion.version)).where(
        ScoringModelVersion.workspace_id == workspace_id)) or 0
    row = ScoringModelVersion(workspace_id=workspace_id, version=latest + 1, name=model.name,
                              document=json.loads(json.dumps(document, default=str)), source=source,
                              active=False, created_by=actor, created_at=utcnow())
    session.add(row)
    session.flush()
    return row


def activate(session: Session, workspace_id: int, version: int, *, at: datetime | None = None,
             actor: str = "system") -> ScoringModel:
    from leadline.services import audit  # scoring changes are audited (who changed how leads are profiled)

    _lock_workspace(session, workspace_id)
    row, model = model_version(session, workspace_id, version)
    audit.record(session, workspace_id=workspace_id, actor=actor, action=audit.AuditAction.SCORING_MODEL_CHANGED,
                 target_type="scoring_model", target_id=version, detail={"version": version, "name": row.name},
                 at=at)
    session.execute(update(ScoringModelVersion).where(
        ScoringModelVersion.workspace_id == workspace_id, ScoringModelVersion.active.is_(True)
    ).values(active=False))
    row.active = True
    row.activated_at = at or utcnow()
    session.flush()
    return model

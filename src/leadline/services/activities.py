"""Sales activity on a lead (calls, emails, meetings, notes) and follow-up tasks with reminders."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from leadline.core.lifecycle import Actor
from leadline.core.qualification import ActivityKind
from leadline.services import outbox
from leadline.services.errors import NotFound
from leadline.services.lifecycle import locked_lead
from leadline.storage.tables import Activity, Lead, SalesTask, User
from leadline.storage.types import utcnow

REMINDER_BATCH = 1000


def _check_user(session: Session, workspace_id: int, user_id: int | None, field: str) -> None:
    if user_id is not None and session.scalar(
            select(User.id).where(User.workspace_id == workspace_id, User.id == user_id)) is None:
        raise NotFound("user not found in this workspace", field=field)


def log_activity(session: Session, *, workspace_id: int, lead_id: int, kind: ActivityKind, actor: Actor,
                 occurred_at: datetime | None = None, user_id: int | None = None, subject: str | None = None,
                 body: str | None = None, outcome: str | None = None) -> Activity:
    """Record an activity; the first contact (not a note) sets the lead's `first_sales_touch_at`, which ends
    its follow-up deadline and is what speed-to-lead measures."""
    lead = locked_lead(session, workspace_id, lead_id)
    _check_user(session, workspace_id, user_id, "user_id")
    at = occurred_at or utcnow()
    activity = Activity(workspace_id=workspace_id, lead_id=lead.id, kind=kind.value, occurred_at=at,
                        user_id=user_id, actor=actor.label(), subject=subject, body=body, outcome=outcome)
    session.add(activity)
    if kind.is_contact and (lead.first_sales_touch_at is None or at < lead.first_sales_touch_at):
        lead.first_sales_touch_at = at
    session.flush()
    return activity


def activities_of(session: Session, *, workspace_id: int, lead_id: int) -> list[Activity]:
    _exists(session, workspace_id, lead_id)
    return list(session.scalars(select(Activity).where(Activity.workspace_id == workspace_id,
                                                       Activity.lead_id == lead_id)
                                .order_by(Activity.occurred_at.desc(), Activity.id.desc())))


def _exists(session: Session, workspace_id: int, lead_id: int) -> None:
    if session.scalar(select(Lead.id).where(Lead.workspace_id == workspace_id, Lead.id == lead_id)) is None:
        raise NotFound("lead not found")


def add_task(session: Session, *, workspace_id: int, lead_id: int, title: str, actor: Actor,
             due_at: datetime | None = None, remind_at: datetime | None = None,
             assignee_id: int | None = None) -> SalesTask:
    lead = locked_lead(session, workspace_id, lead_id)
    _check_user(session, workspace_id, assignee_id, "assignee_id")
    task = SalesTask(workspace_id=workspace_id, lead_id=lead.id, title=title, due_at=due_at, remind_at=remind_at,
                     assignee_id=assignee_id if assignee_id is not None else lead.owner_id,
                     created_by=actor.label())
    session.add(task)
    session.flush()
    return task


def tasks_of(session: Session, *, workspace_id: int, lead_id: int) -> list[SalesTask]:
    _exists(session, workspace_id, lead_id)
    return list(session.scalars(select(SalesTask).where(SalesTask.workspace_id == workspace_id,
                                                        SalesTask.lead_id == lead_id)
                                .order_by(SalesTask.done_at.is_not(None), SalesTask.due_at, SalesTask.id)))


def complete_task(session: Session, *, workspace_id: int, task_id: int, done: bool,
                  now: datetime | None = None) -> SalesTask:
    task = session.scalars(select(SalesTask).where(SalesTask.workspace_id == workspace_id,
                                                   SalesTask.id == task_id).with_for_update()).first()
    if task is None:
        raise NotFound("task not found")
    task.done_at = (task.done_at or now or utcnow()) if done else None
    session.flush()
    return task


def send_due_reminders(session: Session, *, now: datetime, limit: int = REMINDER_BATCH) -> int:
    """Emit `task.reminder` for open tasks whose reminder time has come (once each)."""
    due = session.execute(select(SalesTask.id, SalesTask.workspace_id, SalesTask.lead_id, SalesTask.assignee_id)
                          .where(SalesTask.remind_at <= now, SalesTask.reminded_at.is_(None),
                                 SalesTask.done_at.is_(None))
                          .order_by(SalesTask.remind_at).limit(limit)).all()
    for task_id, workspace_id, lead_id, assignee_id in due:
        outbox.emit(session, workspace_id=workspace_id, topic="task.reminder", lead_id=lead_id, now=now,
                    payload={"task_id": task_id, "assignee_id": assignee_id})
    if due:
        session.execute(update(SalesTask).where(SalesTask.id.in_([row[0] for row in due])).values(reminded_at=now))
    return len(due)

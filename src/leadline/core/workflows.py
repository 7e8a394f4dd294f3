"""Nurture workflows without I/O: the definition format (`leadline-workflow/1`) and the step function.

A workflow is written as YAML or JSON and validated (Pydantic) into an immutable definition; every problem is
reported with its path (`steps[2].branch.if.where.all[0]`) and reason. A running enrolment is advanced by one
pure function::

    advance(definition, state, now, facts) -> (state, commands)

It runs the steps that are due, in order, until it must wait (a `wait`, a `wait_until` not yet satisfied) or
the workflow ends; it never does I/O. The engine (`leadline.nurture.engine`) gathers the facts a step needs
(the lead's stage, whether a branch condition holds, whether an awaited event happened), runs the function in
the transaction that also stores the new state, and carries out the commands in the same transaction. Each
enrolment stays pinned to the definition version it started with.

Format::

    format: leadline-workflow/1
    key: whitepaper-follow-up           # stable name; each save is a new version
    name: White paper follow-up
    trigger: {event: download, properties: {asset: whitepaper}}   # where: a filter on the lead
    re_entry: never                      # never | after_exit | {after_days: N}
    steps:
      - {id: thanks, send_email: {subject: "Your copy, {{ lead.first_name }}", html: "...", text: "..."}}
      - {id: pause, wait: {days: 2}}
      - {id: clicked, wait_until: {event: email_click, timeout: {days: 3}}}
      - {id: hot, branch: {if: {field: score, at_least: 40}, then: call, else: case-study}}
      - {id: call, notify_owner: {message: "Read the white paper and clicked"}}
      - {id: case-study, send_email: {...}, next: end}
      - {id: test, split: [{weight: 50, goto: a}, {weight: 50, goto: b}]}
      - {id: tag, set_field: {field: custom.nurtured, value: true}}
      - {id: stage, set_stage: {stage: recycled, reason: nurture_finished}}
      - {id: list, add_to_list: "Nurtured"}      # or remove_from_list
      - {id: crm, webhook: {name: crm-sync}}
    exit: {stages: [sql, opportunity, customer, disqualified], unsubscribed: true}
    goals: [{name: Became MQL, stage: mql, exit: true}, {name: Asked for a quote, event: quote_request}]
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from leadline.core.leads import EVENT_TYPE_PATTERN, Stage
from leadline.core.segments import Filter, FilterError, parse_filter

FORMAT = "leadline-workflow/1"
MAX_STEPS = 100
#: How many steps one `advance` may run before yielding (a branch loop with no wait cannot spin forever).
MAX_STEPS_PER_RUN = 50
END = "end"
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_EVENT = EVENT_TYPE_PATTERN
SETTABLE_FIELDS = frozenset({"job_title", "language", "status"})
EXIT_STAGES_DEFAULT = ("sql", "opportunity", "customer", "disqualified")


class InvalidWorkflow(ValueError):
    """A workflow that cannot run: `problems` lists (where, why), all at once."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{where}: {why}" if where else why for where, why in problems))
        self.problems = problems


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Duration(_Model):
    days: float = Field(default=0, ge=0, le=3660)
    hours: float = Field(default=0, ge=0, le=87_840)
    minutes: float = Field(default=0, ge=0, le=5_270_400)
    seconds: float = Field(default=0, ge=0, le=316_224_000)

    @model_validator(mode="after")
    def _positive(self) -> Duration:
        if self.delta() <= timedelta(0):
            raise ValueError("a duration must be longer than zero (days, hours, minutes or seconds)")
        return self

    def delta(self) -> timedelta:
        return timedelta(days=self.days, hours=self.hours, minutes=self.minutes, seconds=self.seconds)


def _check_event_type(value: str) -> str:
    if not _EVENT.fullmatch(value):
        raise ValueError(f"{value!r} is not an event type (lowercase letters, digits and _)")
    return value


def _check_filter(value: Any) -> dict[str, Any]:
    """A condition in the segment filter language: a bare `where` node, or a whole filter document."""
    document = value if isinstance(value, Mapping) and "format" in value else {"format": "leadline-filter/1",
                                                                                  "where": value}
    try:
        parse_filter(document)
    except FilterError as error:
        raise ValueError(f"{error.where or 'where'}: {error.reason}") from None
    return dict(document)


class EventTrigger(_Model):
    event: str
    properties: dict[str, str | int | float | bool] | None = Field(
        default=None, max_length=10, description="The event's properties must equal these (e.g. asset: whitepaper).")
    where: dict[str, Any] | None = Field(default=None, description="A filter on the lead at enrolment time.")

    _event = field_validator("event")(_check_event_type)

    @field_validator("where")
    @classmethod
    def _where(cls, value: Any) -> dict[str, Any] | None:
        return None if value is None else _check_filter(value)


class SegmentTrigger(_Model):
    segment_entered: str = Field(min_length=1, max_length=200)


class StageTrigger(_Model):
    stage: Stage


class MqlReadyTrigger(_Model):
    score_crosses: Literal["mql"] = Field(description="The lead's score crosses the MQL threshold.")


class TemperatureTrigger(_Model):
    temperature_reaches: Literal["warm", "hot"] = Field(description=(
        "The lead's temperature rises to this band or above (by an event, a profile change or a rescore)."))


class FormTrigger(_Model):
    form: str = Field(min_length=1, max_length=200, description="A form key: its `form_submit` events enrol.")


Trigger = EventTrigger | SegmentTrigger | StageTrigger | MqlReadyTrigger | TemperatureTrigger | FormTrigger


class AfterDays(_Model):
    after_days: float = Field(gt=0, le=3660)


class EmailTemplate(_Model):
    subject: str = Field(min_length=1, max_length=500)
    html: str | None = Field(default=None, max_length=200_000)
    text: str = Field(min_length=1, max_length=100_000)
    from_name: str | None = Field(default=None, max_length=200)


class WaitUntil(_Model):
    event: str | None = None
    date: datetime | None = None
    timeout: Duration | None = None

    _event = field_validator("event")(lambda v: None if v is None else _check_event_type(v))

    @model_validator(mode="after")
    def _one(self) -> WaitUntil:
        if (self.event is None) == (self.date is None):
            raise ValueError("wait_until needs exactly one of `event` or `date`")
        if self.event is not None and self.timeout is None:
            raise ValueError("waiting for an event needs a `timeout` (the lead may never do it)")
        if self.date is not None and self.date.tzinfo is None:
            raise ValueError("the date must carry a time zone (e.g. 2026-12-01T09:00:00+01:00)")
        return self


class Branch(_Model):
    if_: dict[str, Any] = Field(alias="if")
    then: str
    else_: str = Field(alias="else")

    @field_validator("if_")
    @classmethod
    def _cond(cls, value: Any) -> dict[str, Any]:
        return _check_filter(value)


class SplitArm(_Model):
    weight: float = Field(gt=0, le=1_000_000)
    goto: str


class SetField(_Model):
    field: str
    value: str | int | float | bool | None

    @field_validator("field")
    @classmethod
    def _field(cls, value: str) -> str:
        prefix, _, key = value.partition(".")
        if value in SETTABLE_FIELDS or (prefix == "custom" and re.fullmatch(r"[A-Za-z0-9_-]{1,64}", key)):
            return value
        raise ValueError(f"cannot set {value!r}: one of {', '.join(sorted(SETTABLE_FIELDS))} or custom.<key>")


class SetStage(_Model):
    stage: Stage
    reason: str | None = Field(default=None, max_length=200)


class NotifyOwner(_Model):
    message: str = Field(min_length=1, max_length=300)


class Webhook(_Model):
    name: str = Field(min_length=1, max_length=100)


class Step(_Model):
    """One step: `id`, exactly one action, and optionally `next` (a step id or `end`; default: the next one)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: str
    next: str | None = None
    send_email: EmailTemplate | None = None
    wait: Duration | None = None
    wait_until: WaitUntil | None = None
    branch: Branch | None = None
    split: list[SplitArm] | None = Field(default=None, min_length=2, max_length=20)
    set_field: SetField | None = None
    set_stage: SetStage | None = None
    add_to_list: str | None = Field(default=None, min_length=1, max_length=200)
    remove_from_list: str | None = Field(default=None, min_length=1, max_length=200)
    notify_owner: NotifyOwner | None = None
    webhook: Webhook | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if value == END or not _ID.fullmatch(value):
            raise ValueError("a step id is 1-64 lowercase letters, digits, - and _ (and not `end`)")
        return value

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        given = [name for name in ACTIONS if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError(f"a step has exactly one action, one of: {', '.join(ACTIONS)}"
                             + (f" (found {', '.join(given)})" if given else ""))
        return self

    @property
    def action(self) -> str:
        return next(name for name in ACTIONS if getattr(self, name) is not None)


ACTIONS = ("send_email", "wait", "wait_until", "branch", "split", "set_field", "set_stage", "add_to_list",
           "remove_from_list", "notify_owner", "webhook")


class ExitRules(_Model):
    stages: list[Stage] = Field(default_factory=lambda: [Stage(s) for s in EXIT_STAGES_DEFAULT])
    unsubscribed: bool = True


class Goal(_Model):
    name: str = Field(min_length=1, max_length=200)
    stage: Stage | None = None
    event: str | None = None
    exit: bool = False

    _event = field_validator("event")(lambda v: None if v is None else _check_event_type(v))

    @model_validator(mode="after")
    def _one(self) -> Goal:
        if (self.stage is None) == (self.event is None):
            raise ValueError("a goal is reached by exactly one of `stage` or `event`")
        return self


class WorkflowDefinition(_Model):
    format: Literal["leadline-workflow/1"]
    key: str
    name: str = Field(min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=2000)
    trigger: Trigger
    re_entry: Literal["never", "after_exit"] | AfterDays = "never"
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    exit: ExitRules = Field(default_factory=ExitRules)
    goals: list[Goal] = Field(default_factory=list, max_length=20)

    @field_validator("key")
    @classmethod
    def _key(cls, value: str) -> str:
        if not _ID.fullmatch(value):
            raise ValueError("a key is 1-64 lowercase letters, digits, - and _")
        return value

    @model_validator(mode="after")
    def _targets(self) -> WorkflowDefinition:
        ids = [s.id for s in self.steps]
        seen: set[str] = set()
        for i, step in enumerate(self.steps):
            if step.id in seen:
                raise ValueError(f"steps[{i}].id: {step.id!r} is used twice")
            seen.add(step.id)
        known = set(ids) | {END}
        for i, step in enumerate(self.steps):
            targets = [("next", step.next)]
            if step.branch is not None:
                targets += [("branch.then", step.branch.then), ("branch.else", step.branch.else_)]
            for j, arm in enumerate(step.split or []):
                targets.append((f"split[{j}].goto", arm.goto))
            for where, target in targets:
                if target is not None and target not in known:
                    raise ValueError(f"steps[{i}].{where}: no step {target!r} (known: {', '.join(ids)}, end)")
        return self

    def index(self, step_id: str) -> int | None:
        for i, step in enumerate(self.steps):
            if step.id == step_id:
                return i
        return None

    def event_types_awaited(self) -> set[str]:
        """Event types some `wait_until` or goal listens for (they wake the enrolment)."""
        found = {s.wait_until.event for s in self.steps if s.wait_until is not None and s.wait_until.event}
        return found | {g.event for g in self.goals if g.event}

    def branch_filters(self) -> dict[str, Filter]:
        return {s.id: parse_filter(s.branch.if_) for s in self.steps if s.branch is not None}

    def re_entry_delay(self) -> timedelta | None:
        """None: never again; otherwise how long after leaving a lead may enter again."""
        if self.re_entry == "never":
            return None
        if self.re_entry == "after_exit":
            return timedelta(0)
        assert isinstance(self.re_entry, AfterDays)
        return timedelta(days=self.re_entry.after_days)


def _where(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part in {"EventTrigger", "SegmentTrigger", "StageTrigger", "MqlReadyTrigger", "FormTrigger",
                      "TemperatureTrigger",
                      "AfterDays", "str", "literal['never','after_exit']", "function-after[_one(), WaitUntil]"}:
            continue
        else:
            out += ("." if out else "") + str(part)
    return out


_PLACED = re.compile(r"^(steps\[\d+\][\w.\[\]]*): (.*)$", re.DOTALL)


def parse_workflow(raw: Any) -> WorkflowDefinition:
    """Validate a workflow document (already loaded from YAML or JSON); raises InvalidWorkflow."""
    if not isinstance(raw, Mapping):
        raise InvalidWorkflow([("", "a workflow is a mapping (YAML or JSON object)")])
    if raw.get("format") != FORMAT:
        raise InvalidWorkflow([("format", f"expected {FORMAT!r}")])
    try:
        return WorkflowDefinition.model_validate(raw)
    except ValidationError as error:
        problems: list[tuple[str, str]] = []
        for item in error.errors():
            message = str(item["msg"]).removeprefix("Value error, ")
            where = _where(item["loc"])
            placed = _PLACED.match(message) if not where else None
            if placed:  # a whole-document check names its own place
                where, message = placed[1], placed[2]
            if "trigger" in where and item["type"] in {"missing", "extra_forbidden"}:
                message = ("a trigger is one of {event: T [, where: F]}, {segment_entered: NAME}, {stage: S}, "
                           "{score_crosses: mql}, {temperature_reaches: warm|hot} or {form: KEY}")
                where = "trigger"
            problems.append((where, message))
        unique = list(dict.fromkeys(problems))
        raise InvalidWorkflow(unique) from None


# -- running ---------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class EnrolmentState:
    """Where an enrolment is: the step it is at (`position`, an index; len(steps) is the end), since when, and
    how many steps it has applied (`seq`: each applied step gets the next number, written once)."""

    position: int = 0
    seq: int = 0
    step_started_at: datetime | None = None
    status: Literal["active", "completed", "exited"] = "active"
    exit_reason: str | None = None
    due_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Facts:
    """What the engine found out for this run (it knows which step the enrolment is at)."""

    stage: str
    unsubscribed: bool = False
    #: Branch step id -> whether its condition holds for the lead now.
    conditions: Mapping[str, bool] = field(default_factory=dict)
    #: Event types the lead recorded since its current step started.
    events_since_step: frozenset[str] = frozenset()
    lead_id: int = 0


# Commands: what the engine must do, in the transaction that stores the new state.
@dataclass(frozen=True, slots=True)
class SendEmail:
    step: str


@dataclass(frozen=True, slots=True)
class SetLeadField:
    step: str
    field: str
    value: Any


@dataclass(frozen=True, slots=True)
class MoveStage:
    step: str
    stage: str
    reason: str | None


@dataclass(frozen=True, slots=True)
class ChangeList:
    step: str
    list_name: str
    add: bool


@dataclass(frozen=True, slots=True)
class NotifyLeadOwner:
    step: str
    message: str


@dataclass(frozen=True, slots=True)
class CallWebhook:
    step: str
    name: str


@dataclass(frozen=True, slots=True)
class StepApplied:
    """A step ran: `seq` is its number in this enrolment, `outcome` a short word (sent, waited, then, else...)."""

    step: str
    seq: int
    outcome: str


Command = SendEmail | SetLeadField | MoveStage | ChangeList | NotifyLeadOwner | CallWebhook | StepApplied


def exit_reason(definition: WorkflowDefinition, facts: Facts) -> str | None:
    if definition.exit.unsubscribed and facts.unsubscribed:
        return "unsubscribed"
    if facts.stage in {s.value for s in definition.exit.stages}:
        return f"stage:{facts.stage}"
    return None


def split_bucket(lead_id: int, workflow_key: str, step_id: str) -> float:
    """A number in [0, 1) fixed per (lead, workflow, step): the same lead always takes the same arm."""
    digest = hashlib.sha256(f"{workflow_key}:{step_id}:{lead_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _choose_arm(arms: Sequence[SplitArm], bucket: float) -> str:
    total = sum(a.weight for a in arms)
    edge = 0.0
    for arm in arms:
        edge += arm.weight / total
        if bucket < edge:
            return arm.goto
    return arms[-1].goto


def _target(definition: WorkflowDefinition, position: int, goto: str | None) -> int:
    if goto is None:
        return position + 1
    if goto == END:
        return len(definition.steps)
    found = definition.index(goto)
    assert found is not None  # checked when the definition was parsed
    return found


def advance(definition: WorkflowDefinition, state: EnrolmentState, now: datetime, facts: Facts
            ) -> tuple[EnrolmentState, list[Command]]:
    """Run the enrolment's due steps: returns the new state (with `due_at`, when to come back, or a final
    status) and the commands to carry out. Pure: the same inputs give the same outputs."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if state.status != "active":
        return state, []
    reason = exit_reason(definition, facts)
    if reason is not None:
        return replace(state, status="exited", exit_reason=reason, due_at=None), []
    commands: list[Command] = []
    position, seq = state.position, state.seq
    started = state.step_started_at or now
    for _ in range(MAX_STEPS_PER_RUN):
        if position >= len(definition.steps):
            return EnrolmentState(position, seq, now, "completed", None, None), commands
        step = definition.steps[position]
        outcome, goto, wait_until = _run(definition, step, started, now, facts)
        if wait_until is not None:  # not done yet: come back then
            return EnrolmentState(position, seq, started, "active", None, wait_until), commands
        seq += 1
        commands.extend(_effects(step))
        commands.append(StepApplied(step.id, seq, outcome))
        position = _target(definition, position, goto if goto is not None else step.next)
        started = now
        facts = replace(facts, events_since_step=frozenset())  # events counted for the step that just ended
    return EnrolmentState(position, seq, started, "active", None, now), commands


def _run(definition: WorkflowDefinition, step: Step, started: datetime, now: datetime, facts: Facts
         ) -> tuple[str, str | None, datetime | None]:
    """(outcome, goto, wait-until): a wait-until time means the step is not finished."""
    if step.wait is not None:
        end = started + step.wait.delta()
        return ("waited", None, None) if now >= end else ("", None, end)
    if step.wait_until is not None:
        w = step.wait_until
        if w.date is not None:
            end = w.date.astimezone(UTC)
            return ("date reached", None, None) if now >= end else ("", None, end)
        assert w.event is not None and w.timeout is not None
        if w.event in facts.events_since_step:
            return ("event", None, None)
        deadline = started + w.timeout.delta()
        return ("timed out", None, None) if now >= deadline else ("", None, deadline)
    if step.branch is not None:
        holds = facts.conditions.get(step.id, False)
        return ("then" if holds else "else", step.branch.then if holds else step.branch.else_, None)
    if step.split is not None:
        goto = _choose_arm(step.split, split_bucket(facts.lead_id, definition.key, step.id))
        return (f"arm:{goto}", goto, None)
    return (step.action, None, None)


def _effects(step: Step) -> list[Command]:
    if step.send_email is not None:
        return [SendEmail(step.id)]
    if step.set_field is not None:
        return [SetLeadField(step.id, step.set_field.field, step.set_field.value)]
    if step.set_stage is not None:
        return [MoveStage(step.id, step.set_stage.stage.value, step.set_stage.reason)]
    if step.add_to_list is not None:
        return [ChangeList(step.id, step.add_to_list, True)]
    if step.remove_from_list is not None:
        return [ChangeList(step.id, step.remove_from_list, False)]
    if step.notify_owner is not None:
        return [NotifyLeadOwner(step.id, step.notify_owner.message)]
    if step.webhook is not None:
        return [CallWebhook(step.id, step.webhook.name)]
    return []


def goals_reached(definition: WorkflowDefinition, *, stage: str | None = None, event: str | None = None
                  ) -> list[Goal]:
    return [g for g in definition.goals
            if (stage is not None and g.stage is not None and g.stage.value == stage)
            or (event is not None and g.event == event)]


def next_step_waits_on(definition: WorkflowDefinition, position: int) -> str | None:
    """The event type the enrolment's current step waits for, if any."""
    if position >= len(definition.steps):
        return None
    w = definition.steps[position].wait_until
    return w.event if w is not None else None

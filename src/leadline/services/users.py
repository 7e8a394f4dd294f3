"""Workspace users (reps, managers, admins, marketers) with what routing needs: territory, capacity, daily
quota, time zone, working hours, public holidays, availability, manager."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field, field_validator, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from leadline.core.follow_up import format_working_hours, parse_working_hours, public_holidays, zone
from leadline.core.lead_input import FieldProblem
from leadline.core.routing import Role
from leadline.services.errors import Conflict, Invalid, NotFound
from leadline.storage.tables import User

_COUNTRY = re.compile(r"^[A-Z]{2}$")


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("timestamp needs a time zone (e.g. 2026-01-31T12:00:00Z)")
    return value


def _countries(values: list[str]) -> list[str]:
    cleaned = sorted({v.strip().upper() for v in values})
    bad = [v for v in cleaned if not _COUNTRY.fullmatch(v)]
    if bad:
        raise ValueError(f"not ISO 3166-1 alpha-2 country codes: {', '.join(bad)}")
    return cleaned


def _regions(values: list[str]) -> list[str]:
    return sorted({v.strip().upper() for v in values if v.strip()})


def _timezone(value: str) -> str:
    zone(value)
    return value


def _hours(value: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else format_working_hours(parse_working_hours(value))


Countries = Annotated[list[Annotated[str, Field(max_length=2)]], Field(max_length=300), AfterValidator(_countries)]
Regions = Annotated[list[Annotated[str, Field(max_length=50)]], Field(max_length=300), AfterValidator(_regions)]
TimeZone = Annotated[str, Field(max_length=64, examples=["Europe/Paris"]), AfterValidator(_timezone)]
Hours = Annotated[dict[str, Any] | None, Field(examples=[{"mon": ["09:00-12:30", "13:30-18:00"]}],
                                               description="Windows per day; days left out do not work; "
                                                           "null: Monday to Friday 09:00-17:00"),
                  AfterValidator(_hours)]


class _UserFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("holiday_country", check_fields=False)
    @classmethod
    def _known_country(cls, value: str | None) -> str | None:
        if value:
            public_holidays(value.upper())  # ValueError if the holidays library does not know it
        return value.upper() if value else None

    @model_validator(mode="after")
    def _holidays_known(self) -> _UserFields:
        country = getattr(self, "holiday_country", None)
        if country:
            public_holidays(country, getattr(self, "holiday_subdivision", None))  # ValueError if unknown
        return self


class UserIn(_UserFields):
    handle: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9._@+-]+$")
    name: str = Field(min_length=1, max_length=200)
    email: EmailStr | None = None
    role: Role = Role.REP
    territory_countries: Countries = Field(default_factory=list)
    territory_regions: Regions = Field(default_factory=list)
    capacity: float = Field(default=1.0, ge=0, le=1000, description="Relative weight; 0 takes no new leads")
    daily_quota: int | None = Field(default=None, ge=0, le=100_000)
    timezone: TimeZone = "UTC"
    working_hours: Hours = None
    holiday_country: str | None = Field(default=None, min_length=2, max_length=2)
    holiday_subdivision: str | None = Field(default=None, max_length=10)
    away: bool = False
    away_until: Annotated[datetime | None, AfterValidator(_aware)] = None
    manager_id: str | None = None
    active: bool = True


class UserPatch(_UserFields):
    """Only the fields given change; null clears an optional one."""

    name: str | None = Field(default=None, min_length=1, max_length=200)
    email: EmailStr | None = None
    role: Role | None = None
    territory_countries: Countries | None = None
    territory_regions: Regions | None = None
    capacity: float | None = Field(default=None, ge=0, le=1000)
    daily_quota: int | None = Field(default=None, ge=0, le=100_000)
    timezone: TimeZone | None = None
    working_hours: Hours = None
    holiday_country: str | None = Field(default=None, min_length=2, max_length=2)
    holiday_subdivision: str | None = Field(default=None, max_length=10)
    away: bool | None = None
    away_until: Annotated[datetime | None, AfterValidator(_aware)] = None
    manager_id: str | None = None
    active: bool | None = None


#: Fields a patch may not set to null.
_REQUIRED = frozenset({"name", "role", "territory_countries", "territory_regions", "capacity", "timezone",
                       "away", "active"})


class UserView(BaseModel):
    id: str
    handle: str
    name: str
    email: str | None
    role: str
    territory_countries: list[str]
    territory_regions: list[str]
    capacity: float
    daily_quota: int | None
    timezone: str
    working_hours: dict[str, Any]
    holiday_country: str | None
    holiday_subdivision: str | None
    away: bool
    away_until: datetime | None
    available: bool = Field(description="Active and not away now: routing may give this user new leads")
    manager_id: str | None
    active: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User, now: datetime) -> UserView:
        return cls(id=str(user.id), handle=user.handle, name=user.name, email=user.email, role=user.role,
                   territory_countries=list(user.territory_countries or []),
                   territory_regions=list(user.territory_regions or []), capacity=user.capacity,
                   daily_quota=user.daily_quota, timezone=user.timezone,
                   working_hours=format_working_hours(parse_working_hours(user.working_hours)),
                   holiday_country=user.holiday_country, holiday_subdivision=user.holiday_subdivision,
                   away=user.away, away_until=user.away_until, available=is_available(user, now),
                   manager_id=str(user.manager_id) if user.manager_id is not None else None,
                   active=user.active, created_at=user.created_at)


def is_available(user: User, now: datetime) -> bool:
    """Active, and not away (an away with an end date is over once that date passes)."""
    away = user.away and (user.away_until is None or user.away_until > now)
    return user.active and not away


def get_user(session: Session, workspace_id: int, user_id: int) -> User:
    user = session.scalar(select(User).where(User.workspace_id == workspace_id, User.id == user_id))
    if user is None:
        raise NotFound("user not found")
    return user


def find_user(session: Session, workspace_id: int, ref: str) -> User:
    """By handle, email or id (the CLI's way of naming a user)."""
    query = select(User).where(User.workspace_id == workspace_id)
    for column in (User.handle, User.email):
        user = session.scalar(query.where(column == ref))
        if user is not None:
            return user
    if ref.isdigit() and len(ref) < 19:
        return get_user(session, workspace_id, int(ref))
    raise NotFound(f"no user {ref!r}")


def _manager(session: Session, workspace_id: int, ref: str | None, user_id: int | None) -> int | None:
    if ref is None:
        return None
    manager = session.scalar(select(User).where(User.workspace_id == workspace_id, User.id == int(ref))
                             ) if ref.isdigit() and len(ref) < 19 else None
    if manager is None:
        raise Invalid([_problem("manager_id", "no such user in this workspace")])
    if manager.id == user_id:
        raise Invalid([_problem("manager_id", "a user cannot be their own manager")])
    return manager.id


def _problem(field: str, reason: str) -> FieldProblem:
    return FieldProblem(field, reason)


def create_user(session: Session, *, workspace_id: int, data: UserIn) -> User:
    if session.scalar(select(User.id).where(User.workspace_id == workspace_id, User.handle == data.handle)):
        raise Conflict(f"a user with handle {data.handle!r} already exists", field="handle")
    fields = data.model_dump(exclude={"manager_id"})
    user = User(workspace_id=workspace_id, **fields,
                manager_id=_manager(session, workspace_id, data.manager_id, None))
    session.add(user)
    session.flush()
    return user


def update_user(session: Session, *, workspace_id: int, user_id: int, patch: UserPatch) -> User:
    user = get_user(session, workspace_id, user_id)
    changes = patch.model_dump(exclude_unset=True)
    nulls = sorted(k for k, v in changes.items() if v is None and k in _REQUIRED)
    if nulls:
        raise Invalid([_problem(k, "cannot be null") for k in nulls])
    if "manager_id" in changes:
        changes["manager_id"] = _manager(session, workspace_id, changes["manager_id"], user.id)
    if changes.get("away") is False:
        changes.setdefault("away_until", None)
    for key, value in changes.items():
        setattr(user, key, value)
    if user.holiday_subdivision and not user.holiday_country:
        raise Invalid([_problem("holiday_subdivision", "needs holiday_country")])
    if user.holiday_country:
        try:
            public_holidays(user.holiday_country, user.holiday_subdivision)
        except ValueError as exc:
            raise Invalid([_problem("holiday_subdivision", str(exc))]) from exc
    session.flush()
    return user


def list_users(session: Session, *, workspace_id: int, role: str | None = None,
               active: bool | None = None) -> list[User]:
    query = select(User).where(User.workspace_id == workspace_id).order_by(User.handle)
    if role is not None:
        query = query.where(User.role == role)
    if active is not None:
        query = query.where(User.active == active)
    return list(session.scalars(query))

"""Users of a workspace: reps, managers, admins, marketers, with what routing needs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from leadline.api.deps import Admin, Reader, ReadSession, WriteSession, parse_id
from leadline.core.routing import Role
from leadline.services.users import UserIn, UserPatch, UserView, create_user, get_user, list_users, update_user
from leadline.storage.types import utcnow

router = APIRouter(prefix="/api/v1/users", tags=["users"])


@router.post("", response_model=UserView, status_code=201)
def add_user(body: UserIn, principal: Admin, session: WriteSession) -> UserView:
    """Add a user (409 if the handle is taken)."""
    return UserView.of(create_user(session, workspace_id=principal.workspace_id, data=body), utcnow())


@router.get("", response_model=list[UserView])
def users(principal: Reader, session: ReadSession, role: Role | None = None,
          active: Annotated[bool | None, Query(description="Only active (true) or inactive (false) users")] = None,
          ) -> list[UserView]:
    now = utcnow()
    return [UserView.of(u, now) for u in list_users(session, workspace_id=principal.workspace_id,
                                                    role=role.value if role else None, active=active)]


@router.get("/{user_id}", response_model=UserView)
def read_user(user_id: str, principal: Reader, session: ReadSession) -> UserView:
    return UserView.of(get_user(session, principal.workspace_id, parse_id(user_id, "user")), utcnow())


@router.patch("/{user_id}", response_model=UserView)
def patch_user(user_id: str, body: UserPatch, principal: Admin, session: WriteSession) -> UserView:
    """Change the fields given; `{"away": true, "away_until": "..."}` marks a rep away."""
    user = update_user(session, workspace_id=principal.workspace_id, user_id=parse_id(user_id, "user"), patch=body)
    return UserView.of(user, utcnow())

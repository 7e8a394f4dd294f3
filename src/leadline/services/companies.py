"""Companies (B2B accounts): found by domain, from the lead's email unless it is a free-mail address."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from leadline.core.contacts import email_domain
from leadline.core.freemail import is_free_mail
from leadline.core.lead_input import CompanyInput
from leadline.services.errors import Conflict, NotFound
from leadline.storage.tables import Company

COMPANY_FIELDS = ("name", "domain", "industry", "size", "revenue", "country")


def company_domain_for(company: CompanyInput | None, email: str | None) -> str | None:
    if company is not None and company.domain:
        return company.domain
    if email:
        domain = email_domain(email)
        if not is_free_mail(domain):
            return domain
    return None


def resolve_company(
    session: Session, workspace_id: int, company: CompanyInput | None, email: str | None, *, fill_only: bool
) -> Company | None:
    """The lead's company: by explicit or email domain, else by exact name; created when new."""
    domain = company_domain_for(company, email)
    found: Company | None = None
    created: Company | None = None
    if domain:
        found = session.scalar(select(Company).where(Company.workspace_id == workspace_id, Company.domain == domain))
    elif company is not None and company.name:
        found = session.scalar(select(Company).where(
            Company.workspace_id == workspace_id, Company.domain.is_(None),
            func.lower(Company.name) == company.name.lower()).limit(1))
    if found is None:
        if domain is None and (company is None or not company.name):
            return None
        created = Company(workspace_id=workspace_id, domain=domain)
        try:
            with session.begin_nested():  # another request may create the same domain at this very moment
                session.add(created)
                session.flush()
            found, fill_only = created, False
        except IntegrityError:
            found = session.scalar(select(Company).where(Company.workspace_id == workspace_id,
                                                         Company.domain == domain))
            if found is None:
                raise
    if company is not None:
        apply_company_fields(found, company, fill_only=fill_only)
        if found is not created and session.is_modified(found):
            changed_companies(session).add(found.id)
    session.flush()
    return found


def changed_companies(session: Session) -> set[int]:
    """Companies whose fields this transaction changed: their other leads' fit may have moved."""
    changed: set[int] = session.info.setdefault("leadline.changed_companies", set())
    return changed


def apply_company_fields(target: Company, company: CompanyInput, *, fill_only: bool) -> None:
    for name in COMPANY_FIELDS:
        if name == "domain":
            continue
        value = getattr(company, name)
        if value is None:
            continue
        if fill_only and getattr(target, name) is not None:
            continue
        setattr(target, name, value)


def get_company(session: Session, workspace_id: int, company_id: int) -> Company:
    company = session.scalar(select(Company).where(Company.workspace_id == workspace_id, Company.id == company_id))
    if company is None:
        raise NotFound("company not found")
    return company


def list_companies(session: Session, workspace_id: int, *, after_id: int | None, limit: int,
                   domain: str | None = None) -> list[Company]:
    query = select(Company).where(Company.workspace_id == workspace_id)
    if domain:
        query = query.where(Company.domain == domain)
    if after_id is not None:
        query = query.where(Company.id > after_id)
    return list(session.scalars(query.order_by(Company.id).limit(limit)))


def create_company(session: Session, workspace_id: int, company: CompanyInput) -> Company:
    if company.domain and session.scalar(select(Company.id).where(
            Company.workspace_id == workspace_id, Company.domain == company.domain)):
        raise Conflict(f"a company with domain {company.domain} already exists", field="domain")
    created = Company(workspace_id=workspace_id, domain=company.domain)
    apply_company_fields(created, company, fill_only=False)
    session.add(created)
    session.flush()
    return created


def update_company(session: Session, workspace_id: int, company_id: int, changes: dict[str, Any]) -> Company:
    company = get_company(session, workspace_id, company_id)
    new_domain = changes.get("domain")
    if new_domain and new_domain != company.domain and session.scalar(select(Company.id).where(
            Company.workspace_id == workspace_id, Company.domain == new_domain)):
        raise Conflict(f"a company with domain {new_domain} already exists", field="domain")
    for name, value in changes.items():
        if name in COMPANY_FIELDS:
            setattr(company, name, value)
    session.flush()
    return company


def delete_company(session: Session, workspace_id: int, company_id: int) -> None:
    session.delete(get_company(session, workspace_id, company_id))
    session.flush()

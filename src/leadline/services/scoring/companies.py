"""Company scores for account-based selling: each company's leads' scores aggregated as the model says
(`company.aggregate`: the best lead, or the average of the best `top` leads), ranked, set-based in SQL."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from leadline.core.scoring.model import CompanyScoring
from leadline.storage.tables import Company, Lead


@dataclass(frozen=True, slots=True)
class CompanyScore:
    company_id: int
    name: str | None
    domain: str | None
    score: float
    leads: int  # scored leads at the company
    aggregate: str


def company_scores(session: Session, workspace_id: int, rule: CompanyScoring, *, company_id: int | None = None,
                   limit: int = 50) -> list[CompanyScore]:
    rank = func.row_number().over(partition_by=Lead.company_id, order_by=(Lead.score.desc(), Lead.id))
    leads = select(Lead.company_id, Lead.score, rank.label("rank")).where(
        Lead.workspace_id == workspace_id, Lead.company_id.is_not(None), Lead.merged_into_id.is_(None))
    if company_id is not None:
        leads = leads.where(Lead.company_id == company_id)
    ranked = leads.subquery()
    if rule.aggregate == "max":
        value = func.max(ranked.c.score)
    else:
        value = func.avg(ranked.c.score).filter(ranked.c.rank <= rule.top)
    per_company = (select(ranked.c.company_id, value.label("score"), func.count().label("leads"))
                   .group_by(ranked.c.company_id).subquery())
    rows = session.execute(
        select(per_company.c.company_id, Company.name, Company.domain, per_company.c.score, per_company.c.leads)
        .join(Company, Company.id == per_company.c.company_id)
        .where(Company.workspace_id == workspace_id)
        .order_by(per_company.c.score.desc(), per_company.c.company_id).limit(limit))
    return [CompanyScore(cid, name, domain, float(score or 0.0), n, rule.aggregate)
            for cid, name, domain, score, n in rows]

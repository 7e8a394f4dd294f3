"""Names shown for codes (stages, temperatures, roles, KPIs, board columns), marked for translation."""

from __future__ import annotations

from collections.abc import Callable


def N_(message: str) -> str:
    return message


STAGES = {"new": N_("New"), "mql": N_("MQL"), "sql": N_("SQL"), "opportunity": N_("Opportunity"),
          "customer": N_("Customer"), "disqualified": N_("Disqualified"), "recycled": N_("Recycled")}
TEMPERATURES = {"cold": N_("Cold"), "warm": N_("Warm"), "hot": N_("Hot")}
ROLES = {"rep": N_("Sales rep"), "sales": N_("Sales rep"), "manager": N_("Manager"), "admin": N_("Admin"),
         "marketer": N_("Marketer")}
KPIS = {"leads": N_("New leads"), "mqls": N_("MQLs"), "customers": N_("Customers"),
        "speed_to_lead_median_hours": N_("Speed to lead (median)"),
        "touched_before_deadline": N_("Followed up on time"), "mql_acceptance": N_("MQLs accepted by sales")}
COLUMNS = {"sql": N_("SQL, no deal yet"), "opportunity": N_("Open deal"), "won": N_("Won"), "lost": N_("Lost"),
           "new": N_("Not contacted"), "attempting_contact": N_("Attempting contact"), "connected": N_("Connected"),
           "meeting_booked": N_("Meeting booked")}
STEPS = {"visitor": N_("Visitors"), "lead": N_("Leads"), "mql": N_("MQLs"), "sql": N_("SQLs"),
         "opportunity": N_("Opportunities"), "customer": N_("Customers")}
SORTS = {"newest": N_("Newest first"), "oldest": N_("Oldest first"), "score_desc": N_("Highest score"),
         "score_asc": N_("Lowest score")}
ACTIVITIES = {"call": N_("Call"), "email": N_("Email"), "meeting": N_("Meeting"), "note": N_("Note")}
AXES = {"fit": N_("Fit"), "engagement": N_("Engagement")}


def label_functions(gettext: Callable[[str], str]) -> dict[str, Callable[[str], str]]:
    def labeller(table: dict[str, str]) -> Callable[[str], str]:
        return lambda code: gettext(table[code]) if code in table else code

    return {"stage_label": labeller(STAGES), "temperature_label": labeller(TEMPERATURES),
            "role_label": labeller(ROLES), "kpi_label": labeller(KPIS), "column_label": labeller(COLUMNS),
            "step_label": labeller(STEPS), "sort_label": labeller(SORTS), "axis_label": labeller(AXES),
            "activity_label": labeller(ACTIVITIES)}

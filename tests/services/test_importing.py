"""CSV import into the database: idempotent, opt-outs kept, dry run, errors reported, malformed files refused."""

import csv

import pytest
from sqlalchemy import func, select

import leadline.services.importing as importing
from leadline.services.importing import CsvImportError, import_csv
from leadline.services.workspaces import get_or_create_workspace
from leadline.storage.tables import Company, Lead

HUBSPOT = ("First Name,Last Name,Email,Phone Number,Company Name,Country/Region,Create Date,"
           "Unsubscribed from all email\n"
           "Jean,Dupont,jean@acme.fr,06 12 34 56 78,Acme,France,31/12/2024,no\n"
           "Marie,Curie,marie@gmail.com,,,France,01/02/2025,yes\n"
           "Bad,Row,not-an-email,,,France,,no\n")


@pytest.fixture
def ws(db):
    with db.write() as session:
        return get_or_create_workspace(session, "acme").id


def _write(tmp_path, text, name="contacts.csv", encoding="utf-8"):
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _leads(db):
    with db.read() as session:
        return {lead.email: lead for lead in session.scalars(select(Lead))}


def test_import_creates_leads_reports_bad_rows_and_keeps_opt_outs(db, ws, tmp_path):
    report_path = tmp_path / "errors.csv"
    report = import_csv(db, ws, _write(tmp_path, HUBSPOT), error_report=report_path)
    assert (report.rows, report.created, report.errors) == (3, 2, 1)
    leads = _leads(db)
    assert leads["jean@acme.fr"].phone == "+33612345678"
    assert leads["jean@acme.fr"].created_at.isoformat().startswith("2024-12-31")
    assert leads["marie@gmail.com"].unsubscribed is True
    assert leads["marie@gmail.com"].consent_email is False
    with report_path.open() as handle:
        rows = list(csv.DictReader(handle))
    assert rows == [{"row": "4", "column": "Email", "reason": rows[0]["reason"]}]
    assert rows[0]["reason"]


def test_reimporting_the_same_file_creates_no_duplicates_and_writes_nothing(db, ws, tmp_path):
    path = _write(tmp_path, HUBSPOT)
    import_csv(db, ws, path)
    again = import_csv(db, ws, path)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    with db.read() as session:
        assert session.scalar(select(func.count()).select_from(Lead)) == 2
        assert session.scalar(select(func.count()).select_from(Company)) == 1


def test_a_later_import_never_resubscribes(db, ws, tmp_path):
    import_csv(db, ws, _write(tmp_path, HUBSPOT))
    resub = "Email,Unsubscribed from all email\nmarie@gmail.com,no\n"
    import_csv(db, ws, _write(tmp_path, resub, "second.csv"))
    assert _leads(db)["marie@gmail.com"].unsubscribed is True


def test_dry_run_writes_nothing_but_counts(db, ws, tmp_path):
    report = import_csv(db, ws, _write(tmp_path, HUBSPOT), dry_run=True)
    assert (report.created, report.errors) == (2, 1)
    assert _leads(db) == {}


def test_french_excel_export_in_windows_1252(db, ws, tmp_path):
    text = ("Prénom;Nom;Société;Téléphone;E-mail;Pays\r\n"
            "Hélène;Lefèvre;Crédit Agricole;01 23 45 67 89;helene@ca.fr;France\r\n")
    import_csv(db, ws, _write(tmp_path, text, encoding="cp1252"))
    lead = _leads(db)["helene@ca.fr"]
    assert (lead.first_name, lead.last_name, lead.phone) == ("Hélène", "Lefèvre", "+33123456789")


@pytest.mark.parametrize("text", [
    "",
    "\x00\x01\x02garbage\xff",
    "Colour,Size\nred,XL\n",
    "Email,First Name\na@b.fr,Ann\nc@d.fr,Bob,unexpected,extra\n",
])
def test_malformed_file_gets_a_clear_message_and_changes_nothing(db, ws, tmp_path, text):
    with pytest.raises(CsvImportError) as info:
        import_csv(db, ws, _write(tmp_path, text))
    assert str(info.value)
    assert _leads(db) == {}


def test_large_files_validate_in_worker_processes_with_the_same_result(db, ws, tmp_path, monkeypatch):
    monkeypatch.setattr(importing, "PARALLEL_FROM_ROWS", 10)
    monkeypatch.setattr(importing, "CHUNK_ROWS", 7)
    monkeypatch.setattr(importing, "ANALYZE_FROM_ROWS", 20)
    lines = ["Email,First Name,Phone"] + [f"p{i}@corp{i % 5}.com,N{i},+33 6 12 34 56 {i:02d}" for i in range(60)]
    lines.append("broken,X,")
    report = import_csv(db, ws, _write(tmp_path, "\n".join(lines) + "\n"))
    assert (report.rows, report.created, report.errors) == (61, 60, 1)
    leads = _leads(db)
    assert leads["p59@corp4.com"].first_name == "N59"
    assert leads["p7@corp2.com"].phone == "+33612345607"


def test_import_gives_an_email_to_a_phone_only_lead(db, ws, tmp_path):
    import_csv(db, ws, _write(tmp_path, "Phone,First Name\n+33612345678,Zoé\n", "a.csv"))
    import_csv(db, ws, _write(tmp_path, "Phone,Email\n+33612345678,zoe@x.fr\n", "b.csv"))
    leads = _leads(db)
    assert list(leads) == ["zoe@x.fr"] and leads["zoe@x.fr"].first_name == "Zoé"

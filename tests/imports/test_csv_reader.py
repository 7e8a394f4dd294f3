"""The streaming CSV reader, on real files: CRM exports, Excel's French export, encodings, broken files."""

from __future__ import annotations

import codecs
import random
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

import pytest

from leadline.core.import_mapping import row_to_lead_input, row_to_raw
from leadline.core.lead_input import ConsentInput, InvalidLeadInput, build_lead_input
from leadline.imports.csv_reader import SAMPLE_SIZE, CsvFormatError, CsvSource, open_csv


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def all_rows(source: CsvSource) -> list[tuple[int, dict[str, str]]]:
    return list(source.rows())


# --- CRM exports ------------------------------------------------------------------------------------------

HUBSPOT_EXPORT = (
    "Record ID,First Name,Last Name,Email,Phone Number,Job Title,Company Name,Website URL,Country/Region,"
    "Industry,Number of Employees,Annual Revenue,Original Source,Create Date,Unsubscribed from all email,"
    "Lifecycle Stage\r\n"
    '101,Jean,Dupont,jean.dupont@acme.fr,+33 6 12 34 56 78,CMO,"Acme, Inc.",https://www.acme.fr,France,'
    "COMPUTER_SOFTWARE,250,1000000,Paid Search,2024-03-01 10:23,false,lead\r\n"
    "102,Mary,Smith,mary@example.co.uk,020 7946 0958,,,,United Kingdom,,,,Organic Search,2024-03-02 08:00,"
    "true,subscriber\r\n"
)


def test_a_hubspot_export(tmp_path: Path) -> None:
    source = open_csv(write(tmp_path / "hubspot.csv", HUBSPOT_EXPORT))
    assert (source.encoding, source.delimiter) == ("utf-8", ",")
    assert source.headers[0] == "Record ID" and len(source.headers) == 16
    rows = all_rows(source)
    assert [number for number, _ in rows] == [2, 3]
    assert rows[0][1]["Company Name"] == "Acme, Inc."
    first = row_to_lead_input(source.mapping, rows[0][1], default_country="FR")
    assert (first.external_id, first.email, first.phone) == ("101", "jean.dupont@acme.fr", "+33612345678")
    assert first.company is not None
    assert (first.company.name, first.company.domain, first.company.size) == ("Acme, Inc.", "acme.fr", 250)
    assert first.source.channel == "sea"
    assert first.consent == ConsentInput(unsubscribed=False)
    assert first.custom == {"lifecycle_stage": "lead"}
    assert first.created_at == datetime(2024, 3, 1, 10, 23, tzinfo=UTC)
    second = row_to_lead_input(source.mapping, rows[1][1], default_country="FR")
    assert second.phone == "+442079460958"  # national number completed from the row's country, not FR
    assert second.consent is not None and second.consent.unsubscribed is True
    assert second.source.channel == "seo"


SALESFORCE_EXPORT = (
    '"First Name","Last Name","Title","Company","Email","Phone","Lead Source","Email Opt Out","Created Date",'
    '"Industry","NumberOfEmployees","AnnualRevenue","Country","Website"\n'
    '"Claire","Martin","Directrice financière","Globex","claire.martin@globex.fr","01 40 00 00 00",'
    '"Trade Show","1","31/12/2024 14:05","Manufacturing","1 200","2 500 000,50","FR","globex.fr"\n'
    '"Paul","Bernard","","Initech","paul@initech.be","","Purchased List","0","05/01/2025","","","",'
    '"Belgium",""\n'
)


def test_a_salesforce_export(tmp_path: Path) -> None:
    source = open_csv(write(tmp_path / "salesforce.csv", SALESFORCE_EXPORT))
    rows = all_rows(source)
    claire = row_to_lead_input(source.mapping, rows[0][1], default_country="FR")
    assert claire.job_title == "Directrice financière"
    assert claire.consent == ConsentInput(unsubscribed=True)  # Email Opt Out = 1: never mail her
    assert claire.created_at == datetime(2024, 12, 31, 14, 5, tzinfo=UTC)
    assert claire.source.channel == "events"
    assert claire.company is not None and claire.company.revenue == 2500000.5 and claire.company.size == 1200
    paul = row_to_lead_input(source.mapping, rows[1][1], default_country="FR")
    assert paul.created_at == datetime(2025, 1, 5, tzinfo=UTC)  # day first: 5 January
    assert paul.custom == {"lead_source": "Purchased List"}
    assert paul.country == "BE" and paul.consent == ConsentInput(unsubscribed=False)


MAUTIC_EXPORT = (
    "id,title,firstname,lastname,email,phone,mobile,position,company,website,country,preferred_locale,"
    "doNotContact,utm_source,utm_medium,utm_campaign,date_added,points\n"
    "7,Mme,Sophie,Leroy,sophie@leroy.fr,,06 98 76 54 32,Acheteuse,Leroy SA,http://leroy.fr,France,fr_FR,1,"
    "newsletter,email,janvier,2024-01-15 09:12:45,35\n"
)


def test_a_mautic_export(tmp_path: Path) -> None:
    source = open_csv(write(tmp_path / "mautic.csv", MAUTIC_EXPORT))
    [(number, row)] = all_rows(source)
    assert number == 2
    lead = row_to_lead_input(source.mapping, row)
    assert lead.phone == "+33698765432"  # the mobile stands in for the empty phone; France completes it
    assert lead.job_title == "Acheteuse"  # "position", not Mautic's salutation column "title"
    assert lead.custom == {"title": "Mme", "score": "35"}
    assert lead.language == "fr" and lead.external_id == "7"
    assert lead.consent == ConsentInput(unsubscribed=True)
    assert lead.source.channel == "email" and lead.source.utm_campaign == "janvier"
    assert lead.created_at == datetime(2024, 1, 15, 9, 12, 45, tzinfo=UTC)


def test_an_excel_french_export_in_windows_1252_with_semicolons(tmp_path: Path) -> None:
    text = (
        "Prénom;Nom;Société;Téléphone;E-mail;Pays;Désinscrit;Date de création\r\n"
        "Frédéric;Lefèvre;Café Crème;06 12 34 56 78;fred@cafe-creme.fr;France;Oui;31/12/2024 14:05\r\n"
        ";;;;;;;\r\n"
        "Zoé;Müller;Bäckerei;0470 12 34 56;zoe@backerei.be;Belgique;Non;01.02.2024\r\n"
        "Hélène;Noël;\"Œuvres; SA\";;helene@oeuvres.fr;;;31-01-2024\r\n"
    )
    source = open_csv(write(tmp_path / "export.csv", text, "cp1252"))
    assert (source.encoding, source.delimiter) == ("cp1252", ";")
    assert source.headers == ["Prénom", "Nom", "Société", "Téléphone", "E-mail", "Pays", "Désinscrit",
                              "Date de création"]
    rows = all_rows(source)
    assert [number for number, _ in rows] == [2, 4, 5]  # the blank row 3 is skipped, and counted
    leads = [row_to_lead_input(source.mapping, row, default_country="FR") for _, row in rows]
    assert [lead.first_name for lead in leads] == ["Frédéric", "Zoé", "Hélène"]
    assert leads[0].company is not None and leads[0].company.name == "Café Crème"
    assert [lead.phone for lead in leads] == ["+33612345678", "+32470123456", None]
    assert [lead.consent for lead in leads] == [ConsentInput(unsubscribed=True), ConsentInput(unsubscribed=False),
                                                None]
    assert [lead.created_at for lead in leads] == [datetime(2024, 12, 31, 14, 5, tzinfo=UTC),
                                                   datetime(2024, 2, 1, tzinfo=UTC),
                                                   datetime(2024, 1, 31, tzinfo=UTC)]
    assert leads[2].company is not None and leads[2].company.name == "Œuvres; SA"


# --- encodings and delimiters -----------------------------------------------------------------------------


def test_utf8_with_bom(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(codecs.BOM_UTF8 + "Email,Prénom\nana@exemple.fr,Anaïs\n".encode())
    source = open_csv(path)
    assert source.encoding == "utf-8-sig"
    assert source.headers == ["Email", "Prénom"]  # no "\ufeffEmail"
    assert source.mapping.fields["Email"] == "email"
    assert all_rows(source) == [(2, {"Email": "ana@exemple.fr", "Prénom": "Anaïs"})]


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_utf16_with_bom_tab_separated(tmp_path: Path, codec: str) -> None:
    bom = codecs.BOM_UTF16_LE if codec == "utf-16-le" else codecs.BOM_UTF16_BE
    path = tmp_path / "unicode.txt"
    path.write_bytes(bom + "E-mail\tPrénom\tNom\r\nzoe@exemple.fr\tZoé\tŁukasz\r\n".encode(codec))
    source = open_csv(path)
    assert (source.encoding, source.delimiter) == ("utf-16", "\t")
    assert all_rows(source) == [(2, {"E-mail": "zoe@exemple.fr", "Prénom": "Zoé", "Nom": "Łukasz"})]


def test_utf16_without_bom_is_recognised(tmp_path: Path) -> None:
    path = tmp_path / "nobom.csv"
    path.write_bytes("Email;Nom\r\na@b.fr;Gérard\r\n".encode("utf-16-le"))
    source = open_csv(path)
    assert source.encoding == "utf-16-le"
    assert all_rows(source) == [(2, {"Email": "a@b.fr", "Nom": "Gérard"})]


def test_tab_separated(tmp_path: Path) -> None:
    source = open_csv(write(tmp_path / "leads.tsv", "Email\tFirst Name\tCompany\na@b.fr\tAna\tAcme, Inc.\n"))
    assert source.delimiter == "\t"
    assert all_rows(source) == [(2, {"Email": "a@b.fr", "First Name": "Ana", "Company": "Acme, Inc."})]


def test_pipe_separated(tmp_path: Path) -> None:
    source = open_csv(write(tmp_path / "leads.csv", "email|phone|first_name\na@b.fr|0612345678|Ana\n"))
    assert source.delimiter == "|"
    assert source.headers == ["email", "phone", "first_name"]


def test_the_delimiter_is_the_one_finding_the_most_known_columns(tmp_path: Path) -> None:
    # Split on commas this header has more columns; split on semicolons it has more known names.
    source = open_csv(write(tmp_path / "x.csv", "Email;Company;Notes, remarks, misc\na@b.fr;Acme;x, y, z\n"))
    assert source.delimiter == ";"
    assert source.headers == ["Email", "Company", "Notes, remarks, misc"]


def test_a_tie_on_known_columns_goes_to_the_most_columns(tmp_path: Path) -> None:
    # "," finds Email; ";" finds Nom: one known column each, and ";" makes 3 columns against 2.
    source = open_csv(write(tmp_path / "x.csv", "Email,Ville;Nom;Notes\nx@y.fr,Paris;Dupont;rien\n"))
    assert source.delimiter == ";"
    assert source.headers == ["Email,Ville", "Nom", "Notes"]


def test_utf8_is_detected_when_a_character_straddles_the_sample_end(tmp_path: Path) -> None:
    header = "Email,Nom\n"
    filler = "a@b.fr," + "x" * (SAMPLE_SIZE - len(header) - 8) + "é\n"  # é's two bytes cross the boundary
    path = write(tmp_path / "big.csv", header + filler + "c@d.fr,Zoé\n")
    assert path.read_bytes()[SAMPLE_SIZE - 1:SAMPLE_SIZE + 1] == "é".encode()
    source = open_csv(path)
    assert source.encoding == "utf-8"
    rows = all_rows(source)
    assert rows[0][1]["Nom"].endswith("xé") and rows[1] == (3, {"Email": "c@d.fr", "Nom": "Zoé"})


def test_a_stray_windows_1252_byte_after_the_sample_does_not_break_a_utf8_file(tmp_path: Path) -> None:
    lines = ["Email,Nom\n"] + [f"user{i}@exemple.fr,Dupont\n" for i in range(4000)]
    path = tmp_path / "mixed.csv"
    path.write_bytes("".join(lines).encode() + "late@exemple.fr,Lefèvre\n".encode("cp1252"))
    assert path.stat().st_size > SAMPLE_SIZE
    source = open_csv(path)
    assert source.encoding == "utf-8"
    last = all_rows(source)[-1]
    assert last == (4002, {"Email": "late@exemple.fr", "Nom": "Lefèvre"})


# --- rows -------------------------------------------------------------------------------------------------


def test_row_numbers_are_spreadsheet_rows(tmp_path: Path) -> None:
    text = 'Email,Notes\na@b.fr,"two\nlines"\n\nc@d.fr,ok\n,\n  ,  \ne@f.fr,\n'
    source = open_csv(write(tmp_path / "x.csv", text))
    rows = all_rows(source)
    assert [number for number, _ in rows] == [2, 4, 7]
    assert rows[0][1]["Notes"] == "two\nlines"


def test_blank_lines_before_the_header_are_counted(tmp_path: Path) -> None:
    source = open_csv(write(tmp_path / "x.csv", "\n\nEmail,Nom\na@b.fr,Dupont\n"))
    assert source.header_row == 3
    assert all_rows(source) == [(4, {"Email": "a@b.fr", "Nom": "Dupont"})]


def test_short_rows_are_padded_and_trailing_empty_cells_tolerated(tmp_path: Path) -> None:
    source = open_csv(write(tmp_path / "x.csv", "Email;Prénom;Nom;\na@b.fr;Ana;;\nc@d.fr\ne@f.fr;Eve;Roux;;;\n"))
    assert source.headers == ["Email", "Prénom", "Nom"]
    assert all_rows(source) == [
        (2, {"Email": "a@b.fr", "Prénom": "Ana", "Nom": ""}),
        (3, {"Email": "c@d.fr", "Prénom": "", "Nom": ""}),
        (4, {"Email": "e@f.fr", "Prénom": "Eve", "Nom": "Roux"}),
    ]


def test_rows_are_read_again_on_each_call_and_the_source_is_a_context_manager(tmp_path: Path) -> None:
    path = write(tmp_path / "x.csv", "Email\na@b.fr\nc@d.fr\n")
    with open_csv(path) as source:
        assert all_rows(source) == all_rows(source)
        assert len(all_rows(source)) == 2


def test_a_raw_row_goes_straight_into_build_lead_input(tmp_path: Path) -> None:
    source = open_csv(write(tmp_path / "x.csv", "E-mail;Téléphone;Pays\na@b.fr;06 12 34 56 78;\n"))
    [(_, row)] = all_rows(source)
    lead = build_lead_input(row_to_raw(source.mapping, row), default_country="FR")
    assert lead.phone == "+33612345678" and lead.country is None


def test_rows_are_lazy_rows_appended_after_the_first_one_was_read_are_seen(tmp_path: Path) -> None:
    path = write(tmp_path / "grow.csv", "Email,Nom\n" + "".join(f"u{i}@b.fr,N{i}\n" for i in range(2000)))
    rows = open_csv(path).rows()
    assert next(rows) == (2, {"Email": "u0@b.fr", "Nom": "N0"})
    with path.open("a", encoding="utf-8") as handle:  # a reader that had slurped the file would miss these
        handle.write("late1@b.fr,L1\nlate2@b.fr,L2\n")
    rest = list(rows)
    assert len(rest) == 2001
    assert rest[-1] == (2003, {"Email": "late2@b.fr", "Nom": "L2"})


def test_rows_stream_a_200000_row_file_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "huge.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("Email,Prénom,Nom,Société\n")
        for i in range(200_000):
            handle.write(f"user{i}@exemple.fr,Prénom{i},Nom{i},Société {i % 97}\n")
    size = path.stat().st_size
    assert size > 10_000_000
    source = open_csv(path)
    tracemalloc.start()
    try:
        count = 0
        last = 0
        for number, row in source.rows():
            count += 1
            last = number
            assert row["Email"]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (count, last) == (200_000, 200_001)
    assert peak < size // 20, f"peak {peak} bytes for a {size}-byte file: rows() is not streaming"


# --- malformed files --------------------------------------------------------------------------------------


def test_an_empty_file(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match="empty"):
        open_csv(write(tmp_path / "empty.csv", ""))


@pytest.mark.parametrize("text", ["\n\n\r\n", "   \n", ";;;\n;;\n"])
def test_a_file_without_header(tmp_path: Path, text: str) -> None:
    with pytest.raises(CsvFormatError, match="no header row"):
        open_csv(write(tmp_path / "blank.csv", text))


def test_a_bom_and_nothing_else(tmp_path: Path) -> None:
    path = tmp_path / "bom.csv"
    path.write_bytes(codecs.BOM_UTF8)
    with pytest.raises(CsvFormatError, match="no header row"):
        open_csv(path)


def test_binary_garbage(tmp_path: Path) -> None:
    path = tmp_path / "garbage.csv"
    path.write_bytes(random.Random(7).randbytes(5000))
    with pytest.raises(CsvFormatError, match="binary"):
        open_csv(path)


def test_binary_garbage_without_zero_bytes(tmp_path: Path) -> None:
    path = tmp_path / "garbage.csv"
    path.write_bytes(bytes(b for b in random.Random(3).randbytes(5000) if b))
    with pytest.raises(CsvFormatError, match="binary"):
        open_csv(path)


def test_an_excel_workbook_is_named_as_such(tmp_path: Path) -> None:
    path = tmp_path / "leads.csv"
    path.write_bytes(b"PK\x03\x04\x14\x00\x06\x00" + bytes(200))
    with pytest.raises(CsvFormatError, match="Excel workbook"):
        open_csv(path)


def test_a_header_with_no_recognisable_column(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match="email, a phone number or a name") as exc:
        open_csv(write(tmp_path / "x.csv", "foo,bar,baz\n1,2,3\n"))
    assert "'foo', 'bar', 'baz'" in str(exc.value)


def test_a_header_with_only_company_columns_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match="recognised"):
        open_csv(write(tmp_path / "x.csv", "Company;Industry;City\nAcme;Software;Paris\n"))


def test_a_data_row_where_the_header_should_be(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match="looks like data"):
        open_csv(write(tmp_path / "x.csv", "jean@acme.fr,Jean,Dupont\nmarie@acme.fr,Marie,Curie\n"))


@pytest.mark.parametrize("header", ["Email,Nom,Email", "Email,Nom,E-MAIL"])
def test_duplicate_header_names(tmp_path: Path, header: str) -> None:
    with pytest.raises(CsvFormatError, match="same name"):
        open_csv(write(tmp_path / "x.csv", f"{header}\na@b.fr,X,c@d.fr\n"))


def test_a_nameless_column_in_the_header(tmp_path: Path) -> None:
    with pytest.raises(CsvFormatError, match="column 2"):
        open_csv(write(tmp_path / "x.csv", "Email,,Nom\na@b.fr,x,Dupont\n"))


def test_a_row_with_more_cells_than_the_header_names_its_row(tmp_path: Path) -> None:
    text = "Email;Nom\na@b.fr;Dupont\nc@d.fr;Durand;Jean; Paris\ne@f.fr;Roux\n"
    rows = open_csv(write(tmp_path / "x.csv", text)).rows()
    assert next(rows) == (2, {"Email": "a@b.fr", "Nom": "Dupont"})  # the rows before it were fine
    with pytest.raises(CsvFormatError, match=r"Row 3 has 4 cells but the header row has 2 columns.*semicolon"):
        next(rows)


def test_an_unclosed_quote_reports_a_row(tmp_path: Path) -> None:
    text = 'Email,Nom\na@b.fr,"Dupont\n' + "c@d.fr,x\n" * 20000
    rows = open_csv(write(tmp_path / "x.csv", text)).rows()
    with pytest.raises(CsvFormatError, match="Row 2"):
        list(rows)


def test_a_bad_row_is_an_import_problem_not_a_file_problem(tmp_path: Path) -> None:
    source = open_csv(write(tmp_path / "x.csv", "Email,Désinscrit\nnot-an-email,peut-être\n"))
    [(_, row)] = all_rows(source)
    with pytest.raises(InvalidLeadInput) as exc:
        row_to_lead_input(source.mapping, row)
    assert {p.field for p in exc.value.problems} == {"Email", "Désinscrit"}

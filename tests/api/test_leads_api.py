"""POST/GET/PATCH /api/v1/leads: upsert by email, normalisation, attribution, filters and pagination."""

from leadline.storage.tables import Company, Lead


def test_create_returns_201_then_upsert_by_email_returns_200(client, auth):
    first = client.post("/api/v1/leads", json={"email": "Jane@Acme.fr", "first_name": "Jane"}, headers=auth)
    assert first.status_code == 201
    again = client.post("/api/v1/leads", json={"email": " jane@ACME.fr", "last_name": "Doe"}, headers=auth)
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]
    assert (again.json()["first_name"], again.json()["last_name"]) == ("Jane", "Doe")


def test_contract_fields_are_normalised_and_returned(client, auth):
    body = {
        "email": "Paul@Durand-Industrie.fr", "first_name": "Paul", "last_name": "Durand", "phone": "06 12 34 56 78",
        "job_title": "CEO", "country": "France",
        "company": {"name": "Durand Industrie", "domain": "durand-industrie.fr"},
        "source": {"utm_source": "google", "utm_medium": "cpc", "utm_campaign": "brand", "landing_page": "/pricing"},
        "custom": {"budget": 5000, "newsletter": True},
    }
    lead = client.post("/api/v1/leads", json=body, headers=auth).json()
    assert lead["phone"] == "+33612345678"
    assert lead["country"] == "FR"
    assert lead["company"]["domain"] == "durand-industrie.fr"
    assert lead["company"]["name"] == "Durand Industrie"
    assert lead["first_touch"]["channel"] == "sea"
    assert lead["first_touch"]["campaign"] == "brand"
    assert lead["last_non_direct_touch"]["utm_campaign"] == "brand"
    assert lead["custom"] == {"budget": 5000, "newsletter": True}
    assert lead["stage"] == "new" and lead["temperature"] == "cold"


def test_phone_only_lead_is_accepted_and_matched_by_phone(client, auth):
    first = client.post("/api/v1/leads", json={"phone": "+33 6 12 34 56 78", "first_name": "Zoé"}, headers=auth)
    assert first.status_code == 201
    second = client.post("/api/v1/leads", json={"phone": "+33612345678", "last_name": "Martin"}, headers=auth)
    assert second.status_code == 200 and second.json()["id"] == first.json()["id"]


def test_company_is_found_from_email_domain_but_not_from_free_mail(client, auth, db):
    a = client.post("/api/v1/leads", json={"email": "a@acme.io"}, headers=auth).json()
    b = client.post("/api/v1/leads", json={"email": "b@acme.io"}, headers=auth).json()
    c = client.post("/api/v1/leads", json={"email": "c@gmail.com"}, headers=auth).json()
    assert a["company"]["id"] == b["company"]["id"]
    assert c["company"] is None
    with db.read() as session:
        assert session.query(Company).count() == 1


def test_first_touch_is_kept_and_last_touch_moves(client, auth):
    client.post("/api/v1/leads", json={"email": "t@x.io", "source": {"utm_source": "newsletter",
                                                                      "utm_medium": "email"}}, headers=auth)
    lead = client.post("/api/v1/leads", json={"email": "t@x.io", "source": {"referrer": "https://www.bing.com/"}},
                       headers=auth).json()
    assert lead["first_touch"]["channel"] == "email"
    assert lead["last_touch"]["channel"] == "seo"
    direct = client.post("/api/v1/leads", json={"email": "t@x.io", "source": {"landing_page": "/home"}},
                         headers=auth).json()
    assert direct["last_touch"]["channel"] == "direct"
    assert direct["last_non_direct_touch"]["channel"] == "seo"


def test_get_lead_includes_its_timeline(client, auth, create_lead):
    lead = create_lead()
    client.post("/api/v1/events", json={"type": "page_view", "lead_id": lead["id"],
                                        "properties": {"url": "https://acme.fr/pricing"}}, headers=auth)
    detail = client.get(f"/api/v1/leads/{lead['id']}", headers=auth).json()
    assert [e["type"] for e in detail["timeline"]] == ["page_view"]
    assert detail["timeline"][0]["properties"]["url"] == "https://acme.fr/pricing"


def test_get_by_email_filter(client, auth, create_lead):
    lead = create_lead(email="find.me@acme.fr")
    create_lead()
    page = client.get("/api/v1/leads", params={"email": "Find.Me@acme.fr"}, headers=auth).json()
    assert [row["id"] for row in page["data"]] == [lead["id"]]


def test_list_paginates_with_a_cursor_without_gaps_or_repeats(client, auth, create_lead):
    ids = {create_lead()["id"] for _ in range(7)}
    seen, cursor = [], None
    while True:
        params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/leads", params=params, headers=auth).json()
        seen += [row["id"] for row in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 7 and set(seen) == ids
    assert seen == sorted(seen, key=int, reverse=True)


def test_list_filters_by_stage_score_text_and_created_range(client, auth, db, create_lead, workspace_id):
    a = create_lead(first_name="Alice", company={"name": "Globex"})
    b = create_lead(first_name="Bob", email="bob@initech.example.com")
    with db.write() as session:
        session.get(Lead, int(a["id"])).stage = "mql"
        session.get(Lead, int(b["id"])).score = 80
    def ids(**params):
        return [r["id"] for r in client.get("/api/v1/leads", params=params, headers=auth).json()["data"]]
    assert ids(stage="mql") == [a["id"]]
    assert ids(score_min=50) == [b["id"]]
    assert ids(q="globex") == [a["id"]]
    assert ids(q="ALI") == [a["id"]]
    assert ids(q="%") == []
    assert set(ids(created_after="2000-01-01T00:00:00Z")) == {a["id"], b["id"]}
    assert ids(created_before="2000-01-01T00:00:00Z") == []


def test_patch_updates_fields_but_not_the_email(client, auth, create_lead):
    lead = create_lead(first_name="Old")
    patched = client.patch(f"/api/v1/leads/{lead['id']}", json={"first_name": "New", "email": "other@x.io"},
                           headers=auth)
    assert patched.status_code == 200
    assert patched.json()["first_name"] == "New"
    assert patched.json()["email"] == lead["email"]


def test_unsubscribe_is_never_lifted_by_a_later_upsert(client, auth):
    client.post("/api/v1/leads", json={"email": "u@x.io", "consent": {"unsubscribed": True}}, headers=auth)
    again = client.post("/api/v1/leads", json={"email": "u@x.io", "consent": {"email_marketing": True}},
                        headers=auth).json()
    assert again["consent"]["unsubscribed"] is True
    assert again["consent"]["email_marketing"] is False

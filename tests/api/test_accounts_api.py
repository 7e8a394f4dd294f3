"""Companies and campaigns CRUD."""


def test_company_crud_and_unique_domain(client, auth):
    created = client.post("/api/v1/companies", json={"name": "Acme", "domain": "https://www.acme.fr",
                                                     "size": 120, "country": "fr"}, headers=auth)
    assert created.status_code == 201
    company = created.json()
    assert (company["domain"], company["country"]) == ("acme.fr", "FR")
    dup = client.post("/api/v1/companies", json={"name": "Acme 2", "domain": "acme.fr"}, headers=auth)
    assert dup.status_code == 409 and dup.json()["error"]["fields"][0]["field"] == "domain"
    patched = client.patch(f"/api/v1/companies/{company['id']}", json={"industry": "Software"}, headers=auth)
    assert patched.json()["industry"] == "Software" and patched.json()["size"] == 120
    assert client.get("/api/v1/companies", params={"domain": "acme.fr"}, headers=auth).json()["data"][0]["id"] \
        == company["id"]
    assert client.delete(f"/api/v1/companies/{company['id']}", headers=auth).status_code == 204
    assert client.get(f"/api/v1/companies/{company['id']}", headers=auth).status_code == 404


def test_campaign_crud_validation(client, auth, make_key):
    body = {"name": "Spring webinar", "channel": "events", "cost": 1500.5, "starts_on": "2026-03-01",
            "ends_on": "2026-03-31", "utm_campaign": "spring-webinar"}
    created = client.post("/api/v1/campaigns", json=body, headers=auth)
    assert created.status_code == 201 and created.json()["cost"] == 1500.5
    cid = created.json()["id"]
    assert client.post("/api/v1/campaigns", json=body, headers=auth).status_code == 409
    bad = client.post("/api/v1/campaigns", json={**body, "name": "x", "channel": "tv"}, headers=auth)
    assert bad.status_code == 422 and bad.json()["error"]["fields"][0]["field"] == "channel"
    backwards = client.patch(f"/api/v1/campaigns/{cid}", json={"ends_on": "2026-01-01"}, headers=auth)
    assert backwards.status_code == 422
    nulled = client.patch(f"/api/v1/campaigns/{cid}", json={"name": None}, headers=auth)
    assert nulled.status_code == 422
    other = {"Authorization": f"Bearer {make_key('other-co')}"}
    assert client.get(f"/api/v1/campaigns/{cid}", headers=other).status_code == 404
    assert client.delete(f"/api/v1/campaigns/{cid}", headers=auth).status_code == 204

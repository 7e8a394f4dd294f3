def test_health(client):
    assert client.get("/healthz").json()["status"] == "ok"


def test_create_lead(client, auth):
    r = client.post("/api/v1/leads", json={"email": "A@B.com"}, headers=auth)
    assert r.status_code == 201, r.text
    assert r.json()["email"] == "a@b.com"

"""Schemathesis over the OpenAPI schema: generated requests (bounded) must never cause a server error,
and every answer must match the schema."""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from leadline.api.app import create_app
from leadline.config import Settings
from leadline.services.workspaces import create_api_key, get_or_create_workspace, parse_scopes
from leadline.storage.database import Database
from leadline.storage.migrate import upgrade

_state: dict[str, object] = {}


def _app():
    path = os.path.join(os.environ.get("PYTEST_TMP", "/tmp"), f"leadline-fuzz-{os.getpid()}.db")
    if os.path.exists(path):
        os.remove(path)
    url = f"sqlite:///{path}"
    upgrade(url)
    db = Database(url)
    with db.write() as session:
        _state["token"] = create_api_key(session, get_or_create_workspace(session, "fuzz"),
                                         parse_scopes("read,write,admin"))
    return create_app(Settings(database_url=url), db)


schema = schemathesis.openapi.from_asgi("/openapi.json", _app())
MAX_EXAMPLES = int(os.environ.get("LEADLINE_FUZZ_EXAMPLES", "25"))


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error_and_responses_match_the_schema(case):
    case.headers = {**(case.headers or {}), "Authorization": f"Bearer {_state['token']}"}
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance, content_type_conformance,
                                   status_code_conformance])


def test_schema_is_served(client):
    spec = client.get("/openapi.json").json()
    assert "/api/v1/leads" in spec["paths"] and "/api/v1/events" in spec["paths"]
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"


pytestmark = pytest.mark.filterwarnings("ignore")


def test_front_door_is_the_app_and_the_api_docs_stay_at_docs(client):
    r = client.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2F"
    assert "swagger" in client.get("/docs").text.lower()

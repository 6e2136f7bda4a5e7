"""schemathesis over every operation of /openapi.json, authenticated: no 500, no
response that breaks the document. Examples per operation: AUTOTRADER_FUZZ_EXAMPLES
(CI profile: 25)."""

from __future__ import annotations

import os

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from engine.settings import Settings
from tests.helpers import TEST_DATA_KEY
from tests.web.live_server import LiveServer

EXAMPLES = int(os.environ.get("AUTOTRADER_FUZZ_EXAMPLES", "25"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance, response_headers_conformance]


@pytest.fixture(scope="module")
def live(db_url, tmp_path_factory):
    data = tmp_path_factory.mktemp("fuzz")
    app_settings = Settings(database_url=db_url, data_dir=str(data), bcrypt_cost=4, login_max_failures=1000,
                            jwt_secret="fuzz-" + "x" * 40, hash_key="fuzz-hash", data_keys=TEST_DATA_KEY,
                            kis_rest_url="http://127.0.0.1:9", kis_paper_rest_url="http://127.0.0.1:9")  # no KIS
    with LiveServer(app_settings) as server:
        body = {"email": "fuzz@example.com", "password": "s3cret-pass"}
        requests.post(f"{server.url}/users/register", json=body, timeout=10)
        token = requests.post(f"{server.url}/users/login", json=body, timeout=10).json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        requests.post(f"{server.url}/accounts/register", json={
            "account_number": "50123456-01", "api_key": "fuzz-key-1234", "secret_key": "fuzz-secret-5678",
        }, headers=headers, timeout=10)
        yield server, headers


@pytest.mark.timeout(300)
def test_no_operation_breaks_its_contract(live):
    server, headers = live
    api = schemathesis.openapi.from_url(f"{server.url}/openapi.json")
    operations = [result.ok() for result in api.get_all_operations()]
    assert len(operations) >= 10
    failures: list[str] = []
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            check()
        except Exception as exc:  # collect every operation's failure, report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert not failures, "\n\n".join(failures)

"""Query Structs: one declaration decodes, checks the Meta rules (naming every bad field) and
documents the parameters."""

from __future__ import annotations

import pytest
from aiohttp.test_utils import make_mocked_request

from web.errors import Invalid
from web.queries import query, query_params
from web.swings import EventsQuery


def test_a_good_query_is_decoded_and_unknown_keys_ignored():
    page = query(make_mocked_request("GET", "/x?limit=7&before=3&colour=red"), EventsQuery)
    assert (page.limit, page.before) == (7, 3)
    assert query(make_mocked_request("GET", "/x"), EventsQuery) == EventsQuery(limit=50, before=None)


def test_every_bad_field_is_named():
    with pytest.raises(Invalid) as err:
        query(make_mocked_request("GET", "/x?limit=0&before=abc"), EventsQuery)
    assert err.value.fields == {"limit": "Expected `int` >= 1", "before": "Expected `int | null`, got `str`"}


def test_the_openapi_parameters_carry_the_same_rules():
    params = {p.name: p.schema for p in query_params(EventsQuery)}
    assert params["limit"] == {"type": "integer", "minimum": 1, "maximum": 200}
    assert params["before"]["type"] == "integer" and params["before"]["minimum"] == 1

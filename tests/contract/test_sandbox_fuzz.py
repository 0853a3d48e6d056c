"""Whatever an item holds, the sandbox answers with one result per item, never a 5xx."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bridge.sandbox.schema import ALLOWED, PATHS, Entity
from tests.contract.conftest import Api, org, project, record, volunteer

_SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-10**20, 10**20),
                     st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=30),
                     st.sampled_from(["2025-06-01T09:00:00+08:00", "350205000000000000",
                                      "1", "01", "156", "0001", "active", "9999-12-31",
                                      "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00Z"]))
_VALUES = st.one_of(_SCALARS, st.lists(_SCALARS, max_size=5),
                    st.dictionaries(st.text(max_size=5), _SCALARS, max_size=3))


def _items(entity: Entity) -> st.SearchStrategy[list[dict[str, Any]]]:
    keys = sorted(ALLOWED[entity])
    item = st.dictionaries(st.sampled_from(keys), _VALUES, max_size=len(keys))
    return st.lists(item, min_size=1, max_size=8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.data_too_large])
@given(st.data())
def test_any_items_get_one_result_each(sandbox: Any, data: st.DataObject) -> None:
    entity: Entity = data.draw(st.sampled_from(sorted(PATHS)))
    items = data.draw(_items(entity))
    for n, item in enumerate(items):
        if isinstance(item.get("external_ref"), str):
            item["external_ref"] = f"fuzz{n}:{item['external_ref']}"
    api = Api(sandbox)
    try:
        response = api.post(f"/{PATHS[entity]}/batch", {"items": items})
    finally:
        assert api.http is not None
        api.http.close()
    assert response.status_code in (200, 400), response.text
    if response.status_code == 200:
        results = response.json()["data"]["results"]
        assert len(results) == len(items)
        for result in results:
            assert result["status"] in ("created", "updated", "unchanged", "matched", "rejected")
            assert (result["national_id"] is None) == (result["status"] == "rejected")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_valid_item_with_one_field_replaced_gets_a_result(sandbox: Any,
                                                           data: st.DataObject) -> None:
    n = data.draw(st.integers(0, 10**9))
    bases: dict[str, dict[str, Any]] = {
        "organizations": org(f"fuzz:o:{n}"), "volunteers": volunteer(f"fuzz:v:{n}"),
        "projects": project(f"fuzz:p:{n}", f"fuzz:o:{n}"),
        "service-records": record(f"fuzz:r:{n}", f"fuzz:v:{n}", f"fuzz:p:{n}")}
    path = data.draw(st.sampled_from(sorted(bases)))
    item = bases[path]
    key = data.draw(st.sampled_from(sorted(item)))
    item[key] = data.draw(_VALUES)
    api = Api(sandbox)
    try:
        response = api.post(f"/{path}/batch", {"items": [item]})
    finally:
        assert api.http is not None
        api.http.close()
    assert response.status_code == 200, response.text
    assert len(response.json()["data"]["results"]) == 1

"""Reads for reconciliation (national-api.md §8)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest

from tests.contract.conftest import Api, World, org, record


def _page_all(api: Api, path: str, since: str, size: int) -> list[list[dict[str, Any]]]:
    pages: list[list[dict[str, Any]]] = []
    params = [("updated_since", since), ("page_size", str(size))]
    while True:
        data = api.get(path, params).json()["data"]
        pages.append(data["items"])
        if data["next_page_token"] is None:
            return pages
        params = [("updated_since", since), ("page_size", str(size)),
                  ("page_token", data["next_page_token"])]


def _now_mark(api: Api, uid: str) -> str:
    """The updated_at of a fresh record: a lower bound of this test's updates."""
    api.one("/organizations/batch", org(f"{uid}:mark"))
    return str(api.get("/organizations", [("external_ref", f"{uid}:mark")])
               .json()["data"]["updated_at"])


def test_a_record_is_read_by_national_id(api: Api, world: World) -> None:
    data = api.get(f"/volunteers/{world.volunteer_id}").json()["data"]
    assert data["national_id"] == world.volunteer_id
    assert data["external_refs"] == [world.volunteer] and data["version"] == 1
    assert data["registered_at"] == "2024-03-01T09:00:00+08:00"
    assert datetime.fromisoformat(data["updated_at"]).utcoffset() is not None
    assert "revoked" not in data


def test_a_service_record_read_says_whether_it_is_revoked(api: Api, world: World) -> None:
    api.one("/service-records/batch", record(f"{world.uid}:r:1", world.volunteer,
                                             world.project, hours=1.5))
    data = api.get("/service-records", [("external_ref", f"{world.uid}:r:1")]).json()["data"]
    assert data["revoked"] is False and data["hours"] == 1.5
    assert data["volunteer_national_id"] == world.volunteer_id


def test_a_national_id_of_another_entity_is_not_found(api: Api, world: World) -> None:
    response = api.get(f"/organizations/{world.volunteer_id}")
    assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")


def test_an_unknown_external_ref_is_not_found(api: Api, uid: str) -> None:
    response = api.get("/volunteers", [("external_ref", f"{uid}:none")])
    assert (response.status_code, response.json()["code"]) == (404, "NOT_FOUND")


def test_the_hours_of_an_unknown_volunteer_are_not_found(api: Api) -> None:
    assert api.get("/volunteers/V0000000000000000X/hours").status_code == 404


def test_pages_cover_every_record_once_in_order(api: Api, uid: str) -> None:
    since = _now_mark(api, uid)
    api.batch("/organizations/batch", *[org(f"{uid}:o:{i}") for i in range(7)])
    pages = _page_all(api, "/organizations", since, 3)
    assert [len(p) for p in pages] == [3, 3, 2]
    items = [i for p in pages for i in p]
    refs = [r for i in items for r in i["external_refs"]]
    assert sorted(refs) == sorted([f"{uid}:mark"] + [f"{uid}:o:{i}" for i in range(7)])
    keys = [(datetime.fromisoformat(i["updated_at"]), i["national_id"]) for i in items]
    assert keys == sorted(keys)


def test_updated_since_is_inclusive(api: Api, uid: str) -> None:
    since = _now_mark(api, uid)
    items = api.get("/organizations", [("updated_since", since)]).json()["data"]["items"]
    assert [i["external_refs"] for i in items][:1] == [[f"{uid}:mark"]]


def test_pages_hold_only_the_apps_own_records(api: Api, uid: str) -> None:
    since = _now_mark(api, uid)
    other = api.as_app("app-fz").get("/organizations", [("updated_since", since)])
    assert other.json()["data"] == {"items": [], "next_page_token": None}


def test_a_record_updated_during_a_scan_is_not_skipped(api: Api, uid: str) -> None:
    since = _now_mark(api, uid)
    api.batch("/organizations/batch", *[org(f"{uid}:o:{i}") for i in range(4)])
    first = api.get("/organizations", [("updated_since", since), ("page_size", "2")])
    data = first.json()["data"]
    touched = data["items"][1]["external_refs"][0]
    api.one("/organizations/batch", org(touched, name="改名后的队伍"))
    rest: list[dict[str, Any]] = []
    token = data["next_page_token"]
    while token:
        page = api.get("/organizations", [("updated_since", since), ("page_size", "2"),
                                          ("page_token", token)]).json()["data"]
        rest.extend(page["items"])
        token = page["next_page_token"]
    later = {i["external_refs"][0]: i for i in rest}
    assert later[touched]["name"] == "改名后的队伍"
    seen = {i["external_refs"][0] for i in data["items"]} | set(later)
    assert seen == {f"{uid}:mark"} | {f"{uid}:o:{i}" for i in range(4)}


@pytest.mark.parametrize("params", [
    [("page_size", "0")], [("page_size", "501")], [("page_size", "x")],
    [("page_token", "garbage!")], [("updated_since", "yesterday")],
    [("colour", "red")], [("external_ref", "a"), ("page_size", "3")],
    [("page_size", "3"), ("page_size", "4")],
])
def test_a_malformed_query_is_an_invalid_request(api: Api, params: list[tuple[str, str]]
                                                 ) -> None:
    response = api.get("/organizations", params)
    assert (response.status_code, response.json()["code"]) == (400, "INVALID_REQUEST")


def test_a_page_size_of_500_is_allowed(api: Api) -> None:
    assert api.get("/organizations", [("page_size", "500")]).status_code == 200


def test_the_control_oracle_lists_every_apps_records(api: Api, uid: str) -> None:
    api.one("/organizations/batch", org(f"{uid}:o:1"))
    api.as_app("app-b").one("/organizations/batch", org(f"{uid}:o:2"))
    held = {r for o in api.sandbox.records("organizations") for r in o["external_refs"]}
    assert {f"{uid}:o:1", f"{uid}:o:2"} <= held

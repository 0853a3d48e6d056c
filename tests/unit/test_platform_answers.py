"""Platform answers validated (issue 18): an item status outside the known set, whatever
its JSON type, is a protocol error, never data that reaches the state file or a listing."""

from __future__ import annotations

import httpx
import pytest

from bridge.errors import TransientError
from bridge.national import NationalClient


@pytest.mark.parametrize("status", ["=HYPERLINK(\"x\")", ["created"], {"s": 1}, 7, None])
def test_an_item_status_outside_the_known_set_is_a_protocol_error(status: object) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"code": "OK", "request_id": "r1", "data": {
            "results": [{"external_ref": "haicang:volunteer:1", "status": status,
                         "national_id": None, "errors": []}]}})

    client = NationalClient("http://127.0.0.1:1/openapi/v1", "haicang-demo",
                            "s3cret-value-0001", transport=httpx.MockTransport(handler))
    with pytest.raises(TransientError, match="unknown item status"):
        client.post_batch("/volunteers/batch", b'{"items":[]}', "k" * 32)

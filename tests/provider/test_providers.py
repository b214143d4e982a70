from __future__ import annotations

import httpx
import pytest

from tests.support.api import Api


@pytest.mark.usefixtures("no_workers_built")
async def test_providers_list_capabilities_and_availability(client: httpx.AsyncClient, api: Api) -> None:
    tenant = await api.new_tenant()
    listed = (await client.get("/api/providers", headers=tenant.headers)).json()["data"]
    by_name = {p["name"]: p for p in listed}
    assert set(by_name) == {"sandbox", "whatsmeow", "baileys", "wawebjs", "waba"}
    assert by_name["sandbox"]["available"] is True
    assert "poll" not in by_name["sandbox"]["capabilities"]["message_types"]
    assert by_name["sandbox"]["capabilities"]["pair_code"] is True
    assert by_name["whatsmeow"]["available"] is False
    assert by_name["whatsmeow"]["unavailable_reason"]
    # The Cloud API runs in the control plane: always available, with its own message kinds and no polls.
    assert by_name["waba"]["available"] is True
    assert {"interactive", "template"} <= set(by_name["waba"]["capabilities"]["message_types"])
    assert "poll" not in by_name["waba"]["capabilities"]["message_types"]
    assert (await client.get("/api/providers")).status_code == 401

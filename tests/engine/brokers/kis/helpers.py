"""Helpers shared by the KIS tests (test modules import from here, never from one another)."""

from __future__ import annotations

import json


async def approval_key(http, url, key="app1", secret="sec1"):
    async with http.post(f"{url}/oauth2/Approval", json={"grant_type": "client_credentials", "appkey": key, "secretkey": secret}) as r:
        return (await r.json())["approval_key"]


def subscribe_message(approval, tr_type, tr_id, code):
    return json.dumps({
        "header": {"approval_key": approval, "custtype": "P", "tr_type": tr_type, "content-type": "utf-8"},
        "body": {"input": {"tr_id": tr_id, "tr_key": code}},
    })

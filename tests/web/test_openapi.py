async def test_openapi_document_lists_every_route_with_schemas(client):
    resp = await client.get("/openapi.json")
    assert resp.status == 200
    doc = await resp.json()
    assert doc["openapi"] == "3.1.0"
    app = client.server.app
    documented = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    registered = {(r.method, r.resource.canonical) for r in app.router.routes()
                  if r.method in ("GET", "POST", "DELETE", "PUT", "PATCH")}
    undocumented = registered - documented - {("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/kis_socket"),
                                             ("GET", "/"), ("GET", "/static")}  # the dashboard: pages, not API
    assert not undocumented, f"routes missing from /openapi.json: {sorted(undocumented)}"
    register = doc["paths"]["/users/register"]["post"]
    assert register["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith("/Credentials")
    assert "422" in register["responses"] and "201" in register["responses"]
    assert doc["paths"]["/accounts"]["get"]["security"] == [{"bearer": []}]
    assert "ErrorBody" in doc["components"]["schemas"]


async def test_docs_page_is_served(client):
    resp = await client.get("/docs")
    assert resp.status == 200 and "/openapi.json" in await resp.text()


async def test_the_swing_view_documents_why_a_swing_is_halted(client):
    doc = await (await client.get("/openapi.json")).json()
    ref = doc["paths"]["/swing/{swing_id}"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    view = doc["components"]["schemas"][ref["$ref"].rsplit("/", 1)[-1]]
    assert "halted_reason" in view["properties"]
    assert {"type": "null"} in view["properties"]["halted_reason"]["anyOf"]  # null unless halted

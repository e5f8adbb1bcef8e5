"""Redfish for every BMC of the rack, over the same protocol-free node model as IPMI.

Layout::

    server.py     one uvicorn server, one pre-bound socket per BMC, one TLS identity (tls.py);
                  connections to a BMC that is not answering are dropped without a response
    app.py        the FastAPI app and its ASGI front: the BMC is chosen per request from
                  scope["server"] (the local address), body limit (413), OData-Version, Allow
    service.py    per-BMC protocol state: sessions (node clock); lockout is in nodes.users
    query.py      $select, $expand and only, applied by the front to a GET's plain answer
    deps.py       Annotated dependencies: CurrentBmc, CurrentUser, privileged(entity), bodies
    errors.py     RedfishError and THE table from nodes.errors to HTTP status + Base message
    registries.py the DMTF message and privilege registries shipped in data/registries
    metadata.py   $metadata and the OData service document, from the schema types used
    mapping.py    model value <-> Redfish value tables (power state, boot target, sensors, SEL)
    schemas/      pydantic classes: the only place Redfish names appear
    routers/      one APIRouter per resource collection
"""

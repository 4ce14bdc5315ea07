"""The service's routes, one APIRouter per OpenAPI tag (web: the page, outside the schema).
`create_app` includes them in this order."""

from __future__ import annotations

from midex.service.routes import admin, auth, consumers, health, providers, web

ROUTERS = (
    health.router,
    web.router,
    auth.router,
    providers.router,
    consumers.router,
    admin.router,
)

"""The composition root: which domains a server runs with. The one place that names them all."""

from __future__ import annotations

from fastapi import FastAPI

from kasoku.api.app import Domain, create_app
from kasoku.config import Settings


def build_domains(settings: Settings) -> list[Domain]:
    from kasoku.domains.listening.collector.domain import CollectorDomain
    from kasoku.domains.listening.domain import ListeningDomain

    from kasoku.domains.listening.domain import lake_from_settings
    from kasoku.domains.racing.lake_domain import RacingLakeDomain

    # The racing tables answer from the same lake (kasoku racing import --lake fills it).
    domains: list[Domain] = [ListeningDomain(settings), CollectorDomain(settings),
                             RacingLakeDomain(settings, lake_from_settings(settings))]
    if settings.racing_client == "lake":
        from kasoku.domains.racing.clients.lake import LakeClient
        from kasoku.domains.racing.domain import RacingDomain

        # The replay from the lake's raw records: no archive, no manifest, the lake's snapshots.
        client = LakeClient(lake_from_settings(settings), max_fetch_bytes=settings.racing_max_fetch_bytes)
        domains.append(RacingDomain(settings, client=client))
    elif settings.racing_archive or settings.racing_client == "com":
        from kasoku.domains.racing.domain import RacingDomain

        domains.append(RacingDomain(settings))
    return domains


def build_app(settings: Settings | None = None) -> FastAPI:
    from kasoku import web

    settings = settings or Settings()
    domains = build_domains(settings)
    app = create_app(settings, domains)
    if not any(d.name == "racing" for d in domains):
        from kasoku.domains.racing.absent import router

        app.include_router(router)
    web.install(app)  # the dashboard and /docs (its assets ship in the package)
    return app

"""The composition root: which domains a server runs with. The one place that names them all."""

from __future__ import annotations

from fastapi import FastAPI

from kasoku.api.app import Domain, create_app
from kasoku.config import Settings


def build_domains(settings: Settings) -> list[Domain]:
    from kasoku.domains.listening.collector.domain import CollectorDomain
    from kasoku.domains.listening.domain import ListeningDomain

    from kasoku.domains.listening.domain import lake_from_settings
    from kasoku.domains.racing.domain import RacingDomain
    from kasoku.domains.racing.lake_domain import RacingLakeDomain

    # One lake: the racing tables (racing.lake) and the JV-Link replay (racing.<DATASPEC>) read
    # what kasoku racing import (or the COM client's fetches) put there.
    lake = lake_from_settings(settings)
    domains: list[Domain] = [ListeningDomain(settings), CollectorDomain(settings), RacingLakeDomain(settings, lake),
                             RacingDomain(settings, lake=lake)]
    return domains


def build_app(settings: Settings | None = None) -> FastAPI:
    from kasoku import web

    settings = settings or Settings()
    domains = build_domains(settings)
    app = create_app(settings, domains)
    web.install(app)  # the dashboard and /docs (its assets ship in the package)
    return app

"""The dashboard: server-rendered pages over kasoku's own API, enhanced by a small script.

``install(app)`` registers it on an app from ``api.app.create_app`` (the composition root,
``kasoku.service``, does so). It reads the API through the query-route registry and imports
no domain; its static files (including the vendored chart library and Swagger UI) ship in
this package. See docs/dashboard.md.
"""

from kasoku.web.pages import install

__all__ = ["install"]

"""The Spotify Web API collector: plays arrive by themselves (docs/listening.md, "Collector").

One idea per module: ``auth`` (PKCE, tokens), ``login`` (the browser half), ``api`` (Spotify's
error rules), ``poll`` (one poll: gap, new plays, cursor), ``gaps``, ``artists`` (metadata of
new artists), ``lease`` + ``schedule`` (jobs, one leader), ``watch`` (the import folder),
``status`` (what `spotify status`, /metrics and the dashboard show).
"""

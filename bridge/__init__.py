"""calbridge service: everything with I/O (HTTP, database, upstream APIs, background jobs).

`bridge.app.create_app(settings)` builds the Flask app; `bridge.services.Services` holds what
it shares with the CLI and the workers; `bridge.jobs` runs the upstream reads in background.
"""

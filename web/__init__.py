"""The Flask application: a retrieval API under /api and a server-rendered UI.

``create_app(config)`` opens the index once (``search.SearchEngine``) and keeps the engine in
``app.extensions["pubmed_search"]``. Configuration keys:

- ``INDEX_DIR`` (required): the index directory to serve.
- ``MODEL``: a local copy of the index's model (default: the one its manifest names).
- ``MAX_CONTENT_LENGTH``: request body limit in bytes (default 64 KiB; larger -> 413).
- ``RELOAD_INTERVAL``: seconds between checks of the index's CURRENT pointer for a newly
  published version (default 5; 0 disables; SIGHUP reloads too, see ``web.reload``).
- ``RERANK_MODEL``: a cross-encoder (directory or hub id) that searches may ask for with
  ``rerank=true`` (default None: re-ranking unavailable).
- ``RERANK_TOP_N``: how many top candidates the cross-encoder re-ranks (default 50).
- ``RERANK_MAX_TOKENS``, ``RERANK_QUEUE``, ``RERANK_TIMEOUT``: the cross-encoder's
  :class:`~search.rerank.RerankLimits` (defaults 25,600 tokens per request, 1 waiting
  request, 30 s); beyond them a search with ``rerank`` answers 503 with ``Retry-After``.
- ``ENGINE``: an already open ``SearchEngine`` to serve instead of opening ``INDEX_DIR``.
"""

from __future__ import annotations

from typing import Any

from flask import Flask

from web import errors, render, security
from web.reload import Reloader

EXTENSION = "pubmed_search"
RELOADER = "pubmed_search.reloader"
DEFAULTS: dict[str, Any] = {
    "INDEX_DIR": None,
    "MODEL": None,
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "RELOAD_INTERVAL": 5.0,
    "RERANK_MODEL": None,
    "RERANK_TOP_N": 50,
    "RERANK_MAX_TOKENS": 50 * 512,
    "RERANK_QUEUE": 1,
    "RERANK_TIMEOUT": 30.0,
    "ENGINE": None,
}


def create_app(config: dict[str, Any] | None = None) -> Flask:
    """Build the app for ``config`` (see the module docstring for the keys)."""
    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    app.config.from_mapping(config or {})
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.url_map.merge_slashes = False  # "//" is a 404, not a redirect

    engine = app.config["ENGINE"]
    if engine is None:
        if not app.config["INDEX_DIR"]:
            raise ValueError("INDEX_DIR: the index directory to serve is required")
        from search.engine import SearchEngine

        engine = SearchEngine.open(
            app.config["INDEX_DIR"],
            model=app.config["MODEL"],
            reranker=_reranker(app.config),
            rerank_top_n=int(app.config["RERANK_TOP_N"]),
        )
    app.extensions[EXTENSION] = engine
    reloader = Reloader(engine, app.config["RELOAD_INTERVAL"] or 0)
    app.extensions[RELOADER] = reloader
    app.before_request(reloader.maybe_reload)

    from web.api import bp as api_bp
    from web.ui import bp as ui_bp

    app.register_blueprint(api_bp)
    app.register_blueprint(ui_bp)
    render.register(app)
    errors.register(app)
    security.register(app)
    return app


def _reranker(config: Any) -> Any:
    """The configured cross-encoder, loaded with the server's limits (None without one)."""
    if not config["RERANK_MODEL"]:
        return None
    from search.rerank import CrossEncoderReranker, RerankLimits

    limits = RerankLimits(
        max_tokens=config["RERANK_MAX_TOKENS"],
        queue=config["RERANK_QUEUE"],
        timeout=config["RERANK_TIMEOUT"],
    ).validate(int(config["RERANK_TOP_N"]))
    return CrossEncoderReranker.load(config["RERANK_MODEL"], limits=limits)

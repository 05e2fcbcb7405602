"""Hot reload of a newly published index version while the server runs.

Two triggers, both calling the engine's ``reload_if_changed()`` (which reads CURRENT and,
when it names another version, opens it beside the old one and swaps it in):

- every ``RELOAD_INTERVAL`` seconds at most, checked at the start of a request (0 disables);
  one request thread does the check while the others go on with the version being served;
- SIGHUP (``pubmed-search serve`` installs the handler): reload at once, in a thread.

A failed reload (e.g. the new version needs another model) is logged and the old version
keeps serving.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from search.engine import SearchEngine

log = logging.getLogger(__name__)


class Reloader:
    def __init__(self, engine: SearchEngine, interval: float) -> None:
        self.engine = engine
        self.interval = float(interval)
        self._lock = threading.Lock()
        self._last_check = time.monotonic()
        self.last_error: str | None = None

    def reload_now(self) -> bool:
        """Check CURRENT and swap in a new version; True when one was swapped in."""
        with self._lock:
            return self._reload()

    def _reload(self) -> bool:
        self._last_check = time.monotonic()
        try:
            changed = self.engine.reload_if_changed()
        except Exception as e:  # keep serving the old version
            self.last_error = f"{type(e).__name__}: {e}"
            log.exception("reload failed; still serving version %d", self.engine.version)
            return False
        self.last_error = None
        if changed:
            log.info("now serving index version %d", self.engine.version)
        return changed

    def maybe_reload(self) -> None:
        """The cheap per-request check: at most one CURRENT read per interval."""
        if self.interval <= 0 or time.monotonic() - self._last_check < self.interval:
            return
        if not self._lock.acquire(blocking=False):
            return  # another thread is checking; serve the current version meanwhile
        try:
            if time.monotonic() - self._last_check >= self.interval:
                self._reload()
        finally:
            self._lock.release()

    def install_sighup(self) -> None:
        """Reload on SIGHUP (main thread only; a no-op where SIGHUP does not exist)."""
        if not hasattr(signal, "SIGHUP"):
            return

        def on_hup(signum: int, frame: object) -> None:
            log.info("SIGHUP: checking for a new index version")
            threading.Thread(target=self.reload_now, name="sighup-reload", daemon=True).start()

        signal.signal(signal.SIGHUP, on_hup)

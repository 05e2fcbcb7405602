"""`pubmed-search tune`: contrastive adaptation of an encoder to the user's own collection.

Public names: :func:`tune`, :class:`TuneSettings`, :class:`TuneResult`, :class:`TuneError`,
``TUNING_FILE``. Modules: ``pipeline`` (checks and steps), ``settings``, ``data`` (pairs),
``model`` (model, loss, evaluation), ``train`` (the resumable loop).
"""

from indexer.tune.pipeline import tune
from indexer.tune.settings import TUNING_FILE, TuneError, TuneResult, TuneSettings

__all__ = ["TUNING_FILE", "TuneError", "TuneResult", "TuneSettings", "tune"]

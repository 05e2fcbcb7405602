"""The one way a model is loaded, from a local directory or the Hugging Face hub / cache.

Rules (:func:`from_pretrained`):

- a local directory (an existing path, or a name starting with ``/``, ``.`` or ``~``, or with
  more than one ``/``) is loaded from its files only; it must hold ``config.json``;
- a hub id is looked up in the local Hugging Face cache first; when that fails it is
  downloaded, unless the hub is switched off (``HF_HUB_OFFLINE=1``: the cache only) or cannot
  be reached (:func:`hub_reachable`, which follows ``HF_ENDPOINT``, e.g. a mirror).

Every failure raises ``kind.error`` (e.g. ``ModelLoadError``) with a message naming the model
and the fix: pass a directory, pre-download it, or set ``HF_HUB_OFFLINE=1`` to use the cache
(:func:`load_error`). What differs between the encoder and the cross-encoder (the transformers
auto class, the error class, the CLI option in the message) is a :class:`ModelKind`.

torch and transformers are imported only when a model is loaded.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

PROXY_VARS = ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")


@dataclass(frozen=True)
class ModelKind:
    """What is loaded: its transformers auto class, its error class and how messages name it."""

    auto_class: str  # "AutoModel" | "AutoModelForSequenceClassification" | ...
    error: type[Exception]
    noun: str = "model"  # "cannot load {noun} {name!r}{purpose}: ..."
    purpose: str = ""
    option: str = "--model"  # the CLI option that takes a model directory
    holding: str = "the model"  # "a local directory holding {holding}"
    example: str = ""  # appended inside the parenthesised list of files


def offline() -> bool:
    """HF_HUB_OFFLINE is set: the Hugging Face cache only, no network."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_address() -> tuple[str, int]:
    """(host, port) of the hub the transformers loader would use (HF_ENDPOINT, e.g. a mirror)."""
    from huggingface_hub import constants

    url = urlparse(constants.ENDPOINT)
    return url.hostname or "huggingface.co", url.port or (80 if url.scheme == "http" else 443)


def hub_reachable(timeout: float = 3.0) -> bool:
    """False when offline or a TCP connection to the hub fails; True behind a proxy (the proxy
    decides: let the hub client try)."""
    if offline():
        return False
    if any(os.environ.get(v) for v in PROXY_VARS):
        return True
    try:
        with socket.create_connection(hub_address(), timeout=timeout):
            return True
    except OSError:
        return False


def in_cache(name: str, filename: str = "config.json") -> bool:
    """True when ``filename`` of hub model ``name`` is in the local Hugging Face cache."""
    try:
        from huggingface_hub import try_to_load_from_cache

        return isinstance(try_to_load_from_cache(name, filename), str)
    except Exception:  # an old huggingface_hub without the helper, or a malformed id
        return False


def is_local(name: str) -> bool:
    """``name`` means a directory on this machine rather than a hub id."""
    return (
        Path(name).expanduser().exists()
        or name.startswith(("/", ".", "~"))
        or (name.count("/") > 1)
    )


def load_error(kind: ModelKind, name: str, reason: str) -> Exception:
    """``kind.error`` whose message names the model, the reason and the fix (for a local path:
    a copy of the directory, never a hub download; for a hub id: the hub's ways)."""
    if is_local(name):
        return kind.error(
            f"cannot load {kind.noun} {name!r}{kind.purpose}: {reason}. Fix: pass {kind.option} "
            f"with a copy of it, {kind.option} PATH naming a local directory holding "
            f"{kind.holding} (config.json, weights, tokenizer files{kind.example}); a path is "
            "never downloaded: for a hub model pass its hub id instead (with HF_HUB_OFFLINE=1 "
            "it is taken from the Hugging Face cache only)"
        )
    return kind.error(
        f"cannot load {kind.noun} {name!r}{kind.purpose}: {reason}. Fix: pass {kind.option} PATH "
        f"to a local directory holding {kind.holding} (config.json, weights, tokenizer "
        f"files{kind.example}); or pre-download it on a connected machine with "
        f"`huggingface-cli download {name}` and copy the Hugging Face cache over; or, if it "
        f"is already in the cache, set HF_HUB_OFFLINE=1 to use the cache"
    )


def record_location(name: str, base: str | os.PathLike[str]) -> tuple[str, str | None]:
    """What an index in directory ``base`` records of model ``name``: (its absolute path, its
    path relative to ``base``) for a local directory, so that the index serves from any working
    directory and still finds the model when both move together; (name, None) for a hub id."""
    if not is_local(name):
        return name, None
    absolute = os.path.abspath(os.path.expanduser(name))
    return absolute, os.path.relpath(absolute, os.path.abspath(base))


def locate(
    kind: ModelKind,
    recorded: str,
    relpath: str | None,
    base: str | os.PathLike[str],
    built_in: str | None = None,
) -> str:
    """The model an index at ``base`` recorded (:func:`record_location`), found for a reader.

    A hub id is returned as is. A path is looked for, in order: as recorded (absolute; an old
    index's relative path: against the working directory, as before), then relative to
    ``base`` (``relpath``; an old relative path: joined to ``base``). None there: ``kind.error``
    naming the paths, pointing to ``--model`` and never to a hub download.
    """
    root = os.path.abspath(base)
    if relpath is None and not is_local(recorded) and not os.path.isdir(Path(root, recorded)):
        return recorded  # a hub id
    first = Path(recorded).expanduser()
    candidates = [first]
    rel = relpath if relpath is not None else (None if first.is_absolute() else recorded)
    if rel is not None:
        candidates.append(Path(os.path.normpath(os.path.join(root, rel))))
    for path in candidates:
        if path.is_dir():
            return recorded if path is first else str(path)
    where = f"the index built in {built_in}" if built_in else f"the index in {root}"
    also = f"; not at {candidates[1]} (relative to {root}) either" if len(candidates) > 1 else ""
    reason = f"no such model directory: {first} (recorded by {where}{also})"
    raise load_error(kind, recorded, reason)


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else type(e).__name__


def from_pretrained(name: str, kind: ModelKind) -> tuple[Any, Any, set[str]]:
    """(tokenizer, model, names of weights initialised at random) by the rules above."""
    import transformers
    from transformers.utils import logging as hf_logging

    path = Path(name).expanduser()
    local = is_local(name)
    if local and not path.is_dir():
        raise load_error(kind, name, f"no such directory: {path}")
    if local and not (path / "config.json").is_file():
        raise load_error(kind, name, f"{path} is not a model directory (no config.json)")
    auto = getattr(transformers, kind.auto_class)
    src = str(path) if local else name
    attempts = [True] if (local or offline()) else [True, False]  # the cache first
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        for local_only in attempts:
            if not local_only and not hub_reachable():
                raise load_error(kind, name, "not in the local cache and the hub is unreachable")
            try:
                tok = transformers.AutoTokenizer.from_pretrained(src, local_files_only=local_only)
                model, info = auto.from_pretrained(
                    src, local_files_only=local_only, output_loading_info=True
                )
                return tok, model, set(info.get("missing_keys") or ())
            except Exception as e:
                if local_only and len(attempts) > 1:
                    continue
                raise load_error(kind, name, _first_line(e)) from e
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    raise AssertionError("unreachable")

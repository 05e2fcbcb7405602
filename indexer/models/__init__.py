"""Models: the text encoder (BioLinkBERT by default) that turns articles and queries into vectors,
and the one loader every model of the project goes through.

Modules: ``encoder`` (:class:`Encoder`), ``loading`` (a model from a directory or the Hugging
Face hub / cache, with the error message that names the fix; also used by the cross-encoder
of ``search.rerank``, tuning and the demo), ``device`` (physical cores, CPU/CUDA choice,
autocast dtype), ``pooling`` (mean / CLS, shared by the encoder and tuning).

Public names: :class:`Encoder`, :class:`EncoderConfig`, :class:`ModelLoadError`,
``DEFAULT_MODEL``, :class:`ModelKind`, :func:`from_pretrained`. torch and transformers are
imported only when a model is loaded.
"""

from indexer.models.encoder import DEFAULT_MODEL, Encoder, EncoderConfig, ModelLoadError
from indexer.models.loading import ModelKind, from_pretrained

__all__ = [
    "DEFAULT_MODEL",
    "Encoder",
    "EncoderConfig",
    "ModelKind",
    "ModelLoadError",
    "from_pretrained",
]

"""Models: the text encoder (BioLinkBERT by default) that turns articles and queries into vectors.

Public names: :class:`Encoder`, :class:`EncoderConfig`, :class:`ModelLoadError`,
``DEFAULT_MODEL``. torch and transformers are imported only when a model is loaded.
"""

from indexer.models.encoder import DEFAULT_MODEL, Encoder, EncoderConfig, ModelLoadError

__all__ = ["DEFAULT_MODEL", "Encoder", "EncoderConfig", "ModelLoadError"]

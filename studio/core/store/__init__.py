"""The model store and its cards: :mod:`.card` (what a model is), :mod:`.store` (the folders),
:mod:`.importers` (files from elsewhere: Studio ``.safetensors`` exports and reference ``.pth``
generators, and the one-file export)."""

from studio.core.errors import StoreError

from .card import (
    CARD_NAME,
    DIRECTION_NETWORK,
    FORMAT_VERSION,
    KINDS,
    WEIGHTS_NAME,
    LoadedModel,
    ModelInfo,
    build_networks,
    check_card,
    flatten_state,
    new_card,
    split_state,
    validate_name,
)
from .importers import import_plan, read_weights_file, write_safetensors
from .store import ModelStore

__all__ = [
    "CARD_NAME", "DIRECTION_NETWORK", "FORMAT_VERSION", "KINDS", "WEIGHTS_NAME", "LoadedModel", "ModelInfo",
    "ModelStore", "StoreError", "build_networks", "check_card", "flatten_state", "import_plan", "new_card",
    "read_weights_file", "split_state", "validate_name", "write_safetensors",
]

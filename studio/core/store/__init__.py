"""The model store and its cards: :mod:`.card` (what a model is), :mod:`.store` (the folders),
:mod:`.importers` (files from elsewhere: Studio ``.safetensors`` exports and reference ``.pth``
generators, and the one-file export), :mod:`.catalog` (the models Studio can install) and
:mod:`.downloads` (resumable downloads, catalog installs)."""

from studio.core.errors import StoreError

from .card import (
    CARD_NAME,
    DIRECTION_NETWORK,
    FORMAT_VERSION,
    KINDS,
    LATENT_KINDS,
    UNPAIRED_KINDS,
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
from .catalog import (
    DEFAULT_MIRROR,
    MIRROR_ENV,
    CatalogEntry,
    CatalogError,
    check_online,
    entry_url,
    find_entry,
    installed,
    load_catalog,
    mirror_url,
)
from .downloads import DownloadError, download_job, downloads_dir, file_name_for, install_job
from .importers import import_plan, read_weights_file, write_safetensors
from .model_store import ModelStore

__all__ = [
    "CARD_NAME", "DEFAULT_MIRROR", "DIRECTION_NETWORK", "FORMAT_VERSION", "KINDS", "LATENT_KINDS", "MIRROR_ENV", "UNPAIRED_KINDS",
    "WEIGHTS_NAME",
    "CatalogEntry", "CatalogError", "DownloadError", "LoadedModel", "ModelInfo", "ModelStore", "StoreError",
    "build_networks", "check_card", "check_online", "download_job", "downloads_dir", "entry_url",
    "file_name_for", "find_entry", "flatten_state", "import_plan", "install_job", "installed", "load_catalog",
    "mirror_url", "new_card", "read_weights_file", "split_state", "validate_name", "write_safetensors",
]

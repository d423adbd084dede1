"""The Models panel: :mod:`.panel` (the manager and its store operations), :mod:`.table` (the
store's table), :mod:`.details` (the card and the training curves), :mod:`.onnx` (the ONNX export
row). The text it shows comes from :mod:`studio.core.report`, shared with ``studio models``."""

from .details import ModelDetails, card_html
from .onnx import PART_LABELS, OnnxExport
from .panel import MODEL_SUFFIXES, ModelsPanel
from .table import COLUMNS, ModelTable, StoreTableModel

__all__ = ["COLUMNS", "MODEL_SUFFIXES", "PART_LABELS", "ModelDetails", "ModelTable", "ModelsPanel", "OnnxExport",
           "StoreTableModel", "card_html"]

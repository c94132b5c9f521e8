"""Unlearning methods: one file each, registered by name.

Importing this package registers every built-in method.
"""

from . import finetune, neggrad  # noqa: F401  (registration side effect)
from .base import UnlearningModule, frozen_copy
from .registry import METHODS, build_method, get_method, method_hparams, register_method
from .training import SupervisedTraining

__all__ = [
    "METHODS",
    "SupervisedTraining",
    "UnlearningModule",
    "build_method",
    "frozen_copy",
    "get_method",
    "method_hparams",
    "register_method",
]

"""Unlearning methods: one file each, registered by name with ``@register_method``.

Importing this package imports every module in it, which registers every built-in method;
a new method is one new file.
"""

import importlib
import pkgutil

from .base import UnlearningModule, frozen_copy, layer_groups, reinitialise_
from .fit import fit_unlearning, make_trainer
from .registry import (
    METHODS,
    build_method,
    get_method,
    method_hparams,
    methods_for_task,
    register_method,
)
from .training import SupervisedTraining

for _info in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_info.name}")

__all__ = [
    "METHODS",
    "SupervisedTraining",
    "UnlearningModule",
    "build_method",
    "fit_unlearning",
    "frozen_copy",
    "get_method",
    "layer_groups",
    "make_trainer",
    "method_hparams",
    "methods_for_task",
    "register_method",
    "reinitialise_",
]

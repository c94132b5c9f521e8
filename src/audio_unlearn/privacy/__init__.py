"""Voice-privacy workflow: forget enrolled speakers on request, attack the result, keep a
record, purge what still holds the forgotten data.

- :mod:`.request`: :class:`ForgetRequest` and :func:`load_request` (YAML/JSON).
- :mod:`.workflow`: :func:`plan_forget` (validate and load everything, write nothing),
  :func:`run_forget` (unlearn, evaluate, attack, write), :func:`forget` (both).
- :mod:`.metrics`: before/after metrics (accuracy, loss, MIAs, verification EER).
- :mod:`.attacks`: :func:`informed_mia`, :func:`relearn_attack`, :func:`sequential_attack`.
- :mod:`.record`: the unlearning record (JSON + Markdown + plots).
- :mod:`.purge`: artefacts holding forget-set data and :func:`purge_run_directory`.

This package wires data, models, methods and evaluation together, like
:mod:`audio_unlearn.experiment`; the layers below never import it.
"""

from .attacks import informed_mia, relearn_attack, sequential_attack
from .deployment import Deployment, deploy_classifier
from .purge import Artefact, PurgeReport, purge_run_directory, scan_run_directory
from .record import load_record, render_markdown, write_record
from .request import ForgetRequest, load_request
from .workflow import (
    AttackConfig,
    ForgetConfig,
    ForgetPlan,
    forget,
    load_forget_config,
    plan_forget,
    plan_from_objects,
    run_forget,
    unlearn,
)

__all__ = [
    "Artefact",
    "AttackConfig",
    "Deployment",
    "ForgetConfig",
    "ForgetPlan",
    "ForgetRequest",
    "PurgeReport",
    "deploy_classifier",
    "forget",
    "informed_mia",
    "load_forget_config",
    "load_record",
    "load_request",
    "plan_forget",
    "plan_from_objects",
    "purge_run_directory",
    "relearn_attack",
    "render_markdown",
    "run_forget",
    "scan_run_directory",
    "sequential_attack",
    "unlearn",
    "write_record",
]

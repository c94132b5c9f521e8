"""Tasks as plug-ins: what is specific to classification, ASR and TTS.

A task says what its batches are and what its model's loss and output distribution are
(:class:`~audio_unlearn.tasks.base.Task`); unlearning methods are written against it, so
one implementation of an algorithm serves every task that provides what it uses.
"""

from __future__ import annotations

from .asr import ASRTask
from .base import Task
from .classification import ClassificationTask
from .tts import TTSTask

__all__ = ["TASKS", "ASRTask", "ClassificationTask", "TTSTask", "Task", "get_task"]

#: task name -> its plug-in class
TASKS: dict[str, type[Task]] = {t.name: t for t in (ClassificationTask, ASRTask, TTSTask)}


def get_task(task: str | Task) -> Task:
    """The task plug-in named ``task`` (an instance passes through).

    Raises:
        ValueError: an unknown task name.
    """
    if isinstance(task, Task):
        return task
    try:
        return TASKS[task]()
    except KeyError:
        raise ValueError(f"unknown task {task!r}; tasks: {sorted(TASKS)}") from None

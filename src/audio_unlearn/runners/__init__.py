"""The task runners' configs, reports and helpers (the runners themselves:
:mod:`audio_unlearn.experiment`, :mod:`audio_unlearn.asr_experiment`,
:mod:`audio_unlearn.tts_experiment`, :mod:`audio_unlearn.unslu`).

``<task>_config``: the config dataclasses a ``task:`` config fills and their loader;
``<task>_report``: the report's columns, Markdown and plots; ``tts_judge``: the TTS run's
offline WER judge. Like the runners, these wire the layers together (data, models,
methods, evaluation); the :mod:`audio_unlearn.tasks` plug-ins below them import models only.
"""

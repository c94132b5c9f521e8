"""``python -m audio_unlearn.cli``: the ``audio-unlearn`` command."""

from . import main

raise SystemExit(main())

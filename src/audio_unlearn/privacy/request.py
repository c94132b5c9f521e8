"""A forget request: which speakers (and single utterances) a data subject asked to remove.

A request is a small YAML or JSON file, e.g.::

    id: req-2025-0042            # optional; a digest of the contents otherwise
    speakers: [spk07]            # enrolled speakers to forget
    utterances: [spk11_0003]     # optional single recordings (of any speaker)
    reason: GDPR art. 17 erasure request
    requester: data-protection office
    date: 2025-06-01

It says *what* to forget; *how* (method, hyper-parameters, attacks) is the
:class:`~audio_unlearn.privacy.workflow.ForgetConfig`. Validation against the data (unknown
speakers, speakers without data, an empty retain set) happens in
:func:`~audio_unlearn.privacy.workflow.plan_forget`, before anything is written.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import yaml

__all__ = ["ForgetRequest", "load_request"]


def _ids(value: Any, name: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, list | tuple):
        raise ValueError(
            f"request field {name!r} must be a list of ids, got {type(value).__name__} "
            f"{value!r}; write e.g. `{name}: [spk07]`"
        )
    out = []
    for item in value:
        if not isinstance(item, str | int) or isinstance(item, bool) or str(item).strip() == "":
            raise ValueError(f"request field {name!r} holds an invalid id {item!r}")
        out.append(str(item))
    return tuple(dict.fromkeys(out))  # drop repeats, keep order


@dataclass(frozen=True)
class ForgetRequest:
    """What a data subject asked to forget.

    Attributes:
        speakers: speaker ids whose every training utterance is forgotten.
        utterances: single utterance ids to forget in addition (of any speaker).
        reason: free text (legal basis, ticket), copied into the record.
        requester: who asked (free text).
        date: when it was asked (free text, ISO 8601 recommended).
        id: request id used in file names; a digest of the contents when empty.

    Raises:
        ValueError: neither speakers nor utterances, or a field of the wrong type.
    """

    speakers: tuple[str, ...] = ()
    utterances: tuple[str, ...] = ()
    reason: str = ""
    requester: str = ""
    date: str = ""
    id: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "speakers", _ids(self.speakers, "speakers"))
        object.__setattr__(self, "utterances", _ids(self.utterances, "utterances"))
        for name in ("reason", "requester", "date", "id"):
            value = getattr(self, name)
            if value is None:
                value = ""
            if not isinstance(value, str | int | float) or isinstance(value, bool):
                raise ValueError(f"request field {name!r} must be text, got {value!r}")
            object.__setattr__(self, name, str(value))
        if not self.speakers and not self.utterances:
            raise ValueError(
                "the request names nothing to forget: give `speakers: [...]` and/or "
                "`utterances: [...]`"
            )
        if self.id and not all(c.isalnum() or c in "-_." for c in self.id):
            raise ValueError(
                f"request id {self.id!r} may hold only letters, digits, '-', '_' and '.' "
                "(it becomes part of file names)"
            )

    @property
    def request_id(self) -> str:
        """``id`` if given, else ``req-`` + a digest of speakers and utterances."""
        if self.id:
            return self.id
        text = json.dumps([sorted(self.speakers), sorted(self.utterances)])
        return "req-" + hashlib.sha256(text.encode()).hexdigest()[:10]

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.request_id,
            "speakers": list(self.speakers),
            "utterances": list(self.utterances),
            "reason": self.reason,
            "requester": self.requester,
            "date": self.date,
        }

    @classmethod
    def from_mapping(cls, record: Any, source: str = "request") -> ForgetRequest:
        if not isinstance(record, dict):
            raise ValueError(f"{source}: a request must be a mapping, got {type(record).__name__}")
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(record) - allowed)
        if unknown:
            raise ValueError(
                f"{source}: unknown request field(s) {unknown}; allowed: {sorted(allowed)}"
            )
        try:
            return cls(**record)
        except ValueError as err:
            raise ValueError(f"{source}: {err}") from None


def load_request(path: str | os.PathLike) -> ForgetRequest:
    """Read a request file (``.yaml``/``.yml`` or ``.json``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable file, unknown fields, or an empty request.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"request file {path} not found")
    text = path.read_text(encoding="utf-8")
    try:
        if path.suffix.lower() == ".json":
            record = json.loads(text)
        elif path.suffix.lower() in (".yaml", ".yml"):
            record = yaml.safe_load(text)
        else:
            raise ValueError(
                f"request file {path} must end in .yaml, .yml or .json, not {path.suffix!r}"
            )
    except json.JSONDecodeError as err:
        raise ValueError(f"request file {path} is not valid JSON: {err}") from None
    except yaml.YAMLError as err:
        from ..run.config import yaml_problem

        raise ValueError(f"request file {path} is not valid YAML ({yaml_problem(err)})") from None
    # YAML reads unquoted dates as datetime.date: keep them as text
    if isinstance(record, dict) and record.get("date") is not None:
        record["date"] = str(record["date"])
    return ForgetRequest.from_mapping(record, str(path))

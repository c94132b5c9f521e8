"""The stages every task's run shares: config record, split, reference models, methods.

:class:`Runner` is the pipeline of ``audio-unlearn run``: it writes the run's config,
loads or makes the saved split, trains (or reuses) the original and gold references and
runs (or reuses) each unlearning method from the original, all through one settings-keyed
store (:mod:`audio_unlearn.run.store`) and one DDP policy (:mod:`audio_unlearn.run.ddp`:
every rank trains, rank zero alone writes and evaluates). A task's runner
(classification, ASR, TTS, UnSLU-BENCH) supplies only the task hooks below: how its model
is built, saved and loaded, how its references train, and its evaluation and report.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

import lightning as L
import torch
import yaml
from lightning.pytorch.callbacks import Timer

from ..data.manifest import atomic_write_text
from ..data.splits import ForgetSplit
from ..methods.fit import fit_unlearning, make_trainer
from ..methods.registry import build_method, check_methods
from .ddp import is_global_zero, record_rank
from .store import audio_identity, key_parts, reuse_checkpoint, settings_key
from .sweep import check_sweep, run_sweep

__all__ = ["METHOD_FACTS", "Runner", "check_output_dir"]

#: numeric method attributes recorded in a method checkpoint's meta and its report row
#: (prune-and-regrow's impair time, chosen sparsity and pruned count; TGU's teacher calls)
METHOD_FACTS = ("impair_seconds", "chosen_sparsity", "n_pruned", "teacher_generations")


class Runner:
    """One unlearning run of :attr:`task` in ``run_dir``.

    Subclasses implement the task hooks :meth:`new_model`, :meth:`load_model`,
    :meth:`save_model`, :meth:`reference_module` and :meth:`model_key`, and may override
    :meth:`reference_trainer`, :meth:`unlearning_trainer`, :meth:`method_settings` and
    :meth:`before_unlearning`. A stage's result is ``(model, meta)`` where ``meta`` holds
    the settings key, the wall time ``seconds`` and the trainer steps.

    Args:
        cfg: the run's config dataclass (``seed``, ``methods``, ``train``, ``trainer``).
        run_dir: the run directory (created).
        progress: show progress bars.
    """

    #: the task (:mod:`audio_unlearn.tasks`) whose methods this runner runs
    task: ClassVar[str] = "classification"
    #: per-method settings the runner reads itself (not method hyper-parameters)
    runner_keys: ClassVar[tuple[str, ...]] = ()
    #: checkpoint errors that mean "recompute" rather than "stop"
    load_errors: ClassVar[tuple[type[BaseException], ...]] = ()
    #: the forget-set kinds (``split.kind``) this runner's evaluation supports
    split_kinds: ClassVar[tuple[str, ...]] = ("speaker", "class", "item")
    #: the gold reference's name in reports
    gold_name: ClassVar[str] = "gold"
    #: what the reference models are called in messages
    model_noun: ClassVar[str] = "model"

    def __init__(self, cfg: Any, run_dir: str | Path, *, progress: bool = True):
        # before any work; numbers given as text (YAML 1.1's ``3e-4``) become numbers
        checked = check_methods(cfg.methods, self.task, runner_keys=self.runner_keys)
        if checked:
            cfg.methods = checked
        check_sweep(cfg, self.task)
        kind = getattr(getattr(cfg, "split", None), "kind", "speaker")
        if kind not in self.split_kinds:
            raise ValueError(
                f"split.kind must be one of {list(self.split_kinds)} for the {self.task} "
                f"runner, not {kind!r}"
            )
        e = getattr(cfg, "eval", None)
        if e is not None and getattr(e, "relearn_steps", 0) > 0:
            missing = [m for m in e.relearn_methods if m not in cfg.methods]
            if missing:
                raise ValueError(
                    f"eval.relearn_methods names {missing}, which the run does not run "
                    f"(methods: {list(cfg.methods)})"
                )
        check_output_dir(run_dir)
        self.cfg = cfg
        self.unlearning_seeds()  # seeds that cannot run are refused before any work
        self.check_model()
        self.check_options()
        self.run_dir = Path(run_dir)
        self.ckpt_dir = self.run_dir / "checkpoints"
        self.progress = progress
        # Under DDP every rank runs this script; only rank 0 writes files and evaluates (on
        # the full sets, so each metric is computed once). Lightning reads the rank from
        # the launcher's environment (RANK / LOCAL_RANK / SLURM_PROCID).
        self.is_global_zero = is_global_zero()
        #: what was reused and recomputed, and why (report.json's "reuse", report.md)
        self.reuse_log: list[dict[str, Any]] = []

    def check_model(self) -> None:
        """Check the config's model settings (names, keys, types) before any work; they
        may be normalised in place (numbers given as text become numbers)."""

    def check_options(self) -> None:
        """Check a task's own options that must agree with each other, before any work."""

    def _say(self, *args) -> None:
        if self.is_global_zero:
            print(*args, flush=True)

    # -- task hooks ------------------------------------------------------------------------
    def new_model(self) -> torch.nn.Module:
        """A fresh (untrained) model of the run's task."""
        raise NotImplementedError

    def load_model(self, path: Path) -> Any:
        """The checkpoint at ``path``: an object with ``.model`` and ``.meta``."""
        raise NotImplementedError

    def save_model(self, path: Path, model: torch.nn.Module, meta: dict[str, Any]) -> None:
        """Write ``model`` with ``meta`` to ``path`` (atomically)."""
        raise NotImplementedError

    def reference_module(self, model: torch.nn.Module, role: str, dm) -> L.LightningModule:
        """The LightningModule that trains reference ``role`` ("original" / gold)."""
        raise NotImplementedError

    def model_key(self) -> Any:
        """The model settings that enter every reference key (JSON-able)."""
        raise NotImplementedError

    def data_key_of(self, split: ForgetSplit) -> dict[str, Any]:
        """The data settings of a model trained or unlearned on ``split`` (JSON-able)."""
        raise NotImplementedError

    def request_datamodule(self, split: ForgetSplit, extra_sets: dict[str, Any]):
        """The data module of one forget request (``extra_sets``: earlier forget sets)."""
        raise NotImplementedError

    def reference_trainer(self) -> dict[str, Any]:
        """``make_trainer`` arguments of reference training (default: ``train.epochs``)."""
        return {"epochs": self.cfg.train.epochs, **self.cfg.trainer}

    def unlearning_trainer(self, settings: dict[str, Any]) -> dict[str, Any]:
        """``fit_unlearning`` trainer arguments of a method run with runner ``settings``."""
        return dict(self.cfg.trainer)

    def reference_callbacks(self, module: L.LightningModule) -> list:
        """Extra Lightning callbacks of a reference training (e.g. early stopping)."""
        return []

    def reference_facts(self, module: L.LightningModule) -> dict[str, Any]:
        """What a reference training decided on its own (kept in the checkpoint's meta)."""
        return {}

    def method_settings(self, hparams: dict[str, Any]) -> dict[str, Any]:
        """Pop the runner's own per-method settings (:attr:`runner_keys`) from ``hparams``;
        they enter the method's key."""
        return {"batch_size": self.cfg.train.batch_size}

    def before_unlearning(self, name: str, module, dm) -> list:
        """Prepare ``dm`` for method ``name``'s ``module``; return extra trainer callbacks."""
        return []

    def before_relearning(self, dm, n_utterances: int) -> None:
        """Prepare ``dm`` for the relearning attack on ``n_utterances`` (default: nothing)."""

    def reusable(self, name: str, meta: dict[str, Any]) -> bool:
        """Whether a method checkpoint with matching key can stand (default: yes)."""
        return True

    def method_facts(self, module, callbacks: list) -> dict[str, Any]:
        """Facts about a finished method run worth recording in its meta."""
        return {
            k: getattr(module, k)
            for k in METHOD_FACTS
            if isinstance(getattr(module, k, None), (int, float))
        }

    def trained(self, model: torch.nn.Module) -> torch.nn.Module:
        """A trained model as the run keeps it (on the CPU, in eval mode)."""
        return model.cpu().eval()

    def ckpt_path(self, name: str, folder: str | None = None) -> Path:
        """The checkpoint of ``name`` (under ``folder`` of the checkpoint directory)."""
        base = self.ckpt_dir / folder if folder else self.ckpt_dir
        return base / f"{name}.pt"

    # -- the run's record and split ----------------------------------------------------------
    def write_report(self, report: dict[str, Any], markdown: str, **dump: Any) -> None:
        """Write ``report.json`` (with :attr:`reuse_log` as ``"reuse"``) and ``report.md``
        (with a section on what was reused and why)."""
        report["reuse"] = self.reuse_log
        dump.setdefault("indent", 1)
        atomic_write_text(self.run_dir / "report.json", json.dumps(report, **dump) + "\n")
        atomic_write_text(self.run_dir / "report.md", markdown.rstrip("\n") + self.reuse_markdown())

    def reuse_markdown(self) -> str:
        """``report.md``'s section on reused and recomputed checkpoints."""
        if not self.reuse_log:
            return "\n"
        lines = ["", "", "## Reused and recomputed", ""]
        for entry in self.reuse_log:
            verb = "reused" if entry["reused"] else "computed"
            lines.append(f"- `{entry['checkpoint']}`: {verb} ({entry['why']})")
        return "\n".join(lines) + "\n"

    def write_config(self) -> None:
        """Create the run directory and record the config (rank zero)."""
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if self.is_global_zero:
            config = yaml.safe_dump(dataclasses.asdict(self.cfg))
            atomic_write_text(self.run_dir / "config.yaml", config)

    def load_or_make_split(
        self,
        params: dict[str, Any],
        make: Callable[[], ForgetSplit],
        *,
        utterances,
        manifest: str | Path,
    ) -> ForgetSplit:
        """The run's saved ``split.json`` when it was made with ``params``, else ``make()``
        (saved by rank zero).

        Raises:
            ValueError: a saved split made with other settings, or not of ``utterances``.
        """
        path = self.run_dir / "split.json"
        if path.is_file() and not self._split_still_fits(path, utterances, manifest):
            path.unlink()
        if path.is_file():
            split = ForgetSplit.load(path)
            split.check_against(utterances, str(manifest))
            saved = split.params.get("config")
            if isinstance(saved, dict):  # settings added since it was saved: their defaults
                defaults = dataclasses.asdict(type(self.cfg.split)())
                saved = {**{k: v for k, v in defaults.items() if k in params}, **saved}
            if saved != params:
                raise ValueError(
                    f"{path} was made with other split settings "
                    f"({split.params.get('config')}); use a new run directory or delete it"
                )
            self._check_sweep_split(split)
            return split
        split = make()
        split = dataclasses.replace(split, params={**split.params, "config": params})
        self._check_sweep_split(split)
        if self.is_global_zero:
            split.save(path)
        return split

    def _split_still_fits(self, path: Path, utterances, manifest) -> bool:
        """False when the saved split names utterances the corpus no longer has and no model
        was trained from it (a run that stopped on bad audio, whose line the user then
        removed): it is made again. With trained models it stands, and loading it says
        why it cannot be used."""
        try:
            ForgetSplit.load(path).check_against(utterances, str(manifest))
            return True
        except ValueError:
            trained = self.ckpt_dir.is_dir() and any(p.is_file() for p in self.ckpt_dir.rglob("*"))
            if trained:
                return True
            self._say(
                f"{path} names utterances the corpus no longer has and no model was trained "
                "from it; making the split again"
            )
            return False

    def _check_sweep_split(self, split: ForgetSplit) -> None:
        sweep = getattr(self.cfg, "sweep", None)
        if sweep is not None and sweep.on and not split.valid:
            raise ValueError(
                "the sweep chooses on validation data but the split has none: set "
                "split.n_valid_speakers > 0, or use a corpus with an official validation list"
            )

    def tuned_methods(self, gold: torch.nn.Module) -> dict[str, dict[str, Any]]:
        """The run's ``{method: hyper-parameters}``, with the learning rates the sweep
        chose on validation (``sweep:``; :mod:`audio_unlearn.run.sweep`) when it is on."""
        return run_sweep(self, gold)

    def split_digest(self, split: ForgetSplit) -> dict[str, str]:
        """Digests of a split's forget, retain and test ids and of the audio files of its
        utterances (:func:`~audio_unlearn.run.store.audio_identity`), for data keys: other
        audio behind the same ids is other data."""
        digest = {k: settings_key(getattr(split, k)) for k in ("forget", "retain", "test")}
        ids = sorted({*split.forget, *split.retain, *split.valid, *split.test})
        cache = self.__dict__.setdefault("_audio_digests", {})
        ids_key = settings_key(ids)
        if ids_key not in cache:
            by_id = {u.id: u for u in self.utterances}
            cache[ids_key] = audio_identity(by_id[i].audio for i in ids if i in by_id)
        digest["audio"] = cache[ids_key]
        return digest

    # -- the evaluation store ------------------------------------------------------------------
    def evaluation_settings(self) -> dict[str, Any]:
        """Everything besides the model that a stored evaluation depends on: the data, the
        ``eval`` settings (the relearning attack's and the forgetting curve's apart: they
        make other models, not other scores) and the seed."""
        e = getattr(self.cfg, "eval", None)
        settings = dataclasses.asdict(e) if e is not None else {}
        settings = {k: v for k, v in settings.items() if not k.startswith(("relearn", "probe"))}
        return {"data": self.data_key, "eval": settings, "seed": self.cfg.seed}

    def evaluation_path(self, name: str) -> Path:
        """``eval/<name>.json`` (spaces and commas made file-name safe)."""
        return self.run_dir / "eval" / f"{name.replace(', ', '_').replace(' ', '_')}.json"

    def load_evaluation(self, name: str, key: str) -> dict[str, Any] | None:
        """The stored evaluation record of ``name`` when it was made with ``key``."""
        path = self.evaluation_path(name)
        if not path.is_file():
            return None
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError:
            return None
        if record.get("key") != key:
            return None
        self._say(f"reusing {path} (same model and settings)")
        return record

    def save_evaluation(self, name: str, record: dict[str, Any]) -> None:
        """Store ``record`` (with its ``key``) as ``name``'s evaluation (rank zero)."""
        if self.is_global_zero:
            path = self.evaluation_path(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            atomic_write_text(path, json.dumps(record, indent=1, default=_jsonable) + "\n")

    def cached_evaluation(
        self,
        name: str,
        model_key: str | None,
        compute: Callable[[], dict[str, Any]],
        **context: Any,
    ) -> dict[str, Any]:
        """The evaluation row of model ``name`` (checkpoint key ``model_key``): stored
        under ``eval/`` and reused while the model, :meth:`evaluation_settings` and
        ``context`` stay the same; else ``compute()`` (and stored)."""
        if model_key is None:
            return compute()
        key = settings_key({"model": model_key, **self.evaluation_settings(), **context})
        record = self.load_evaluation(name, key)
        if record is not None:
            return record["row"]
        row = compute()
        if row:
            self.save_evaluation(name, {"model": name, "key": key, "row": row})
        return row

    def evaluate(self, model: torch.nn.Module, dm=None, *, earlier: int = 0) -> dict[str, Any]:
        """The task's evaluation row of ``model`` on ``dm`` (default: the run's data module);
        with ``earlier = k - 1`` (request ``k``) also the earlier requests' forget sets."""
        raise NotImplementedError

    def scores(
        self,
        name: str,
        model: torch.nn.Module,
        key: str | None,
        dm=None,
        request: int | None = None,
    ) -> dict[str, Any]:
        """:meth:`evaluate` of model ``name`` (on request ``request``'s data module ``dm``)
        through the run's evaluation store."""
        if request is None:
            return self.cached_evaluation(name, key, lambda: self.evaluate(model))
        compute = lambda: self.evaluate(model, dm, earlier=request - 1)  # noqa: E731
        data = self.request_gold_data[request - 1]
        return self.cached_evaluation(f"r{request}/{name}", key, compute, request=data)

    # -- reference models and methods --------------------------------------------------------
    def reuse(self, path: Path, key: str) -> tuple[torch.nn.Module, dict[str, Any]] | None:
        """``(model, meta)`` of the checkpoint at ``path`` when made with ``key``."""

        def log(reused: bool, why: str) -> None:
            where = path.relative_to(self.run_dir) if path.is_relative_to(self.run_dir) else path
            self.reuse_log.append({"checkpoint": str(where), "reused": reused, "why": why})

        ckpt = reuse_checkpoint(
            path, key, self.load_model, errors=self.load_errors, say=self._say, log=log
        )
        return None if ckpt is None else (ckpt.model, ckpt.meta)

    def reference_key(self, role: str, data: Mapping[str, Any] | None = None) -> str:
        """Settings digest of reference ``role``; a checkpoint with another key is stale."""
        return settings_key(
            {
                "role": role,
                "data": self.data_key if data is None else data,
                "train": _train_key(self.cfg.train),
                "model": self.model_key(),
                "seed": self.cfg.seed,
                **self.key_extra(),
            }
        )

    def key_extra(self) -> dict[str, Any]:
        """Settings beyond data, training, model and seed that make a reference."""
        return {}

    def method_key(
        self,
        name: str,
        hparams: dict[str, Any],
        settings: dict[str, Any],
        start_key: str | None = None,
        request: Any = None,
        seed: int | None = None,
    ) -> str:
        """Settings digest of method ``name`` run from ``start_key`` (default: the original)
        with ``seed`` (default: the run's)."""
        record = {
            "method": name,
            "hparams": hparams,
            "original": start_key or self.reference_key("original"),
            "seed": self.cfg.seed if seed is None else seed,
            **settings,
        }
        if request is not None:
            record["request"] = request
        return settings_key(record)

    def train_reference(
        self, role: str, *, dm=None, path: Path | None = None, key: str | None = None
    ) -> tuple[torch.nn.Module, dict[str, Any]]:
        """Train (or reuse) the original (``role="original"``, train set) or a gold
        reference (retain set). ``dm`` / ``path`` / ``key`` default to the run's data
        module, ``checkpoints/<role>`` and the role's settings key."""
        dm = self.dm if dm is None else dm
        key = key or self.reference_key(role)
        path = path or self.ckpt_path(role)
        reused = self.reuse(path, key)
        if reused is not None:
            return reused
        L.seed_everything(self.cfg.seed, verbose=False)
        model = self.new_model()
        module = self.reference_module(model, role, dm)
        dm.stage = "original" if role == "original" else "gold"
        timer = Timer()
        self._say(
            f"training the {role} {self.model_noun} on "
            f"{'train' if role == 'original' else 'retain'} ({self.training_length()})"
        )
        kwargs = self.reference_trainer()
        epochs = kwargs.pop("epochs")
        callbacks = [timer, *self.reference_callbacks(module)]
        trainer = make_trainer(epochs, progress=self.progress, callbacks=callbacks, **kwargs)
        trainer.fit(module, datamodule=dm)
        record_rank(self.run_dir, trainer, role)
        self.is_global_zero = trainer.is_global_zero
        seconds = timer.time_elapsed("train")
        model = self.trained(model)
        meta = {
            "key": key,
            "key_parts": key_parts(key),
            "seconds": seconds,
            "role": role,
            "steps": int(trainer.global_step),
            **self.reference_facts(module),
        }
        if self.is_global_zero:  # other DDP ranks train, rank 0 writes and evaluates
            self.save_model(path, model, meta)
        return model, meta

    def unlearning_seeds(self) -> list[int | None]:
        """The config's ``seeds`` (each method runs once per seed), or ``[None]``: one run
        with the run's seed.

        Raises:
            ValueError: an empty or repeated list, or seeds with sequential requests.
        """
        seeds = getattr(self.cfg, "seeds", None)
        if seeds is None:
            return [None]
        if not seeds or len(set(seeds)) != len(seeds):
            raise ValueError(f"seeds must name distinct seeds, got {seeds}")
        if getattr(self.cfg, "requests", None) is not None:
            raise ValueError("seeds run single-request experiments; drop requests or seeds")
        return [int(s) for s in seeds]

    def unlearn_seeded(
        self, name: str, hparams: Mapping[str, Any] | None, seed: int | None
    ) -> tuple[str, torch.nn.Module, dict[str, Any]]:
        """:meth:`unlearn` of method ``name`` with ``seed`` (None: the run's): its label
        (``<name>@s<seed>``, the checkpoint and evaluation name), model and meta. The seed
        also seeds the method's own noise (a ``seed`` hyper-parameter, e.g. TGU's teacher)
        unless ``hparams`` sets it."""
        from ..methods.registry import method_hparams

        label = name if seed is None else f"{name}@s{seed}"
        hparams = dict(hparams or {})
        if seed is not None and "seed" in method_hparams(name, self.task):
            hparams.setdefault("seed", seed)
        model, meta = self.unlearn(name, hparams, path=self.ckpt_path(label), seed=seed)
        return label, model, meta

    def training_length(self) -> str:
        """How long reference training runs, for messages."""
        train = self.cfg.train
        steps = getattr(train, "steps", None) or getattr(train, "max_steps", None)
        return f"{steps} steps" if steps else f"{train.epochs} epochs"

    def unlearn(
        self,
        name: str,
        hparams: Mapping[str, Any] | None,
        *,
        start: torch.nn.Module | None = None,
        dm=None,
        path: Path | None = None,
        key: str | None = None,
        seed: int | None = None,
    ) -> tuple[torch.nn.Module, dict[str, Any]]:
        """Run (or reuse) method ``name`` from a copy of ``start`` (default: the original).

        ``dm`` / ``path`` / ``key`` default to the run's data module, ``checkpoints/<name>``
        and the method's settings key. ``seed`` (default: the run's) seeds the method and,
        when given, the data order. The returned meta holds the method's facts
        (:data:`METHOD_FACTS`) besides key, seconds and steps.
        """
        hparams = dict(hparams or {})
        settings = self.method_settings(hparams)
        dm = self.dm if dm is None else dm
        key = key or self.method_key(name, hparams, settings, seed=seed)
        path = path or self.ckpt_path(name)
        reused = self.reuse(path, key)
        if reused is not None:
            if self.reusable(name, reused[1]):
                return reused
            self.reuse_log[-1].update(reused=False, why="lacks what this run asks of it")
        L.seed_everything(self.cfg.seed if seed is None else seed, verbose=False)
        model = copy.deepcopy(self.original if start is None else start).train()
        module = build_method(name, model, task=self.task, **hparams)
        callbacks = self.before_unlearning(name, module, dm)
        self._say(
            f"unlearning with {name} {hparams or '(defaults)'}"
            + ("" if seed is None else f" seed {seed}")
        )
        data_seed = dm.seed
        if seed is not None:
            dm.seed = seed
        try:
            seconds = fit_unlearning(
                module,
                dm,
                progress=self.progress,
                callbacks=callbacks or None,
                **self.unlearning_trainer(settings),
            )
        finally:
            dm.seed = data_seed
        model = self.trained(model)
        trainer = getattr(module, "_trainer", None)
        meta = {
            "key": key,
            "key_parts": key_parts(key),
            "seconds": seconds,
            "role": "method",
            "method": name,
            "hparams": hparams,
            "steps": int(trainer.global_step) if trainer is not None else settings.get("steps"),
            **self.method_facts(module, callbacks),
        }
        if self.is_global_zero:
            self.save_model(path, model, meta)
        return model, meta


#: training settings added after runs were made: while off (None) they stay out of the
#: reference keys, so an earlier run's models are still reused
_LATER_TRAIN_OPTIONS = ("bucket_seconds",)


def _train_key(train: Any) -> dict[str, Any]:
    record = dataclasses.asdict(train)
    return {k: v for k, v in record.items() if not (k in _LATER_TRAIN_OPTIONS and v is None)}


def check_output_dir(path: str | Path) -> None:
    """Refuse a run directory that cannot be made or written, before any work (nothing is
    created here).

    Raises:
        ValueError: ``path`` or one of its parents is a file, or the first existing
            ancestor is not writable.
    """
    path = Path(path)
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and not probe.is_dir():
        where = "is" if probe == path else f"is inside {probe}, which is"
        raise ValueError(f"--out {path} {where} a file, not a directory; choose another --out")
    if probe.exists() and not os.access(probe, os.W_OK | os.X_OK):
        raise ValueError(f"--out {path}: {probe} is not writable; choose a writable --out")


def _jsonable(value: Any) -> Any:
    """JSON form of tensors and NumPy values in evaluation rows (lists and numbers);
    anything else as its text."""
    return value.tolist() if hasattr(value, "tolist") else str(value)

"""How far every bound-checked test result moves over CPU kernel sets, threads and seeds.

Tests that assert a bound on the result of training or unlearning check it through the
``bound`` fixture (``tests/conftest.py``), which records the value when
``AUDIO_UNLEARN_BOUNDS_LOG`` is set; those tests carry the ``bounds`` marker. This script
runs ``pytest -m bounds`` once per combination of

- ``ATEN_CPU_CAPABILITY`` (torch's switch for which vectorised CPU kernels run:
  ``default``, ``avx2``, ``avx512`` where the CPU has it),
- the thread count (``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``), and
- ``AUDIO_UNLEARN_TEST_SEED`` (every seed the bound tests' set-ups and training use),

and tabulates, per test and quantity, the bound, the observed minimum / maximum and the
margin by which the bound clears the worst observed value.

Usage::

    python benchmarks/bound_spread.py run --out runs/bound_spread          # the full matrix
    python benchmarks/bound_spread.py table --out runs/bound_spread        # print the table
    python benchmarks/bound_spread.py table --out runs/bound_spread --write tests/README.md

``run`` is resumable: a finished combination (``<cap>-t<threads>-s<seed>.json`` in the run
directory) is skipped; ``--jobs 2`` runs two single-thread combinations side by side.
Extra arguments after ``--`` go to pytest (for instance ``-- -k class_removal``).
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BEGIN = "<!-- bound-spread:begin (benchmarks/bound_spread.py table --write) -->"
END = "<!-- bound-spread:end -->"


def cpu_capabilities() -> list[str]:
    """The kernel sets this CPU can run, from the most portable up."""
    flags = ""
    with contextlib.suppress(OSError):
        flags = Path("/proc/cpuinfo").read_text()
    caps = ["default"]
    if " avx2" in flags:
        caps.append("avx2")
    if " avx512f" in flags and " avx512bw" in flags and " avx512vl" in flags:
        caps.append("avx512")
    return caps


def combo_name(cap: str, threads: int, seed: int) -> str:
    return f"{cap}-t{threads}-s{seed}"


def run_combo(out: Path, cap: str, threads: int, seed: int, pytest_args: list[str]) -> dict:
    name = combo_name(cap, threads, seed)
    meta_path = out / f"{name}.json"
    if meta_path.is_file():
        return json.loads(meta_path.read_text())
    log = out / f"{name}.jsonl.part"
    log.unlink(missing_ok=True)
    env = {
        **os.environ,
        "ATEN_CPU_CAPABILITY": cap,
        "OMP_NUM_THREADS": str(threads),
        "MKL_NUM_THREADS": str(threads),
        "OMP_WAIT_POLICY": "PASSIVE",
        "AUDIO_UNLEARN_TEST_SEED": str(seed),
        "AUDIO_UNLEARN_BOUNDS_LOG": str(log),
    }
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "bounds"]
    start = time.perf_counter()
    proc = subprocess.run([*cmd, *pytest_args], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    summary = (proc.stdout.strip().splitlines() or [""])[-1]
    (out / f"{name}.pytest.txt").write_text(proc.stdout + proc.stderr)
    if log.is_file():
        log.rename(out / f"{name}.jsonl")
    meta = {
        "capability": cap,
        "threads": threads,
        "seed": seed,
        "returncode": proc.returncode,
        "seconds": round(seconds, 1),
        "summary": summary,
        "pytest_args": pytest_args,
    }
    meta_path.write_text(json.dumps(meta, indent=1))
    return meta


def cmd_run(args, pytest_args: list[str]) -> int:
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    caps = args.caps or cpu_capabilities()
    combos = list(itertools.product(caps, args.threads, args.seeds))
    todo = [c for c in combos if not (out / f"{combo_name(*c)}.json").is_file()]
    print(f"{len(combos)} combinations, {len(combos) - len(todo)} done, {len(todo)} to run")

    def one(c):
        meta = run_combo(out, *c, pytest_args)
        print(f"{combo_name(*c)}: {meta['summary']} ({meta['seconds']} s)", flush=True)
        return meta

    # single-thread runs side by side (--jobs), multi-thread runs alone
    single = [c for c in todo if c[1] == 1]
    multi = [c for c in todo if c[1] != 1]
    with ThreadPoolExecutor(max_workers=max(args.jobs, 1)) as pool:
        list(pool.map(one, single))
    for c in multi:
        one(c)
    return 0


def load_rows(outs: list[Path]) -> tuple[list[dict], list[dict]]:
    rows, metas = [], []
    for out in outs:
        for meta_path in sorted(out.glob("*.json")):
            meta = json.loads(meta_path.read_text())
            meta["run_dir"] = out.name
            metas.append(meta)
        new = []
        for meta_path in sorted(out.glob("*.json")):
            log = meta_path.with_suffix(".jsonl")
            if log.is_file():
                new += [json.loads(line) for line in log.read_text().splitlines() if line]
        # a later run directory re-measures its tests: its rows replace the earlier ones
        remeasured = {r["test"] for r in new}
        rows = [r for r in rows if r["test"] not in remeasured] + new
    return rows, metas


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def summarise(rows: list[dict]) -> list[dict]:
    groups: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for r in rows:
        groups[(r["test"], r["quantity"])].append(r)
    table = []
    for (test, quantity), rs in groups.items():
        values = [r["value"] for r in rs]
        op, bound = rs[0]["op"], rs[0]["bound"]
        lo, hi = min(values), max(values)
        margin = bound - hi if op in ("<", "<=") else lo - bound
        spread = hi - lo
        by_seed: dict[int, list[float]] = defaultdict(list)
        for r in rs:
            by_seed[r["seed"]].append(r["value"])
        kernel_spread = max(max(v) - min(v) for v in by_seed.values())
        table.append(
            {
                "test": test.removeprefix("tests/"),
                "quantity": quantity,
                "op": op,
                "bound": bound,
                "min": lo,
                "max": hi,
                "spread": spread,
                "margin": margin,
                "kernel_spread": kernel_spread,
                "meets_rule": margin > 0 and margin >= 0.5 * spread and margin >= 2 * kernel_spread,
                "seeded": any(r.get("seeded", True) for r in rs),
                "n": len(values),
            }
        )
    table.sort(key=lambda t: (t["test"], t["quantity"]))
    return table


def render(table: list[dict], metas: list[dict]) -> str:
    lines = []
    by_dir: dict[str, list[dict]] = defaultdict(list)
    for m in metas:
        by_dir[m["run_dir"]].append(m)
    for run_dir, ms in by_dir.items():
        caps = sorted({m["capability"] for m in ms})
        threads = sorted({m["threads"] for m in ms})
        seeds = sorted({m["seed"] for m in ms})
        args = " ".join(ms[0].get("pytest_args", []))
        lines.append(
            f"- `{run_dir}` (pytest `{args}`): {len(ms)} combinations of kernel sets "
            f"{', '.join(caps)}; threads {', '.join(map(str, threads))}; seeds "
            f"{', '.join(map(str, seeds))} ({sum(m['seconds'] for m in ms) / 60:.0f} min of "
            "pytest runs)"
        )
    lines += [
        "",
        "Margin: distance from the bound to the worst observed value (positive: it holds). "
        "Spread: max - min over all combinations; kernel spread: the largest max - min over "
        "kernel sets and threads at one seed (what another CPU moves). Rule: the bound holds "
        "in every combination, margin >= spread / 2 and margin >= 2 x kernel spread; rows "
        "that miss it are marked **below rule**. Seeded: the result follows the suite seed "
        "(no: only kernels and threads can move it).",
        "",
        "| test | quantity | bound | min | max | spread | kernel spread | margin | "
        "margin / spread | seeded | runs |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in table:
        ratio = "inf" if t["spread"] == 0 else f"{t['margin'] / t['spread']:.1f}"
        if not t["meets_rule"]:
            ratio += " **below rule**"
        lines.append(
            f"| `{t['test']}` | {t['quantity'].replace('|', chr(92) + '|')} | "
            f"{t['op']} {_fmt(t['bound'])} | "
            f"{_fmt(t['min'])} | {_fmt(t['max'])} | {_fmt(t['spread'])} | "
            f"{_fmt(t['kernel_spread'])} | {_fmt(t['margin'])} | {ratio} | "
            f"{'yes' if t['seeded'] else 'no'} | {t['n']} |"
        )
    failed = [m for m in metas if m["returncode"] != 0]
    lines.append("")
    if failed:
        lines.append(
            "Combinations with failing tests (in the earliest run directories, before the "
            "settings above were re-chosen; later directories re-measure those tests): "
            + ", ".join(
                f"{combo_name(m['capability'], m['threads'], m['seed'])} ({m['summary']})"
                for m in failed
            )
        )
    else:
        lines.append(f"Every test passed in all {len(metas)} combinations.")
    return "\n".join(lines)


def cmd_table(args) -> int:
    rows, metas = load_rows(args.out)
    if not rows:
        print(f"error: no recorded bounds under {args.out} (run `run` first)", file=sys.stderr)
        return 2
    if args.json:
        args.json.write_text(json.dumps(summarise(rows), indent=1) + "\n")
    text = render(summarise(rows), metas)
    if args.write:
        doc = args.write.read_text()
        if BEGIN not in doc or END not in doc:
            print(f"error: {args.write} has no {BEGIN!r} ... {END!r} block", file=sys.stderr)
            return 2
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        args.write.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
        print(f"wrote the table into {args.write}")
    else:
        print(text)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    pytest_args: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, pytest_args = argv[:i], argv[i + 1 :]
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Arguments after -- are passed to pytest.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the bound tests over the matrix (resumable)")
    run.add_argument("--out", type=Path, default=Path("runs/bound_spread"))
    run.add_argument(
        "--caps", nargs="+", help=f"kernel sets (default: this CPU's, {cpu_capabilities()})"
    )
    run.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    run.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    run.add_argument("--jobs", type=int, default=2, help="single-thread runs side by side")
    table = sub.add_parser("table", help="tabulate a run directory")
    table.add_argument(
        "--out", type=Path, nargs="+", default=[Path("runs/bound_spread")], help="run dirs"
    )
    table.add_argument("--write", type=Path, help="replace the table block in this markdown file")
    table.add_argument("--json", type=Path, help="also write the summary rows as JSON here")
    args = parser.parse_args(argv)
    if args.command == "run":
        return cmd_run(args, pytest_args)
    return cmd_table(args)


if __name__ == "__main__":
    sys.exit(main())

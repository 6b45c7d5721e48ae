"""``palette <command>``: dispatches to each package's own command, importing only that package, so that
``palette api`` never loads torch and ``palette train`` never loads the web stack."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Sequence

# command -> (module, function, one-line help); the function takes the remaining argv and returns an exit code
COMMANDS: dict[str, tuple[str, str, str]] = {
    "up": (
        "palette.up",
        "main",
        "start everything locally: Redis (if none is reachable), the API and a worker",
    ),
    "api": ("service.cli", "main", "run the HTTP API (uvicorn)"),
    "worker": ("workers.cli", "main", "run a batching sampling worker"),
    "sample": ("model.sample_cli", "main", "sample from a checkpoint on local files"),
    "train": ("model.training.cli", "main", "train a Palette model"),
    "export": ("model.training.export", "main", "a run's latest EMA weights as an inference checkpoint"),
    "eval": ("model.evaluation.cli", "main", "evaluate a checkpoint on held-out images"),
    "compare": ("model.evaluation.compare", "main", "pair two evaluations' scores input by input"),
    "data": ("model.data.cli", "main", "data set commands (palette data demo)"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: palette <command> [options]", "", "commands:"]
    lines += [f"  {name.ljust(width)}  {help_text}" for name, (_, _, help_text) in COMMANDS.items()]
    lines += ["", "Run 'palette <command> --help' for a command's options."]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    # PyTorch's OpenMP threads spin while they wait; on CPUs shared with other processes (an API, Redis,
    # a second worker) that makes sampling 5-20x slower (benchmarks/RESULTS.md). Passive waiting costs
    # almost nothing on an idle machine. It must be set before torch loads, and an explicit value wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(usage())
        return 0
    command, rest = args[0], args[1:]
    if command not in COMMANDS:
        print(f"palette: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module_name, function_name, _ = COMMANDS[command]
    function: Callable[[list[str]], int] = getattr(importlib.import_module(module_name), function_name)
    return function(rest)


if __name__ == "__main__":
    sys.exit(main())

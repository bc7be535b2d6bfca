"""The command line: ``python -m zoo {list,describe,env,demo,train,sample,eval,...}``.

``list``, ``describe`` and ``env`` live here; ``demo``, ``train`` and ``sample`` are modules of their own
(``zoo/demo.py`` ...) exposing ``add_arguments(parser)`` and ``main(args) -> int``. A bad argument, a missing or
wrong file, an unknown model, preset or sampler (``ValueError``, ``KeyError``, ``OSError``, ``TypeError``) prints one
line ``python -m zoo COMMAND: error: ...`` on stderr and exits with status 2; ``python -m zoo --debug COMMAND ...``
shows the traceback instead (an internal ``TypeError`` looks like a bad argument in one line). Ctrl-C (in ``train``,
the second one) prints one line and exits with status 130. ``--no-progress`` silences every progress bar.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import inspect
import platform
import sys

from zoo.catalogue import config_text


# Sub-commands implemented in modules of their own: name -> (module, help line).
_MODULE_COMMANDS = {
    "demo": ("zoo.demo", "train and sample a small VDM-style model on synthetic moving shapes (CPU, minutes)"),
    "train": ("zoo.train", "train a recipe on synthetic data or a folder of videos"),
    "sample": ("zoo.sample", "sample a video from a recipe and write a GIF/MP4"),
    "extend": ("zoo.extend_cli", "extend a sampled video by conditioning on its last frames (VDM guidance)"),
    "eval": ("zoo.eval", "judge a trained run: FVD, KVD, bits/dim and motion vs held-out clips, with references"),
    "export": ("zoo.export_cli", "export a trained run as a pipeline folder that zoo.from_pretrained loads"),
    "catalogue": ("zoo.catalogue", "regenerate docs/catalogue.md from the registry (--check: fail if stale)"),
}


class _Parser(argparse.ArgumentParser):
    """argparse, but errors are one line (no usage dump) and exit 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


def _models(pattern: str = "*") -> list[str]:
    import zoo

    return list(zoo.list_models(pattern))


def cmd_list(args: argparse.Namespace) -> int:
    import components

    keys = components.list_components(args.pattern, kind=args.kind)
    models = [] if args.kind else _models(args.pattern)
    if not keys and not models:
        print(f"zoo list: nothing matches {args.pattern!r}", file=sys.stderr)
        return 2
    if keys:
        width = max(len(k) for k in keys)
        print(f"components ({len(keys)}):")
        for key in keys:
            entry = components.get_component(key)
            print(f"  {key:<{width}}  {entry.summary[:90]}")
    if models:
        print(f"models ({len(models)}):")
        for name in models:
            print(f"  {name}")
    return 0


def _describe_component(key: str) -> int:
    import components

    entry = components.get_component(key)
    target = entry.obj.__init__ if inspect.isclass(entry.obj) else entry.obj
    signature = str(inspect.signature(target)).replace("(self, ", "(").replace("(self)", "()")
    print(f"{entry.key}  ({entry.obj.__module__}.{entry.obj.__qualname__})")
    print(f"  paper:      {entry.paper}")
    print(f"  summary:    {entry.summary}")
    print(f"  signature:  {entry.name}{signature}")
    print(f"  tiny:       {config_text(entry.tiny)}")
    if entry.properties:
        print(f"  properties: {', '.join(sorted(entry.properties))}")
    return 0


def _sampling_line(s) -> str:
    """One line of sampling defaults (``zoo.recipe.Sampling``), as ``zoo.describe_model`` writes it."""
    return (f"{s.schedule} {dict(s.schedule_kwargs)}, {s.parameterization}, {s.sampler} {dict(s.sampler_kwargs)}, "
            f"{s.steps} steps, guidance {s.guidance or 'none'} {dict(s.guidance_kwargs) if s.guidance else ''}").rstrip()


def _describe_model(name: str, preset: str | None = None) -> int:
    import zoo

    text = zoo.describe_model(name)
    if preset is not None:  # that preset's sampling (its overrides applied) instead of the recipe's defaults
        sampling = zoo.get_recipe(name).sampling_for(preset)  # KeyError with the presets for an unknown one
        lines = [line for line in text.splitlines() if not line.startswith("  sampling:")]
        text = "\n".join([*lines, f"  sampling ({preset}): {_sampling_line(sampling)}"])
    print(text)
    return 0


def cmd_describe(args: argparse.Namespace) -> int:
    import components
    from zoo.cli_args import UsageError

    if components.has_component(args.key):
        if args.preset is not None:
            raise UsageError(f"--preset {args.preset}: {args.key} is a component; presets belong to models "
                             "(python -m zoo list shows them)")
        return _describe_component(args.key)
    if args.key in _models():
        return _describe_model(args.key, args.preset)
    try:
        components.get_component(args.key)  # raises with "Did you mean"
    except KeyError as err:
        close = [m for m in _models() if args.key in m or m in args.key]
        extra = f" Models with a similar name: {', '.join(close)}." if close else ""
        print(f"zoo describe: {err}{extra}", file=sys.stderr)
    return 2


def cmd_env(args: argparse.Namespace) -> int:
    import torch

    from components.attention import available_backends

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    lines = [
        f"python        {platform.python_version()} ({platform.platform()})",
        f"torch         {torch.__version__} (CUDA build {torch.version.cuda or 'none'})",
        f"threads       {torch.get_num_threads()}",
        f"device        {device}"
        + (f" ({torch.cuda.get_device_name()})" if device == "cuda" and torch.cuda.is_available() else ""),
    ]
    for package in ("timm", "einops", "numpy", "safetensors", "diffusers", "xformers", "hypothesis"):
        try:
            version = importlib.import_module(package).__version__
        except ImportError:
            version = "not installed"
        lines.append(f"{package:<13} {version}")
    print("\n".join(lines))
    print(f"attention backends on {device}:")
    for name, why in available_backends(device).items():
        print(f"  {name:<15} {'available' if why is None else 'unavailable: ' + why}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    try:
        from benchmarks.cli import main as bench_main
    except ImportError as err:
        print(f"python -m zoo bench: the benchmarks package is not importable here ({err})", file=sys.stderr)
        return 2
    return bench_main(args.bench_args)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m zoo", description="video-diffusion-zoo: components, recipes and runs.")
    parser.add_argument("--debug", action="store_true",
                        help="on an error, show the full traceback instead of the one-line message")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    p = sub.add_parser("list", help="list registered components and models (fnmatch PATTERN)")
    p.add_argument("pattern", nargs="?", default="*", help="fnmatch pattern, e.g. 'attention/*' (default: all)")
    p.add_argument("--kind", help="only this kind of component, e.g. 'attention' or 'sampler'")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("describe", help="summary, paper, signature and tiny config of a component or model")
    p.add_argument("key", help="a registry key such as 'attention/temporal', or a model name such as 'vdm'")
    p.add_argument("--preset", help="a model's preset: show its sampling defaults (with the preset's overrides)")
    p.set_defaults(func=cmd_describe)

    p = sub.add_parser("env", help="versions, device, and which attention backends are available (and why not)")
    p.add_argument("--device", choices=["cpu", "cuda"], help="device to report backends for (default: best here)")
    p.set_defaults(func=cmd_env)

    p = sub.add_parser("bench", help="run a benchmark suite (same as python -m benchmarks SUITE ...)", add_help=False)
    p.add_argument("bench_args", nargs=argparse.REMAINDER, help="arguments of python -m benchmarks (try --help)")
    p.set_defaults(func=cmd_bench)

    for name, (module_name, help_line) in _MODULE_COMMANDS.items():
        module = importlib.import_module(module_name)  # a broken module is a bug to see, not a command to hide
        p = sub.add_parser(name, help=help_line, description=(module.__doc__ or help_line).strip().split("\n\n")[0])
        module.add_arguments(p)
        p.set_defaults(func=module.main)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # everything after "bench" belongs to python -m benchmarks, --help included
        return cmd_bench(argparse.Namespace(bench_args=argv[1:]))
    args = build_parser().parse_args(argv)
    from zoo.cli_args import UsageError, no_progress_bars

    try:
        with no_progress_bars() if getattr(args, "no_progress", False) else contextlib.nullcontext():
            return int(args.func(args) or 0)
    except KeyboardInterrupt as err:  # Ctrl-C (train: the second one; the first stops with a checkpoint)
        if args.debug:
            raise
        print(f"python -m zoo {args.command}: interrupted{f' ({err})' if str(err) else ''}", file=sys.stderr)
        return 130
    except UsageError as err:  # a refused argument: the message names it, a traceback would not help
        if args.debug:
            raise
        print(f"python -m zoo {args.command}: error: {err}", file=sys.stderr)
        return 2
    except (ValueError, TypeError, KeyError, OSError) as err:
        if args.debug:
            raise
        message = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        message = " ".join(message.split())  # one line, whatever the message
        print(f"python -m zoo {args.command}: error: {message} (python -m zoo --debug {args.command} ... shows the "
              "traceback)", file=sys.stderr)
        return 2

"""Published settings as Lightning CLI configs, shipped inside the package.

``dcl-train fit --config dm/cifar10_ipc10`` names one of them; a path to any YAML file works too.
Regenerate them with ``python -m dcl.configs.generate`` after changing a published setting.
"""

from __future__ import annotations

import difflib
from pathlib import Path

HERE = Path(__file__).resolve().parent


def config_names() -> list[str]:
    """Names of the packaged configs, e.g. ``quickstart`` and ``dm/cifar10_ipc10``."""
    return sorted(p.relative_to(HERE).with_suffix("").as_posix() for p in HERE.rglob("*.yaml"))


def config_path(name: str) -> Path:
    """The file of a packaged config, by name (``dm/cifar10_ipc10``, ``.yaml`` optional).

    A leading ``configs/`` is ignored, so the repository's paths name the same configs.

    Raises:
        FileNotFoundError: No packaged config has that name; the message lists the close ones.
    """
    key = name.removesuffix(".yaml").removeprefix("./").removeprefix("configs/")
    path = HERE / f"{key}.yaml"
    if path.is_file():
        return path
    names = config_names()
    close = difflib.get_close_matches(key, names, n=3)
    hint = f" Did you mean {', '.join(close)}?" if close else ""
    raise FileNotFoundError(
        f"No config file '{name}' and no packaged config of that name.{hint} Give a path to a "
        f"YAML file or one of the {len(names)} packaged names: quickstart, <method>/<dataset>_"
        "ipc<N> (e.g. dm/cifar10_ipc10; `python -m dcl.configs` lists them all)."
    )


def resolve_config_args(args: list[str]) -> list[str]:
    """Command-line arguments with every ``--config NAME`` of a packaged config made a path.

    Existing files are left alone, so a local file always wins over a packaged name.
    """
    out = list(args)
    for i, arg in enumerate(out):
        if arg == "--config" and i + 1 < len(out):
            out[i + 1] = _resolve(out[i + 1])
        elif arg.startswith("--config="):
            out[i] = "--config=" + _resolve(arg.removeprefix("--config="))
    return out


def _resolve(value: str) -> str:
    # Inline YAML (``--config '{...}'``) and existing files are jsonargparse's to read.
    if Path(value).is_file() or value.lstrip().startswith(("{", "[")) or "\n" in value:
        return value
    return str(config_path(value))

"""Lightning CLI for synthesis: ``dcl-train fit --config quickstart`` (a packaged name or path)."""

from __future__ import annotations

import sys
import warnings

from lightning.pytorch.cli import LightningCLI

from dcl.configs import resolve_config_args
from dcl.data.module import RealDataModule
from dcl.synthesis.module import SynthesisModule

# A step's checkpoint holds the images after that step's update, which is what resuming needs;
# Lightning's warning about manual optimisation (with a code example) is noise here.
warnings.filterwarnings(
    "ignore", message="Using ModelCheckpoint with manual optimization", category=UserWarning
)


class SynthesisCLI(LightningCLI):
    """LightningCLI with the dataset's facts linked into the model, so nothing is typed twice."""

    def add_arguments_to_parser(self, parser) -> None:
        """Link ``data.info`` (classes, channels, size, mean, std) to ``model.data_info``."""
        parser.link_arguments("data.info", "model.data_info", apply_on="instantiate")


def train_main(args: list[str] | None = None) -> SynthesisCLI:
    """Entry point of ``train_synthetic.py`` and ``dcl-train``.

    Args:
        args: Command-line arguments (default ``sys.argv[1:]``); ``--config`` takes a path or the
            name of a packaged config (``quickstart``, ``dm/cifar10_ipc10``).
    """
    if args is None:  # rewrite the command line itself: LightningCLI warns when given both
        sys.argv[1:] = resolve_config_args(sys.argv[1:])
    else:
        args = resolve_config_args(args)
    return SynthesisCLI(
        SynthesisModule,
        RealDataModule,
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        args=args,
    )

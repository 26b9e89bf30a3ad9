"""Lightning CLI for synthesis: ``python train_synthetic.py fit --config configs/...yaml``."""

from __future__ import annotations

import warnings

from lightning.pytorch.cli import LightningCLI

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
    """Entry point of ``train_synthetic.py`` (and the ``dcl-train`` script)."""
    return SynthesisCLI(
        SynthesisModule,
        RealDataModule,
        seed_everything_default=0,
        save_config_kwargs={"overwrite": True},
        args=args,
    )

import pytest
from PIL import Image

from dcl.plot import PALETTE, line_plot, nice_ticks


def test_nice_ticks_enclose_the_range_with_round_steps():
    assert nice_ticks(0.3, 9.7) == [0, 2, 4, 6, 8, 10]
    assert nice_ticks(91.2, 97.9) == [90, 92, 94, 96, 98]
    ticks = nice_ticks(5.0, 5.0)
    assert ticks[0] <= 4.0 and ticks[-1] >= 6.0


def test_line_plot_writes_a_png_of_the_requested_size(tmp_path):
    path = line_plot(
        tmp_path / "sub" / "plot.png",
        {"dm": ([2, 4, 6], [98.0, 95.5, 93.0]), "random": ([2, 4, 6], [96.0, 90.0, 86.0])},
        errors={"dm": [0.5, 1.0, 0.7]},
        title="t",
        xlabel="classes",
        ylabel="accuracy (%)",
        size=(400, 300),
    )
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (400, 300)
        colors = {c for _, c in image.convert("RGB").getcolors(400 * 300)}
    first = tuple(int(PALETTE[0][i : i + 2], 16) for i in (1, 3, 5))
    assert first in colors  # the first series was drawn


def test_scatter_plot_and_bad_input(tmp_path):
    path = line_plot(tmp_path / "s.png", {"a": ([1, 2], [3, 4])}, lines=False)
    with Image.open(path) as image:
        assert image.size == (720, 460)
    with pytest.raises(ValueError, match="nothing to plot"):
        line_plot(tmp_path / "e.png", {"a": ([], [])})

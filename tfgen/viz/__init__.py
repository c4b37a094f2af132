"""Image grids for TensorBoard and PNG files."""

from tfgen.viz.grid import image_grid, labelled_blocks, save_png, to_unit_range

__all__ = ["image_grid", "labelled_blocks", "save_png", "to_unit_range"]

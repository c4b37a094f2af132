"""Image grids and point clouds for TensorBoard and PNG files."""

from tfgen.viz.grid import image_grid, labelled_blocks, save_png, to_unit_range
from tfgen.viz.scatter import principal_axes, scatter_image

__all__ = ["image_grid", "labelled_blocks", "principal_axes", "save_png", "scatter_image", "to_unit_range"]

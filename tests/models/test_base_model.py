"""Panel helpers every model shares (`tfgen.models.GenerativeModel`)."""

import numpy as np
import tensorflow as tf

from tfgen.models import GenerativeModel


def test_alternate_interleaves_any_number_of_groups():
    groups = [tf.fill([2, 1, 1, 1], float(g)) + tf.reshape(tf.range(2, dtype=tf.float32) * 10, [2, 1, 1, 1])
              for g in range(3)]
    out = GenerativeModel.alternate(*groups).numpy().reshape(-1)
    np.testing.assert_array_equal(out, [0, 1, 2, 10, 11, 12])  # example 0 of every group, then example 1


def test_figure_panel_maps_unit_range_to_one_image_panel():
    panel = GenerativeModel.figure_panel(np.array([[[0.0], [0.5], [1.0]]], np.float32)).numpy()
    assert panel.shape == (1, 1, 3, 1)
    np.testing.assert_allclose(panel.reshape(-1), [-1.0, 0.0, 1.0])

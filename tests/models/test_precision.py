"""Mixed precision (train.precision): bf16/fp16 compute, float32 weights, float32 heads and losses."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from model_testing import make_config, random_batches
from tfgen import config as config_lib
from tfgen.errors import ConfigError
from tfgen.models import build_model
from tfgen.models.precision import precision_policy

CASES = [("dcgan", {}), ("lrgan", {}), ("lrgan", {"timesteps": 3}), ("conditional_lrgan", {})]
# Relative difference of a bf16 loss from the float32 one, same weights and inputs. bf16 keeps 8
# mantissa bits (relative rounding 2^-9 per product; oneDNN accumulates in float32); measured here:
# at most 3e-4 (LR-GAN T = 3), images within 0.009.
LOSS_RTOL = 2e-3


def _pair(name, overrides, precision):
    keras.utils.set_random_seed(0)
    config = make_config(name, {**config_lib.tiny_overrides(name), **overrides})
    ref = build_model(config, (16, 16, 1))
    model = build_model(config, (16, 16, 1), precision=precision)
    for a, b in zip(ref.weights, model.weights):
        assert a.path == b.path
        b.assign(a)
    ref.compile()
    model.compile()
    return ref, model


def _losses(model, real, z):
    fake = model.fake_batch(real, z)
    _, d_stats = model.discriminator_grads(real, tf.stop_gradient(fake))
    _, g_stats = model.generator_objective(real, fake)
    return fake, {**d_stats, **g_stats}


@pytest.mark.parametrize("name,overrides", CASES, ids=["dcgan", "lrgan", "lrgan-T3", "conditional_lrgan"])
def test_bf16_losses_agree_with_float32_and_weights_stay_float32(name, overrides):
    ref, model = _pair(name, overrides, "mixed_bfloat16")
    assert model.precision == "mixed_bfloat16" and ref.precision == "float32"
    assert keras.config.dtype_policy().name == "float32"  # the build left the global policy alone
    real = next(iter(random_batches((16, 16, 1), 8)))["image"]
    z = (tf.zeros([8, 0]) if name == "conditional_lrgan"
         else tf.random.stateless_normal([8, ref.latent_dim], seed=[1, 2]))
    fake_ref, expected = _losses(ref, real, z)
    fake, got = _losses(model, real, z)
    # Images, logits and so the losses leave the networks in float32.
    assert fake.dtype == tf.float32 and model.discriminator(real).dtype == tf.float32
    assert float(tf.reduce_max(tf.abs(fake - fake_ref))) < 0.03
    for key in ("d_loss", "g_loss", "d_real", "d_fake"):
        assert float(got[key]) == pytest.approx(float(expected[key]), rel=LOSS_RTOL), key
    # The layers between compute in bf16 (else nothing was tested).
    assert any(layer.compute_dtype == "bfloat16" for layer in model.generator._flatten_layers())
    before = [w.numpy() for w in model.trainable_variables]
    logs = model.train_step({"image": real})
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert all(v.dtype == "float32" for v in model.weights)
    slots = [v for opt in (model.g_optimizer, model.d_optimizer) for v in opt.variables if "float" in v.dtype]
    assert slots and all(v.dtype == "float32" for v in slots)
    assert sum(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.trainable_variables)) > 0


def test_float16_scales_the_loss_and_trains():
    _, model = _pair("dcgan", {}, "mixed_float16")
    assert isinstance(model.g_optimizer, keras.optimizers.LossScaleOptimizer)
    assert isinstance(model.d_optimizer, keras.optimizers.LossScaleOptimizer)
    real = next(iter(random_batches((16, 16, 1), 8)))["image"]
    before = [w.numpy() for w in model.generator.trainable_variables]
    logs = model.train_step({"image": real})
    assert all(np.isfinite(float(v)) for v in logs.values())
    assert float(model.g_optimizer.dynamic_scale) > 1.0
    assert any(not np.array_equal(b, w.numpy()) for b, w in zip(before, model.generator.trainable_variables))


def test_a_model_not_checked_in_16_bits_is_refused_in_one_line():
    config = make_config("hali", config_lib.tiny_overrides("hali"))
    with pytest.raises(ConfigError, match=r"train.precision mixed_bfloat16: hali trains in float32"):
        build_model(config, (16, 16, 1), precision="mixed_bfloat16")
    config = config_lib.config_from_dict({"model": {"name": "dcgan"}, "train": {"precision": "mixed_bfloat16"}})
    assert config.train.precision == "mixed_bfloat16"
    with pytest.raises(ConfigError, match="precision"):
        config_lib.config_from_dict({"model": {"name": "dcgan"}, "train": {"precision": "bf16"}})


def test_the_policy_is_restored_even_when_the_build_fails():
    with pytest.raises(RuntimeError):
        with precision_policy("mixed_bfloat16"):
            assert keras.config.dtype_policy().name == "mixed_bfloat16"
            raise RuntimeError("build failed")
    assert keras.config.dtype_policy().name == "float32"
    with pytest.raises(ValueError, match="precision must be one of"):
        with precision_policy("bfloat16"):
            pass

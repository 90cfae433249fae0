"""Tests of the TensorFlow device set-up: the CPU branch here, the GPU branch's logic with fakes.

No GPU is available where these tests were written: the GPU test checks only that memory growth
is requested for every visible GPU and that the GPU's name is recorded, with TensorFlow's device
calls replaced; it does not show that TensorFlow runs on a GPU.
"""

import tensorflow as tf

from klgap.models import device


def test_device_names_the_device_tensorflow_sees():
    name = device.configure(threads=1, deterministic=False)
    if tf.config.list_physical_devices("GPU"):
        assert name.startswith("GPU: ")
    else:
        assert name.startswith("CPU (") and "1 threads" in name


def test_every_visible_gpu_gets_memory_growth_and_the_first_is_named(monkeypatch):
    gpus = [tf.config.PhysicalDevice(name=f"/physical_device:GPU:{i}", device_type="GPU")
            for i in range(2)]
    growth = {}
    monkeypatch.setattr(tf.config, "list_physical_devices",
                        lambda kind=None: gpus if kind == "GPU" else [])
    monkeypatch.setattr(tf.config.experimental, "set_memory_growth",
                        lambda gpu, enable: growth.__setitem__(gpu, enable))
    monkeypatch.setattr(tf.config.experimental, "get_device_details",
                        lambda gpu: {"device_name": f"Fake GPU {gpus.index(gpu)}"})
    assert device.configure(threads=None, deterministic=False) == "GPU: Fake GPU 0"
    assert growth == {gpu: True for gpu in gpus}

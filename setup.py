"""tfgen: five image-generation papers as Keras 3 models on TensorFlow."""

from setuptools import find_packages, setup

setup(
    name="tfgen",
    version="0.1.0",
    description=("AND-OR networks, AAAE, HALI, wFRAME and LR-GAN (with DCGAN) as "
                 "Keras 3 / TensorFlow models: train with model.fit, inspect in "
                 "TensorBoard, serve as SavedModels."),
    long_description=open("README.md").read(),
    long_description_content_type="text/markdown",
    packages=find_packages(include=["tfgen", "tfgen.*"]),
    python_requires=">=3.10",
    install_requires=[
        "tensorflow>=2.16,<2.22",
        "keras>=3.3,<3.16",
        "tensorflow-datasets>=4.9,<5",
        "importlib_resources>=5",  # tensorflow-datasets' loading path needs it
        "numpy>=1.26,<3",
        "pyyaml>=6,<7",
        "pillow>=10,<13",
        "scikit-learn>=1.3,<2",
        "scipy>=1.11,<2",
    ],
    extras_require={
        "test": ["pytest>=7", "tensorboard>=2.16"],
        "gpu": ["tensorflow[and-cuda]>=2.16,<2.22"],
    },
    entry_points={"console_scripts": ["tfgen=tfgen.cli:main"]},
    include_package_data=True,
)

"""The one compiled accelerator: fixserver/_speedups.c (the codec's parse of a
well-formed frame). optional=True: without a C compiler the install goes on and
fixserver/codec.py runs in pure Python. Everything else is in pyproject.toml."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("fixserver._speedups", ["fixserver/_speedups.c"],
                             optional=True)])

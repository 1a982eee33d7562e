"""The compiled accelerators, each with its Python code as the reference and the
fallback: fixserver/_speedups.c (framing, parsing, the validator's pass) and
venue/_report_writer.c (the ExecutionReport body). optional=True: without a C compiler
the install goes on and the Python code runs alone. Everything else is in
pyproject.toml."""

from setuptools import Extension, setup

setup(ext_modules=[
    Extension("fixserver._speedups", ["fixserver/_speedups.c"], optional=True),
    Extension("venue._report_writer", ["venue/_report_writer.c"], optional=True),
])

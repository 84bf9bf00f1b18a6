"""Fingerprints of the code that computes results, so that a stored cell is reused only by the
code that made it.

The code fingerprint hashes the source of every module of the packages that compute results
(`PACKAGES`: sim, algorithms, theory_checks, paper_repro) together with the versions of Python
and of the libraries the numbers depend on (`DEPENDENCIES`). Each source file enters through its
syntax tree with the docstrings removed, so that editing a comment, a docstring or the layout
of a file keeps the fingerprint, while any change of code (a constant, an operator, a default)
changes it. A cell whose algorithm is a user's `module:attribute` also depends on that module's
source (`cell_fingerprint`).

Fingerprints are computed once per process (about 0.1 s) and cached.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib.util
import os
import platform
from importlib.metadata import PackageNotFoundError, version

PACKAGES: tuple[str, ...] = ("sim", "algorithms", "theory_checks", "paper_repro")
"""The packages whose source enters the code fingerprint (figures only draws tables)."""

DEPENDENCIES: tuple[str, ...] = ("numpy", "numba", "scipy", "pandas", "pyarrow")
"""Libraries whose versions enter the code fingerprint."""

DIGITS = 16
"""Hex digits of a fingerprint."""


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                    and isinstance(body[0].value.value, str)):
                node.body = body[1:] or [ast.Pass()]
    return tree


def source_digest(path: str) -> bytes:
    """sha256 of a Python file's code: its syntax tree without docstrings (the raw bytes when
    the file does not parse)."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        tree = ast.parse(raw, filename=path)
    except (SyntaxError, ValueError):
        return hashlib.sha256(raw).digest()
    dumped = ast.dump(_strip_docstrings(tree), annotate_fields=False, include_attributes=False)
    return hashlib.sha256(dumped.encode()).digest()


def _package_root(name: str) -> str | None:
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return list(spec.submodule_search_locations)[0]


def _package_files(root: str) -> list[str]:
    out = []
    for folder, dirs, files in os.walk(root):
        dirs[:] = sorted(d for d in dirs if d != "__pycache__" and not d.startswith("."))
        out += [os.path.join(folder, f) for f in sorted(files) if f.endswith(".py")]
    return out


def versions() -> dict[str, str]:
    """Python's version and those of `DEPENDENCIES` ("absent" for one not installed)."""
    out = {"python": f"{platform.python_implementation()} {platform.python_version()}"}
    for dep in DEPENDENCIES:
        try:
            out[dep] = version(dep)
        except PackageNotFoundError:
            out[dep] = "absent"
    return out


@functools.cache
def code_fingerprint() -> str:
    """The fingerprint of the result-computing code and its dependencies (module docstring)."""
    h = hashlib.sha256()
    for name in PACKAGES:
        root = _package_root(name)
        h.update(f"package {name}\n".encode())
        if root is None:
            continue
        for path in _package_files(root):
            h.update(os.path.relpath(path, root).replace(os.sep, "/").encode() + b"\n")
            h.update(source_digest(path))
    for k, v in sorted(versions().items()):
        h.update(f"{k}={v}\n".encode())
    return h.hexdigest()[:DIGITS]


@functools.cache
def module_fingerprint(module: str) -> str:
    """The fingerprint of one importable module's source ("unknown" when it has no file)."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        spec = None
    origin = getattr(spec, "origin", None)
    if not origin or not os.path.isfile(origin):
        return "unknown"
    return source_digest(origin).hex()[:DIGITS]


def algorithm_fingerprint(algorithm: str) -> str:
    """The code fingerprint, combined with the module's for a user's `module:attribute`."""
    base = code_fingerprint()
    if ":" not in algorithm:
        return base
    module = algorithm.split(":", 1)[0]
    combined = f"{base}+{module}:{module_fingerprint(module)}"
    return hashlib.sha256(combined.encode()).hexdigest()[:DIGITS]

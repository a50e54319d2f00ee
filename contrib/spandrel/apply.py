"""Apply the ParagonSR2 contribution to spandrel: python contrib/spandrel/apply.py SPANDREL [--checkpoints DIR]

SPANDREL is a spandrel git checkout (``libs/spandrel/spandrel/``) or a spandrel package folder (the installed
wheel's ``spandrel/``). It writes:
- ``architectures/ParagonSR2/``: ``__init__.py`` and ``__arch/paragonsr2.py`` + ``checks.py`` from this folder,
  the network (``blocks.py``, ``upsampler.py``, ``network.py``, ``variants.py``) generated from the pack's
  ``paragonsr2/arch/`` (imports of the pack's other modules rewritten to ``__arch/checks.py``), the pack's LICENSE;
- the entry in ``__helpers/main_registry.py`` (import, and ``ArchSupport`` last in ``MAIN_REGISTRY.add``);
- checkout only: ``tests/test_ParagonSR2.py`` and its snapshot, the upstream checkpoint in ``tests/models/``
  and the expected images in ``tests/images/outputs/`` (made by the pack's ``load_model``), so that
  ``pytest tests/test_ParagonSR2.py`` runs offline; a README line.
Running it again changes nothing. Exit code 0 = applied, 2 = refused (message on stderr).
"""
from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
ARCH_ID = "ParagonSR2"
PACK_ARCH = REPO / "paragonsr2" / "arch"
NETWORK_FILES = ("blocks.py", "upsampler.py", "network.py", "variants.py")
CHECKS_NAMES = {"InvalidValueError", "check_alpha", "check_scale"}  # what __arch/checks.py defines
GENERATED_HEADER = ("# Generated from the ParagonSR2 pack's paragonsr2/arch/{name} by its contrib/spandrel/apply.py;\n"
                    "# edit it there (https://github.com/paragonsr2/comfyui-paragonsr2).\n")
REGISTRY_ENTRY = f"    ArchSupport.from_architecture({ARCH_ID}.{ARCH_ID}Arch()),\n"
MODEL_NAME = "2xParagonSR2_Nano_Pretrain.safetensors"  # test_ParagonSR2.py downloads it under this name
MODEL_SHA256 = "509930e90ab84fa52cf5ebc0f6e7ce6bc73d5a9666c0bb66f796bd2e246d648b"
MODEL_URL = ("https://github.com/Phhofm/traiNNer-redux/raw/2f64430b/models/2xparagonsr_nano_pretrain/"
             + MODEL_NAME)
TEST_IMAGES = ("16x16", "32x32", "64x64")  # test_ParagonSR2.py's TestImage.SR_16/32/64
README_ANCHOR = "- [AuraSR]"
README_LINE = (f"- [{ARCH_ID}](https://github.com/Phhofm/traiNNer-redux/blob/master/traiNNer/archs/"
               f"paragonsr2_arch.py) | [Models]({MODEL_URL})\n")


class ApplyError(Exception):
    """The target cannot take the contribution; the message says why and what to pass instead."""


@dataclass(frozen=True)
class Target:
    """Where spandrel's package lives and, for a checkout, its root (tests/, README.md)."""

    package: Path
    checkout: Path | None


def find_target(path: Path) -> Target:
    """A spandrel checkout or package folder at `path`, else ApplyError."""
    if (path / "libs/spandrel/spandrel/__helpers/main_registry.py").is_file() and (path / "tests/util.py").is_file():
        return Target(path / "libs/spandrel/spandrel", path)
    for package in (path, path / "spandrel"):
        if (package / "__helpers/main_registry.py").is_file() and (package / "architectures").is_dir():
            return Target(package, None)
    raise ApplyError(f"{path} is not a spandrel checkout (no libs/spandrel/spandrel/__helpers/main_registry.py and "
                     "tests/util.py) nor a spandrel package folder (no __helpers/main_registry.py); pass the root "
                     "of `git clone https://github.com/chaiNNer-org/spandrel` or an installed spandrel/ folder")


# -- the network, generated from the pack ---------------------------------------------------------------------

_VALIDATE_IMPORT = re.compile(r"^from \.\.validate import (?P<names>.+)$", re.MULTILINE)
_TYPE_CHECKING_BLOCK = re.compile(r"^if TYPE_CHECKING:\n(?P<body>(?:    from \.\.\S+ import .+\n)+)\n?", re.MULTILINE)


def _only_type_checking(match: re.Match, hidden: set[str]) -> str:
    for line in match.group("body").splitlines():
        hidden.update(n.strip() for n in line.split(" import ", 1)[1].split(","))
    return ""


def network_source(name: str) -> str:
    """spandrel's copy of the pack's paragonsr2/arch/`name`: validate imports -> .checks, type-only imports of
    the pack dropped (their names annotate as ``object``), sibling imports re-sorted. ApplyError when the
    pack's file imports something else of the pack."""
    text = (PACK_ARCH / name).read_text(encoding="utf-8")
    for m in _VALIDATE_IMPORT.finditer(text):
        missing = {n.strip() for n in m.group("names").split(",")} - CHECKS_NAMES
        if missing:
            raise ApplyError(f"{PACK_ARCH / name} imports {sorted(missing)} from validate, which "
                             f"{HERE / 'ParagonSR2/__arch/checks.py'} does not define; add them there")
    text = _VALIDATE_IMPORT.sub(r"from .checks import \g<names>", text)
    hidden: set[str] = set()
    text = _TYPE_CHECKING_BLOCK.sub(lambda m: _only_type_checking(m, hidden), text)
    if hidden:
        text = text.replace("TYPE_CHECKING, ", "")
        for n in hidden:
            text = re.sub(rf"\b{n}\b", "object", text)
    for line in text.splitlines():
        if line.lstrip().startswith(("from ..", "import paragonsr2", "from paragonsr2")):
            raise ApplyError(f"{PACK_ARCH / name}: '{line.strip()}' reaches outside paragonsr2/arch/; spandrel's "
                             "copy may import torch and its siblings only")
    return formatted(GENERATED_HEADER.format(name=name) + _sort_sibling_imports(text), name)


def formatted(source: str, name: str) -> str:
    """`source` through ``ruff format`` with spandrel's settings (88 columns), as spandrel's pre-commit hook
    would leave it; unchanged when ruff is not installed (then run ``ruff format libs`` in the checkout)."""
    ruff = shutil.which("ruff")
    if ruff is None:
        return source
    done = subprocess.run([ruff, "format", "--isolated", "--line-length", "88", "--stdin-filename", name, "-"],
                          input=source.encode(), capture_output=True, check=False)
    return done.stdout.decode() if done.returncode == 0 else source


def _sort_sibling_imports(text: str) -> str:
    """Each run of consecutive one-line ``from .x import`` lines sorted by module (isort's order)."""
    lines, out = text.splitlines(keepends=True), []
    while lines:
        run = []
        while lines and lines[0].startswith("from .") and not lines[0].startswith("from .."):
            run.append(lines.pop(0))
        out.extend(sorted(run, key=lambda s: s.split()[1]) if run else [lines.pop(0)])
    return "".join(out)


def architecture_files() -> dict[str, bytes]:
    """Relative path in architectures/ParagonSR2/ -> content."""
    files = {p.relative_to(HERE / ARCH_ID).as_posix(): p.read_bytes()
             for p in sorted((HERE / ARCH_ID).rglob("*.py"))}
    files["__arch/LICENSE"] = (REPO / "LICENSE").read_bytes()
    for name in NETWORK_FILES:
        files[f"__arch/{name}"] = network_source(name).encode()
    return files


# -- registry and README edits ----------------------------------------------------------------------------------

_IMPORT_BLOCK = re.compile(r"^from \.\.architectures import \(\n(?P<names>(?:    \w+,\n)+)\)\n", re.MULTILINE)
_ADD_BLOCK = re.compile(r"^MAIN_REGISTRY\.add\(\n(?P<entries>(?:    .+\n)+)\)\n", re.MULTILINE)


def _sort_key(name: str) -> tuple[int, str]:
    """ruff's isort order inside one import: CONSTANTS, then CamelCase, each case-insensitively."""
    return (0 if name.isupper() else 1, name.lower())


def registry_source(text: str, path: Path) -> str:
    """main_registry.py with ParagonSR2 imported (in isort order) and added last; unchanged if present."""
    imports, adds = _IMPORT_BLOCK.search(text), _ADD_BLOCK.search(text)
    if not imports or not adds:
        raise ApplyError(f"{path}: no 'from ..architectures import (...)' block or 'MAIN_REGISTRY.add(...)' call "
                         "in the layout this script knows (spandrel 0.4); add the entry by hand")
    names = [line.strip().rstrip(",") for line in imports.group("names").splitlines()]
    if ARCH_ID not in names:
        names = sorted([*names, ARCH_ID], key=_sort_key) if names == sorted(names, key=_sort_key) \
            else [*names, ARCH_ID]
        block = "".join(f"    {n},\n" for n in names)
        text = text[:imports.start("names")] + block + text[imports.end("names"):]
        adds = _ADD_BLOCK.search(text)
    if f"{ARCH_ID}.{ARCH_ID}Arch()" not in adds.group("entries"):
        text = text[:adds.end("entries")] + REGISTRY_ENTRY + text[adds.end("entries"):]
    return text


def readme_source(text: str) -> str:
    """README.md with the ParagonSR2 line after AuraSR's (the single-image SR list); unchanged if present."""
    if f"[{ARCH_ID}]" in text or README_ANCHOR not in text:
        return text
    start = text.index(README_ANCHOR)
    end = text.index("\n", start) + 1
    return text[:end] + README_LINE + text[end:]


# -- what the inference test needs -------------------------------------------------------------------------------

def checkpoint_bytes(directory: Path) -> bytes:
    """The upstream checkpoint test_ParagonSR2.py uses, checked against its sha256."""
    path = directory / MODEL_NAME
    if not path.is_file():
        raise ApplyError(f"{path} is missing: spandrel's inference test needs the upstream checkpoint; pass "
                         f"--checkpoints DIR with {MODEL_NAME} in it (download: {MODEL_URL})")
    data = path.read_bytes()
    if hashlib.sha256(data).hexdigest() != MODEL_SHA256:
        raise ApplyError(f"{path} is not the public {MODEL_NAME} (sha256 differs from {MODEL_SHA256})")
    return data


def expected_images(checkout: Path, model_path: Path) -> dict[str, bytes]:
    """tests/images/outputs/<image>/<model>.png for each test image, made by the pack's load_model (the reference
    implementation): [0,1] RGB in, output clamped and rounded to 8 bits as spandrel's test does."""
    import io

    import numpy as np
    import torch
    from PIL import Image

    sys.path.insert(0, str(REPO))
    from paragonsr2 import load_model

    model = load_model(model_path)
    out = {}
    for name in TEST_IMAGES:
        rgb = np.asarray(Image.open(checkout / f"tests/images/inputs/{name}.png").convert("RGB"), dtype=np.float32)
        x = torch.from_numpy(rgb / 255.0).permute(2, 0, 1)[None]
        with torch.no_grad():
            y = model(x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
        png = io.BytesIO()
        Image.fromarray(np.clip((y * 255.0).round(), 0, 255).astype(np.uint8)).save(png, format="PNG")
        out[f"tests/images/outputs/{name}/{Path(MODEL_NAME).stem}.png"] = png.getvalue()
    return out


# -- writing ----------------------------------------------------------------------------------------------------

def _write(path: Path, data: bytes, log: Callable[[str], None]) -> None:
    if path.is_file() and path.read_bytes() == data:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    log(f"wrote {path}")


def apply(path: Path, checkpoints: Path | None = None, log: Callable[[str], None] = print) -> Target:
    """Applies the contribution to the spandrel checkout or package at `path` (idempotent)."""
    target = find_target(Path(path))
    arch_dir = target.package / "architectures" / ARCH_ID
    files = architecture_files()
    for rel, data in files.items():
        _write(arch_dir / rel, data, log)
    for stale in sorted(p for p in arch_dir.rglob("*") if p.is_file()):
        rel = stale.relative_to(arch_dir).as_posix()
        if rel not in files and "__pycache__" not in rel:
            stale.unlink()
            log(f"removed {stale}")
    registry = target.package / "__helpers/main_registry.py"
    _write(registry, registry_source(registry.read_text(encoding="utf-8"), registry).encode(), log)
    if target.checkout is not None:
        root = target.checkout
        _write(root / "tests/test_ParagonSR2.py", (HERE / "test_ParagonSR2.py").read_bytes(), log)
        _write(root / "tests/__snapshots__/test_ParagonSR2.ambr",
               (HERE / "__snapshots__/test_ParagonSR2.ambr").read_bytes(), log)
        model_path = root / "tests/models" / MODEL_NAME
        _write(model_path, checkpoint_bytes(checkpoints or default_checkpoints()), log)
        for rel, data in expected_images(root, model_path).items():
            _write(root / rel, data, log)
        readme = root / "README.md"
        if readme.is_file():
            _write(readme, readme_source(readme.read_text(encoding="utf-8")).encode(), log)
    return target


def default_checkpoints() -> Path:
    """The project's shared checkpoints folder ($PARAGONSR2_SHARED/checkpoints, else ../shared/checkpoints)."""
    return Path(os.environ.get("PARAGONSR2_SHARED", REPO.parent / "shared")) / "checkpoints"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("spandrel", type=Path, help="a spandrel git checkout or package folder")
    parser.add_argument("--checkpoints", type=Path, default=None,
                        help=f"folder holding {MODEL_NAME} (default: {default_checkpoints()})")
    args = parser.parse_args(argv)
    try:
        target = apply(args.spandrel, args.checkpoints)
    except ApplyError as e:
        print(f"apply.py: {e}", file=sys.stderr)
        return 2
    print(f"ParagonSR2 is in {target.package}" + (f"; run: cd {target.checkout} && pytest tests/test_ParagonSR2.py"
                                                  if target.checkout else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())

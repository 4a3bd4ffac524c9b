"""Build step: the default policy and the JSON Schemas go into the wheel as package data.

The repository's `policies/` and `tool_manifests/schema.json` stay the one source of truth (the
tests, the README, the Dockerfile and `rollgate policy schema` use them there). This `build_py`
copies them into `gateway/defaults/` of the build, where `gateway.defaults` finds them with
importlib.resources; pyproject.toml names it in `[tool.setuptools.cmdclass]`, MANIFEST.in keeps
it and the files in the sdist. A build without them fails: a wheel that denies every call for want
of a policy is the bug this exists to prevent.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools.command.build_py import build_py
from setuptools.errors import FileError

ROOT = Path(__file__).resolve().parent
DEFAULTS: dict[str, tuple[str, ...]] = {
    "policies": ("*.rego", "data.json", "*.schema.json"),
    "tool_manifests": ("schema.json",),
}


class BuildPy(build_py):
    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "gateway" / "defaults"
        for folder, patterns in DEFAULTS.items():
            sources = sorted({path for pattern in patterns for path in (ROOT / folder).glob(pattern)})
            if not sources:
                raise FileError(f"{ROOT / folder}: none of {', '.join(patterns)}; the wheel needs its defaults")
            (target / folder).mkdir(parents=True, exist_ok=True)
            for source in sources:
                shutil.copyfile(source, target / folder / source.name)

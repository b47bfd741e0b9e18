"""The build step that ships the default configs (all metadata is in setup.cfg).

config/*.json and hp_optim/config_templates_*.json stay at the repository root, where the
original project had them and where sweeps read them. A built package (``pip install .``,
a wheel) carries copies in learning/defaults/config/ and learning/defaults/hp_optim/: the
same layout, so the templates' ``../config/*.json`` paths hold there too. learning.contract
uses them when the package runs without a repository checkout (DEFAULTS_ROOT). An editable
install copies nothing: it runs from the checkout.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: repository folder -> the files of it that are shipped
SHIPPED = {"config": "*.json", "hp_optim": "config_templates_*.json"}
TARGET = ("learning", "defaults")


def shipped_files() -> list[tuple[Path, Path]]:
    """(source, path inside the package) of every shipped default file."""
    return [(source, Path(*TARGET, folder, source.name))
            for folder, pattern in SHIPPED.items()
            for source in sorted((ROOT / folder).glob(pattern))]


class BuildWithDefaults(build_py):
    """build_py, then the default configs copied into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        files = shipped_files()
        if not any(source.parent.name == "config" for source, _ in files):
            raise SystemExit(f"no default configs in {ROOT / 'config'}: build from the "
                             "repository (or an sdist made from it)")
        for source, inside in files:
            target = Path(self.build_lib, inside)
            self.mkpath(str(target.parent))
            self.copy_file(str(source), str(target))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if getattr(self, "editable_mode", False):
            return outputs
        return outputs + [str(Path(self.build_lib, inside)) for _, inside in shipped_files()]


setup(cmdclass={"build_py": BuildWithDefaults})

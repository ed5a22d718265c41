"""The one build step pyproject.toml cannot declare: the wheel carries data/ as labkit/_data.

data/ stays at the top of the repository, where the README and the notebooks
point; labkit.lessons.data reads it in place from a checkout (or an editable install)
and from labkit/_data when labkit is installed from a wheel.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithData(build_py):
    def run(self) -> None:
        super().run()
        if not getattr(self, "editable_mode", False):  # an editable install reads data/ in place
            self.copy_tree("data", str(Path(self.build_lib) / "labkit" / "_data"))


setup(cmdclass={"build_py": BuildPyWithData})

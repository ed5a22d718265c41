"""Repository-wide pytest setup, loaded for tests/ and for the notebooks nbval runs.

Exercise checks are strict during tests: a wrong solution in an instructor's
notebook raises instead of showing a red box. Set here, at the root, so the
kernels nbval starts for notebooks/ inherit it through the environment.
"""

import os

os.environ["LABKIT_EXERCISES_STRICT"] = "1"

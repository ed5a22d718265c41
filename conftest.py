"""Repository-wide pytest setup, loaded for every test.

Exercise checks are strict during tests: a wrong solution in an instructor's
notebook raises instead of showing a red box. Set here, at the root, so the
kernels the tests start for the notebooks inherit it through the environment.
"""

import os

os.environ["LABKIT_EXERCISES_STRICT"] = "1"

"""nbgrader's configuration for a course made of labkit's notebooks: copy it into the course folder.

A course folder (``nbgrader quickstart``'s layout) holds this file, and
``source/ASSIGNMENT/`` the instructor's notebooks from ``notebooks/``, whose
cells carry nbgrader metadata written from the exercise registry
(``tools/nbgrader_meta.py``). Then ``nbgrader generate_assignment``,
``autograde``, ``generate_feedback`` and ``export`` work as usual
(``tests/test_nbgrader.py`` runs them all).

Two settings, each because nbgrader's default disagrees with labkit:

- the stub that replaces a solution is labkit's (tools/student.py's ``STUB``),
  so nbgrader's release and ``make student`` show a learner the same cells;
- checks run in graded mode (``LABKIT_EXERCISES_STRICT=graded``): nbgrader
  gives a check cell its points whenever it does not raise, and a labkit check
  shows "not attempted" or "failed" without raising, for the learner's sake.
  In graded mode a check raises unless it passed. Set in this process's
  environment, the kernels nbgrader starts (autograde, validate) inherit it.
"""

import os

c = get_config()  # noqa: F821  (nbgrader runs this file with get_config defined)

c.ClearSolutions.code_stub = {"python": 'raise NotImplementedError("your code here")'}
os.environ["LABKIT_EXERCISES_STRICT"] = "graded"

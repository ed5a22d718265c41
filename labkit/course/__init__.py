"""The course: what checks, helps, saves and grades a learner's work (the lessons are :mod:`labkit.lessons`).

A learner's exercise is checked (``exercises``) on generated cases against
labkit's reference (``cases``), with hints on request (``hints``); a function
that passes is saved (``saved``) and assembled into the capstone's verifier
(``capstone``); the instructor grades every student's exercises in a sandbox (``grade``).
One concept per module:

- :mod:`~labkit.course.exercises`: self-checking exercises (every notebook);
- :mod:`~labkit.course.hints`: the exercises' hints in tiers, a nudge, the method, a near-solution;
- :mod:`~labkit.course.cases`: generated cases for the exercises with substance, and labkit's answers;
- :mod:`~labkit.course.saved`: the learner's passing functions, saved for the capstone (11);
- :mod:`~labkit.course.capstone`: those functions assembled into a verifier, its verdicts beside labkit's (11);
- :mod:`~labkit.course.grade`: the instructor's grading, a gradebook and feedback (``python -m labkit grade``);
- :mod:`~labkit.course.answerkey`: the grader's cases and answers, from the instructor's cells, and the verdict;
- :mod:`~labkit.course.sandbox`: the process a learner's code runs in while graded, and what comes back;
- :mod:`~labkit.course.sandboxed`: what runs inside that sandbox: the cells, and the learner's answers.

Importing this package loads nothing; each module is imported when first used.
"""

from __future__ import annotations

import importlib
import pkgutil

# Every module of this folder, found by listing it (nothing is imported here).
__all__ = sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_"))


def __getattr__(name: str):
    if name in __all__:
        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module 'labkit.course' has no attribute {name!r}")

"""The suite by area: which part of labkit each test file checks, in one table.

``tests/conftest.py`` marks every collected test with its file's area, so a
maintainer runs one area with ``make test-AREA`` (``pytest -m AREA``). A test
that executes notebooks is in the ``notebooks`` area whatever its file: it
asks for the ``notebook_runs`` fixture (directly, or through
``executed_notebook`` or ``student_run``). ``SLOW`` lists the tests that take
long on their own; they keep their area and are marked ``slow`` too, so
``make test-fast`` and ``make test-AREA`` leave them out and ``make test``
runs them.

``tests/test_areas.py`` fails when a test file is missing from ``AREAS``,
when ``AREAS`` names a file that is gone, or when an area is not declared as a
marker in pyproject.toml.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

__all__ = ["AREA_NAMES", "AREAS", "FIRST", "GROUPS", "NOTEBOOK_FIXTURES", "NOTEBOOK_RUN_FILES",
           "SLOW", "area_of", "files_of", "group_of", "is_slow", "notebook_group"]

AREA_NAMES = ("consensus", "sharing", "node", "course", "lessons", "notebooks", "browser", "hub", "package")

AREAS = {
    # issue 21 and 23: nbgrader's workflow, exercises that need the work, the workbook's pages
    "test_nbgrader.py": "course",
    "test_battle.py": "node",  # issue 24: learners' nodes under the battle's rounds
    "test_exercise_honesty.py": "course",
    "test_exercise_work.py": "course",
    "test_hint_names.py": "course",
    "test_course_map.py": "course",
    "test_long_cells.py": "course",
    "test_measured_prose.py": "course",
    "test_widget_tables.py": "lessons",
    "test_browser_tables.py": "browser",
    "test_page_fit.py": "browser",
    # hub: a real JupyterHub with non-root students, and the deploy image's install steps
    "test_hub.py": "hub",
    "test_image_install.py": "hub",
    # consensus: wallets, tokens, blocks, the chain and its rules, forks, the VM, and the commands on them
    "test_agreement.py": "consensus",
    "test_bad_input.py": "consensus",
    "test_block.py": "consensus",
    "test_blocksfile.py": "consensus",
    "test_catalogue.py": "consensus",
    "test_chain.py": "consensus",
    "test_cli.py": "consensus",
    "test_consensus_vectors.py": "consensus",
    "test_encoding.py": "consensus",
    "test_fastmine.py": "consensus",
    "test_files.py": "consensus",
    "test_forks.py": "consensus",
    "test_fuzz.py": "consensus",
    "test_merkle.py": "consensus",
    "test_names.py": "consensus",
    "test_other_pythons.py": "consensus",
    "test_network.py": "consensus",
    "test_operations.py": "consensus",
    "test_peer.py": "consensus",
    "test_pow.py": "consensus",
    "test_properties.py": "consensus",
    "test_rules.py": "consensus",
    "test_scratch.py": "consensus",
    "test_seed_compat.py": "consensus",
    "test_tokens.py": "consensus",
    "test_vm.py": "consensus",
    "test_wallet.py": "consensus",
    # sharing: BitTorrent, its DHT pointer, addresses, and the share/fetch commands
    "test_bad_input_sharing.py": "sharing",
    "test_bencode.py": "sharing",
    "test_bep46_interop.py": "sharing",
    "test_dht.py": "sharing",
    "test_krpc.py": "sharing",
    "test_swarm.py": "sharing",
    "test_third_party.py": "sharing",
    "test_torrent.py": "sharing",
    # node: the live node, its keys and commands, the classroom network under faults
    "test_bad_input_node.py": "node",
    "test_faults.py": "node",
    "test_hostile_member.py": "node",
    "test_isolation.py": "node",
    "test_node.py": "node",
    "test_gossip.py": "node",
    "test_node_cli.py": "node",
    "test_node_folder.py": "node",
    "test_node_keys.py": "node",
    # course: exercises, cases, hints, saved learner code, the capstone, grading, the student build
    "test_capstone.py": "course",
    "test_cases.py": "course",
    "test_exercises.py": "course",
    "test_grade.py": "course",
    "test_grade_forgery.py": "course",
    "test_notebooks_hygiene.py": "course",
    "test_saved.py": "course",
    "test_student_leak.py": "course",
    # lessons: the libraries the notebooks demonstrate, their tables, and the widgets that show them
    "test_attacks.py": "lessons",
    "test_clean_page.py": "lessons",  # its notebook scans ask for notebook_runs: those are notebooks
    "test_data.py": "lessons",
    "test_display.py": "lessons",
    "test_envcheck.py": "lessons",
    "test_factoring.py": "lessons",
    "test_forkrate.py": "lessons",
    "test_lab.py": "lessons",
    "test_mempool.py": "lessons",
    "test_powtrials.py": "lessons",
    "test_race.py": "lessons",
    "test_signatures.py": "lessons",
    "test_sybil.py": "lessons",
    "test_tables.py": "lessons",
    "test_widgets_chain.py": "lessons",
    "test_widgets_classroom.py": "lessons",
    "test_widgets_classroom.py::test_a_real_room_of_two_nodes": "node",  # two live nodes under the dashboard
    "test_widgets_contracts.py": "lessons",
    "test_widgets_inspector.py": "lessons",
    "test_widgets_mining.py": "lessons",
    "test_widgets_swarm.py": "lessons",
    # notebooks: the workbook executed in a kernel, as written, as the student build, through the grader
    "test_notebooks_run.py": "notebooks",
    "test_no_secrets_left.py": "notebooks",  # reads what every notebook's run left; kills a kernel
    "test_student.py": "notebooks",
    "test_capstone.py::test_the_capstone_runs_on_the_instructors_saved_functions_and_agrees_everywhere": "notebooks",
    # browser: JupyterLab driven by Playwright and Chromium
    "test_browser.py": "browser",
    "test_browser_battle.py": "browser",
    "test_browser_capstone.py": "browser",
    "test_browser_page.py": "browser",
    # package: how labkit is laid out, built, installed and started
    "test_areas.py": "package",
    "test_layout.py": "package",
    "test_make_lab.py": "package",
    "test_package.py": "package",
    "test_terminal.py": "package",
    "test_waiting.py": "package",
    "test_wheel.py": "package",
}

# The fixture that executes notebooks (conftest.py): a test asking for it, even through
# executed_notebook or student_run, is in the notebooks area.
NOTEBOOK_FIXTURES = frozenset({"notebook_runs"})

# Tests that take long on their own (seconds on an idle two-core machine, measured with --durations):
# a file name, or a file and a test name (parameters left out).
SLOW = frozenset({
    "test_bep46_interop.py",  # libtorrent sessions against a node.js DHT node
    "test_faults.py",  # 80 s: four live nodes in network namespaces, killed, partitioned, disks filled
    "test_fuzz.py",  # 15 s: hypothesis mutates chains (300 examples; `make fuzz` runs 10,000)
    "test_grade.py",  # 30 s: grades notebooks in kernels, one kernel per notebook and student
    "test_grade_forgery.py",
    "test_battle.py::test_each_learner_is_fooled_exactly_by_the_rounds_that_test_its_mistake",  # the live room:
    "test_battle.py::test_the_scoreboard_says_what_each_got_wrong",  # five nodes through eleven rounds, about
    "test_battle.py::test_a_red_team_chain_scores_the_classmates_it_fools_once_per_author",  # 60 s, shared by
    "test_battle.py::test_the_gradebook_gives_points_only_for_what_held",  # these four tests
    "test_nbgrader.py",  # nbgrader's generate, autograde (four submissions), feedback and export: minutes  # grades hostile copies of notebook 00, a kernel each
    "test_hostile_member.py::test_a_hostile_member_cannot_stop_crash_or_split_three_honest_nodes",  # 30 s, live
    "test_hostile_member.py::test_side_blocks_and_memory_per_member_stay_bounded_across_rounds",  # 13 s
    "test_isolation.py",  # notebook 09's room of four nodes in a user namespace, and a fault
    "test_make_lab.py",  # 20 s: make lab starts JupyterLab
    "test_other_pythons.py",  # 40 s, and a few minutes more the first time (it makes the two venvs)
    "test_third_party.py",  # 15 s: aria2c and labkit exchange 4 MiB both ways
    "test_wheel.py",  # 15 s: builds the wheel and installs it in a fresh venv
})


# Under pytest -n (make test: four workers, pytest-xdist), each group below runs whole on one worker
# (conftest.py's scheduler), tests/areas.py deciding from the test's id alone (the scheduler never sees
# the tests themselves). A file is one group: its module-scoped fixtures (the battle's live room, a
# JupyterLab server) are made once, and nbval runs a notebook's cells in one kernel, in order. Files that
# share a session fixture go together under one name here. The tests that read a notebook's shared run
# (tests/notebook_runs.py) are grouped by that notebook, across files: the worker that runs it reads it.
GROUPS = {
    "test_hub.py": "hub",  # both use the image's one install (hubsupport.session_install)
    "test_image_install.py": "hub",
    "test_clean_page.py::test_the_classroom_networks_measured_sentences_are_shown_from_its_run":
        "notebook-run:09-the-classroom-network",
}
# The files whose tests, parametrized by a notebook's name, read that notebook's run.
NOTEBOOK_RUN_FILES = frozenset({"test_notebooks_run.py", "test_student.py", "test_clean_page.py",
                                "test_no_secrets_left.py"})

# The groups that take longest on their own, longest first (seconds of the serial run at c13bc00's
# successor, on a shared two-core machine): started first under pytest -n, so that none of them begins near
# the end and keeps the whole run waiting.
FIRST = (
    "hub",  # the image's install, then a hub with three students running three notebooks each: 410 s
    "tests/test_nbgrader.py",  # 340 s
    "tests/test_other_pythons.py",  # 40 s (minutes in a fresh clone), mostly another process: it fills gaps
    "tests/test_capstone.py",  # 170 s
    "tests/test_browser.py",  # 190 s
    "tests/test_isolation.py",  # 125 s
    "tests/test_faults.py",  # 130 s
    "tests/test_browser_battle.py",  # 105 s
    "tests/test_battle.py",  # 80 s
    "tests/test_browser_page.py",  # 120 s
    "tests/test_fuzz.py",  # 95 s
    "tests/test_grade.py",  # 70 s
    "notebook-run:12-defend-the-chain",  # 60 s
    "tests/test_make_lab.py",  # 60 s
    "tests/test_browser_tables.py",  # 50 s
    "notebook-run:09-the-classroom-network",  # 45 s
    "tests/test_hostile_member.py",  # 45 s
    "tests/test_browser_capstone.py",  # 40 s
    "notebooks/12-defend-the-chain.ipynb",  # 35 s
    "notebook-run:03-proof-of-work",  # 30 s
    "tests/test_agreement.py",  # 30 s
    "notebook-run:05-torrent-sharing",  # 20 s
    "tests/test_forks.py",  # 20 s
)


def group_of(nodeid: str) -> str:
    """The pytest-xdist group of the test ``nodeid`` (``tests/test_x.py::test_y[param]``, or nbval's
    ``notebooks/03-proof-of-work.ipynb::Cell 4``): one worker runs a group's tests, in order."""
    path, _, test = nodeid.partition("::")
    filename = Path(path).name
    name, _, param = test.partition("[")
    if f"{filename}::{name}" in GROUPS:
        return GROUPS[f"{filename}::{name}"]
    notebook = param.removesuffix("]").removesuffix(".ipynb")
    if re.fullmatch(r"\d\d-[a-z0-9-]+", notebook):
        if filename in NOTEBOOK_RUN_FILES:
            return notebook_group(notebook)
    return GROUPS.get(filename, path)


def notebook_group(notebook: str) -> str:
    """The group of the tests that read ``notebook``'s shared run (``03-proof-of-work``)."""
    return f"notebook-run:{notebook}"


def _key(filename: str, test_name: str) -> str:
    return f"{filename}::{test_name.split('[')[0]}"


def area_of(filename: str, test_name: str = "", fixturenames=()) -> str | None:
    """The area of test ``test_name`` in ``filename`` (a bare file name) asking for ``fixturenames``; None if unmapped.

    A test listed by name in AREAS (its parameters in brackets are ignored) has that area; else one that
    asks for notebook_runs is in ``notebooks``; else it has its file's area.
    """
    if _key(filename, test_name) in AREAS:
        return AREAS[_key(filename, test_name)]
    if NOTEBOOK_FIXTURES.intersection(fixturenames):
        return "notebooks"
    return AREAS.get(filename)


def is_slow(filename: str, test_name: str) -> bool:
    """Whether the test ``test_name`` (its parameters in brackets are ignored) of ``filename`` is slow."""
    return filename in SLOW or _key(filename, test_name) in SLOW


def files_of(area: str, tests: Path = Path(__file__).resolve().parent) -> list[str]:
    """The names of the test files that may hold tests of ``area``: `make test-AREA` collects only these
    (collecting the whole suite takes 10 s or more)."""
    files = {key.partition("::")[0] for key, value in AREAS.items() if value == area}
    if area == "notebooks":  # a test asking for notebook_runs, in any file
        fixtures = NOTEBOOK_FIXTURES | {"executed_notebook", "student_run"}
        files |= {p.name for p in tests.glob("test_*.py") if any(f in p.read_text() for f in fixtures)}
    return sorted(name for name in files if (tests / name).exists())


if __name__ == "__main__":  # python tests/areas.py AREA: its files, for the Makefile
    if len(sys.argv) != 2 or sys.argv[1] not in AREA_NAMES:
        sys.exit(f"usage: python tests/areas.py AREA, one of: {', '.join(AREA_NAMES)}")
    print(" ".join(f"tests/{name}" for name in files_of(sys.argv[1])))

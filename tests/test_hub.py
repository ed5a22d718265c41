"""A class on a real JupyterHub: three non-root students run 00, 05 and 09 at once.

The hub (JupyterHub from PyPI, configurable-http-proxy from the npm registry, see
``make hub-proxy``) listens on 127.0.0.1 with the dummy authenticator and the local process
spawner, so each student's server and kernels run as that student, a system user made with
``useradd``. They all use one shared install, root's and read-only: the image's install
steps (deploy/install-labkit.sh), and its notebooks, linked into each home as TLJH's docs
suggest for a shared folder. Nine kernels run at once, three notebooks per student, through
each server's kernels API and websocket behind the hub's proxy, as JupyterLab's are.

What must hold: no cell fails; nothing a student made can be read by another; nothing is
written beside the shared notebooks; after their servers stop, no process of theirs runs.
Needs root (useradd, and the spawner's setuid); CI runs as root. About two minutes.
"""

from __future__ import annotations

import os
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
from hubsupport import Hub, Student, exposed, made_by, processes_of, run_all, session_install, students

pytestmark = [pytest.mark.hub, pytest.mark.timeout(1500)]

STUDENTS = ["labkit-hub-ana", "labkit-hub-ben", "labkit-hub-cleo"]
NOTEBOOKS = ["00-welcome.ipynb", "05-torrent-sharing.ipynb", "09-the-classroom-network.ipynb"]


@dataclass
class Lesson:
    people: list[Student]
    start_seconds: list[float]
    results: list[dict]
    running_before_stop: dict[str, list[str]]
    running_after_stop: dict[str, list[str]]
    leaks: dict[str, list[str]]
    made: dict[str, list]
    beside_notebooks: list[str]
    work_modes: dict[str, int]
    proxy_alive: bool


def wait_for_no_processes(people: list[Student], timeout: float = 60) -> dict[str, list[str]]:
    deadline = time.monotonic() + timeout
    while True:
        running = {p.name: processes_of(p.uid) for p in people}
        if not any(running.values()) or time.monotonic() > deadline:
            return running
        time.sleep(0.3)


@pytest.fixture(scope="module")
def lesson(tmp_path_factory) -> Lesson:
    if os.geteuid() != 0:
        pytest.fail("the hub test makes users with useradd and spawns their servers as them: run it as root (CI does)")
    install = session_install()
    shared_before = sorted(p.name for p in install.notebooks.iterdir())
    with students(STUDENTS) as people:
        for person in people:  # the shared, read-only notebooks, in each home
            link = person.home / install.notebooks.name
            link.symlink_to(install.notebooks)
            os.lchown(link, person.uid, person.gid)
        hub = Hub(install, tmp_path_factory.mktemp("hub")).start()
        proxy_pid = int((hub.state / "proxy.pid").read_text())
        try:
            with ThreadPoolExecutor(len(people)) as pool:
                start_seconds = list(pool.map(hub.start_server, [p.name for p in people]))
            results = run_all(hub, [(p.name, nb) for p in people for nb in NOTEBOOKS])
            running_before_stop = {p.name: processes_of(p.uid) for p in people}
            with ThreadPoolExecutor(len(people)) as pool:
                list(pool.map(hub.stop_server, [p.name for p in people]))
            running_after_stop = wait_for_no_processes(people)
            leaks = {p.name: exposed(p, [o for o in people if o is not p]) for p in people}
            made = {p.name: made_by(p) for p in people}
            work = {p.name: p.home / ".local" / "share" / "labkit" for p in people}
            work_modes = {name: stat.S_IMODE(path.stat().st_mode) if path.exists() else None
                          for name, path in work.items()}
        finally:
            hub.stop()
        proxy_alive = os.path.exists(f"/proc/{proxy_pid}")
    beside = sorted(set(p.name for p in install.notebooks.iterdir()) - set(shared_before))
    return Lesson(people, start_seconds, results, running_before_stop, running_after_stop, leaks, made, beside,
                  work_modes, proxy_alive)


def test_three_students_run_00_05_and_09_at_once_without_an_error(lesson):
    for result in lesson.results:
        print(f"{result['user']} {result['notebook']}: {result['cells']} cells in {result['seconds']:.1f} s")
    print("servers ready in", ", ".join(f"{s:.1f} s" for s in lesson.start_seconds))
    assert [r["errors"] for r in lesson.results] == [[]] * len(STUDENTS) * len(NOTEBOOKS)
    assert all(r["cells"] > 5 for r in lesson.results)


def test_the_students_kernels_ran_as_themselves(lesson):
    # While their servers ran, each student's processes were theirs alone: the spawner's setuid.
    for person in lesson.people:
        assert any("jupyterhub-singleuser" in cmd for cmd in lesson.running_before_stop[person.name]), person.name


def test_nothing_a_student_made_can_be_read_by_another(lesson):
    assert lesson.leaks == {name: [] for name in STUDENTS}
    for person in lesson.people:
        assert lesson.made[person.name], f"{person.name} made no files at all: did the notebooks run?"


def test_labkit_keeps_each_students_files_in_their_own_0700_folder(lesson):
    # The notebooks folder is read-only, so work/ cannot go beside it: labkit takes the student's data folder.
    assert lesson.work_modes == {name: 0o700 for name in STUDENTS}
    assert lesson.beside_notebooks == [], "nothing is written into the shared notebooks folder"


def test_nothing_is_left_running_after_their_servers_stop(lesson):
    assert lesson.running_after_stop == {name: [] for name in STUDENTS}
    assert not lesson.proxy_alive, "the hub stopped its proxy"

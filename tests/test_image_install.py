"""The image's install, without a container daemon: deploy/install-labkit.sh in a clean venv.

deploy/Dockerfile runs deploy/install-labkit.sh; so does this test, into a root-owned
folder (``hubsupport.shared_install``): labkit from its built wheel, not editable, with the
hub extra (JupyterLab, widgets, plots, the single-user server, nbgitpuller) and no test
packages. Then a student, a user without privileges, runs notebook 00 from the shared,
read-only notebooks folder with nbclient (``jupyter execute``), as a hub's student would.
pip runs offline from the dependencies kept as wheels between runs (hubsupport.wheel_cache): only
the first run, or one after a dependency is added, resolves and downloads them from the index.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest
from hubsupport import TEST_PACKAGES, as_user, clean_environment, exposed, made_by, session_install, students

pytestmark = [pytest.mark.hub, pytest.mark.timeout(1200)]
WANTED = ("jupyterlab", "ipywidgets", "matplotlib", "numpy", "libtorrent", "jupyterhub", "nbgitpuller")


@pytest.fixture(scope="module")
def install():
    if os.geteuid() != 0:
        pytest.fail("the image tests make users with useradd and switch to them: run them as root (CI does)")
    return session_install()


def probe(install, code: str) -> str:
    result = subprocess.run([str(install.python), "-c", code], capture_output=True, text=True, timeout=300,
                            cwd=install.root, env=clean_environment())
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_labkit_comes_from_its_wheel_with_the_lab_extra_and_no_test_packages(install):
    facts = json.loads(probe(install, """if True:
        import importlib.metadata as m, importlib.util as u, json, labkit
        dist = m.distribution("labkit")
        direct = dist.read_text("direct_url.json")
        print(json.dumps({"file": labkit.__file__, "version": dist.version, "direct_url": direct,
                          "found": {n: u.find_spec(n) is not None for n in %r}}))
    """ % (WANTED + TEST_PACKAGES,)))
    assert facts["file"].startswith(str(install.root / "venv" / "lib")), "labkit is the installed copy"
    assert facts["direct_url"] is None or '"editable": true' not in facts["direct_url"], "not an editable install"
    missing = [n for n, found in facts["found"].items() if not found and n not in TEST_PACKAGES]
    assert missing == [], f"the image lacks {missing}"
    present = [n for n in TEST_PACKAGES if facts["found"][n]]
    assert present == [], f"test packages in the image: {present}"


def test_the_environment_check_of_00_passes_in_the_image(install):
    report = probe(install, "from labkit.lessons.envcheck import check_environment as c; "
                            "r = c(); print(r[~r['ok']].to_string() if not r['ok'].all() else 'ok')")
    assert report.strip() == "ok", report


def test_students_can_read_the_install_but_not_change_it(install):
    for folder, dirs, files in os.walk(install.root):
        for name in [folder, *(os.path.join(folder, f) for f in dirs + files)]:
            info = os.lstat(name)
            if stat.S_ISLNK(info.st_mode):
                continue
            assert info.st_uid == 0 and not info.st_mode & (stat.S_IWGRP | stat.S_IWOTH), name
            assert info.st_mode & stat.S_IROTH, f"{name} is not readable by students"


def test_a_student_runs_00_from_the_shared_notebooks_under_nbclient(install):
    with students(["labkit-img-ana", "labkit-img-ben"]) as (ana, ben):
        result = subprocess.run([*as_user(ana), f"PATH={install.bin}:/usr/bin:/bin", str(install.bin / "jupyter"),
                                 "execute", "--timeout=240", str(install.notebooks / "00-welcome.ipynb")],
                                cwd=ana.home, capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, result.stderr[-4000:]
        made = made_by(ana)
        # The read-only notebooks folder sends labkit's files to the student's own data folder:
        # 00's demo run, and the hash_chain exercise it saves when the check passes.
        work = ana.home / ".local" / "share" / "labkit"
        assert (work / "00-welcome").is_dir() and (work / "mine" / "hash_chain.py").is_file()
        assert stat.S_IMODE(work.stat().st_mode) == 0o700
        assert all(p.lstat().st_uid == ana.uid for p in made)
        assert exposed(ana, [ben]) == []
        assert not list(install.notebooks.glob("work*")), "nothing is written beside the shared notebooks"


def test_environment_yml_asks_for_what_the_notebooks_need_and_nothing_for_tests():
    """environment.yml (conda, Binder) is a second list of pyproject.toml's: it must agree."""
    import importlib.metadata
    import re
    from pathlib import Path

    from labkit.lessons.envcheck import parse_requirement, requirements

    root = Path(__file__).resolve().parent.parent
    text = (root / "environment.yml").read_text()
    listed = {re.split(r"[<>=!~ ]", line.strip()[2:].strip(), maxsplit=1)[0].lower()
              for line in text.splitlines() if re.match(r"\s+- [A-Za-z]", line)}
    needed = {r.distribution for r in requirements()}  # pyproject.toml's dependencies and lab extra
    assert needed - listed == set(), f"environment.yml misses {needed - listed}"
    test_extra = {parse_requirement(line, ("test",)) for line in importlib.metadata.requires("labkit")
                  if "test" in line}
    tests_only = {name for name, _ in filter(None, test_extra)} - {"labkit"}
    assert tests_only >= {"pytest", "hypothesis", "nbval", "playwright"}
    assert listed & tests_only == set(), f"test packages in environment.yml: {listed & tests_only}"
    assert "postBuild" not in text or (root / "postBuild").exists()
    assert "-e ." not in text, "labkit is installed, not editable"


def test_the_deploy_files_install_what_this_test_installs_and_spare_a_running_lesson():
    import yaml
    from pathlib import Path

    deploy = Path(__file__).resolve().parent.parent / "deploy"
    dockerfile = (deploy / "Dockerfile").read_text()
    run_lines = [line for line in dockerfile.splitlines() if line.startswith("RUN") and "install-labkit.sh" in line]
    assert len(run_lines) == 1, "the image installs labkit with the script this test runs, and only with it"
    script = (deploy / "install-labkit.sh").read_text()
    assert "[test]" not in dockerfile + script and "-e " not in script and "--editable" not in script
    lesson = 2 * 3600  # a long lesson, in seconds: no server may be culled for idleness sooner
    z2jh = yaml.safe_load((deploy / "z2jh-values.yaml").read_text())
    assert z2jh["cull"]["timeout"] > lesson and z2jh["cull"]["maxAge"] == 0
    assert "gitpuller" in z2jh["singleuser"]["lifecycleHooks"]["postStart"]["exec"]["command"]
    for resource in ("memory", "cpu"):
        assert {"guarantee", "limit"} <= set(z2jh["singleuser"][resource])
    tljh = yaml.safe_load((deploy / "tljh-config.yaml").read_text())
    assert tljh["services"]["cull"]["timeout"] > lesson and tljh["services"]["cull"]["max_age"] == 0
    assert {"memory", "cpu"} <= set(tljh["limits"])

"""Repository-wide pytest setup, loaded for every test.

Exercise checks are strict during tests: a wrong solution in an instructor's
notebook raises instead of showing a red box. Set here, at the root, so the
kernels the tests start for the notebooks inherit it through the environment.

nbval's kernels stop as Jupyter's do (see ``_stop_nbval_kernels_as_jupyter_does``).
"""

import os

os.environ["LABKIT_EXERCISES_STRICT"] = "1"


def pytest_configure(config):
    _stop_nbval_kernels_as_jupyter_does()


def _stop_nbval_kernels_as_jupyter_does() -> None:
    """nbval ends a notebook's kernel with SIGKILL (``shutdown_kernel(now=True)``), so nothing the notebook
    cleans up at exit ran: each run of the workbook left the scratch folders of 05, 07 and 08 (three) in
    the temporary directory. Jupyter asks a kernel to shut down and kills it only if it has not within
    ``shutdown_wait_time``; nbval's kernels now stop that way too."""
    try:
        from nbval.kernel import RunningKernel
    except ImportError:  # pytest without nbval: nothing to change
        return

    def stop(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=False)
        del self.km

    RunningKernel.stop = stop

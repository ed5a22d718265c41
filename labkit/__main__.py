"""Command line: ``python -m labkit demo | verify | wallet new | network new | share | fetch | node | grade``.

Bad input gets one line on stderr, ``error: ...`` naming the argument or the
path and what is wrong with it, and a non-zero exit (2; verify exits 1 when
it rejected lines of the file), with nothing created or changed. Every
argument is checked before anything is written: ``argparse`` types check
paths (never opening a FIFO or a device), numbers and names, and ``main``
turns any LabkitError or OSError into that one line. Text that came from a
user (names, reasons, paths) goes through ``labkit.terminal.printable``
before it is printed.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import arguments
from .arguments import error_line
from .errors import LabkitError
from .terminal import printable

__all__ = ["main"]

EXIT_BROKEN_PIPE = 128 + 13  # what a shell reports for a tool killed by SIGPIPE (output piped into head)


def _print_tables(peer, network) -> None:
    import pandas as pd

    from .lessons.tables import state_frames

    with pd.option_context("display.width", 120, "display.max_columns", 20):
        for name, frame in state_frames(peer.state, network).items():
            print(f"\n{printable(name)}:")
            print(printable(frame.to_string(), newlines=True) if len(frame) else "  (empty)")


def cmd_demo(args: argparse.Namespace) -> int:
    from .lessons.demo import run_demo

    workdir = args.workdir if args.workdir else Path(tempfile.mkdtemp(prefix="labkit-demo-"))
    print(f"labkit demo: the seed's scenario with three peers, working in {printable(workdir)}")
    bar = _MiningBar()

    def step(message: str) -> None:
        bar.close()  # a block is done: its progress line makes way for the step's line
        print("  " + printable(message))

    try:
        with _undone_on_failure(workdir):
            result = run_demo(workdir, difficulty=args.difficulty, use_torrent=not args.no_torrent,
                              step=step, progress=bar, share_progress=_ShareProgress())
    finally:
        bar.close()
    print(f"\nState tables as {result.peers[-1].name} sees them:")
    _print_tables(result.peers[-1], result.network)
    print("\nState digests:")
    for name, digest in result.digests.items():
        print(f"  {name:6} {digest}")
    print("all peers agree" if result.agree else "PEERS DISAGREE")
    return 0 if result.agree else 1


class _ShareProgress:
    """One line each time a peer's download of the blocks file moves on: share, rate, peers."""

    def __init__(self) -> None:
        self.shown: dict[str, tuple[int, bool]] = {}

    def __call__(self, name: str, status) -> None:
        percent = int(100 * status.progress)
        if self.shown.get(name) == (percent, status.complete):
            return
        self.shown[name] = (percent, status.complete)
        if status.complete:
            print(f"    {name:6} {percent:3d}%  done in {status.elapsed:.2f} s, every piece checked", flush=True)
        else:
            print(f"    {name:6} {percent:3d}%  {status.download_rate / 1024:.1f} KiB/s from "
                  f"{status.peers} peer(s)", flush=True)


class _MiningBar:
    """A tqdm line that shows attempts and attempts/s while a block is mined (long at high difficulty)."""

    def __init__(self) -> None:
        self.bar = None

    def __call__(self, progress) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(desc="    mining", unit=" attempts", unit_scale=True, leave=False)
        self.bar.update(progress.attempts - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


@dataclass(frozen=True)
class _Row:
    """One line of verify's report: the lines ``first`` to ``last`` of the file and their verdict."""

    first: int
    last: int
    verdict: str  # "ok", or "REJECTED [check] reason"

    @property
    def accepted(self) -> bool:
        return self.verdict == "ok"

    def __str__(self) -> str:
        if self.first == self.last:
            return f"{f'line {self.first}':>10}: {printable(self.verdict)}"
        count = self.last - self.first + 1
        return f"{f'lines {self.first}-{self.last}':>10}: {printable(self.verdict)} ({count:,} lines)"


def _report_rows(peer, loaded) -> list[_Row]:
    """One row per line of the blocks file, in file order; runs of lines with the same rejection are one row.

    The peer is given each distinct record once: it skips a record it already
    holds, so a repeated line would otherwise get no verdict at all. Each
    repeat is reported here, against the line it repeats.
    """
    rows: list[_Row] = []
    first_copy: dict[tuple[str, bytes], int] = {}  # (token, signature) -> line of its first copy
    unique, unique_lines = [], []
    for line, block in zip(loaded.lines, loaded.blocks):
        key = (block.token, block.signature)
        if key in first_copy:
            rows.append(_Row(line, line, f"REJECTED [duplicate] repeats line {first_copy[key]}"))
        else:
            first_copy[key] = line
            unique.append(block)
            unique_lines.append(line)
    reports = peer.receive(unique)
    if len(reports) != len(unique):  # the peer promises one report per block it has not seen
        raise LabkitError(f"the peer gave {len(reports)} verdicts for {len(unique)} blocks")
    for line, report in zip(unique_lines, reports):
        verdict = "ok" if report.accepted else f"REJECTED [{report.rule}] {report.reason}"
        rows.append(_Row(line, line, verdict))
    for problem in loaded.problems:
        rows.append(_Row(problem.line, problem.last, f"REJECTED [record] {problem.reason}"))
    if loaded.problems:
        first_bad = loaded.problems[0].line
        after = f"REJECTED [ancestry] comes after bad line {first_bad}; only the lines before it are read"
        rows += [_Row(line, line, after) for line, _ in loaded.after_problem]
    rows.sort(key=lambda row: row.first)
    merged: list[_Row] = []
    for row in rows:  # a run of rejections for the same reason is one row
        if merged and not row.accepted and merged[-1].verdict == row.verdict and merged[-1].last + 1 == row.first:
            merged[-1] = _Row(merged[-1].first, row.last, row.verdict)
        else:
            merged.append(row)
    return merged


def cmd_verify(args: argparse.Namespace) -> int:
    from .blocksfile import load_blocks
    from .lessons.data import demo_network
    from .network import Member, Network
    from .peer import Peer
    from .wallet import Wallet, load_public_key_file

    if args.seed_secret is not None:
        # A file written by the seed: one signer, a short shared secret, a difficulty.
        key = load_public_key_file(args.signer_key, teaching=True)
        network = Network.for_seed_file(Member("seed", key), args.seed_secret.encode("utf-8"), args.difficulty)
    else:
        network = Network.load(args.network) if args.network else demo_network()
        if args.difficulty is not None:
            network = network.with_difficulty(args.difficulty)
    loaded = load_blocks(args.blocks_file)
    peer = Peer("verifier", network)
    rows = _report_rows(peer, loaded)
    for row in rows:
        print(row)
    rejected = sum(row.last - row.first + 1 for row in rows if not row.accepted)
    accepted = sum(1 for row in rows if row.accepted)
    print(f"\n{accepted} accepted, {rejected} rejected; state digest {peer.digest()}")
    if args.tables:
        _print_tables(peer, network)
    if rejected:
        sys.stdout.flush()  # the report first, then the one error line
        print(f"error: {printable(args.blocks_file)}: {rejected:,} of {loaded.line_count:,} lines rejected",
              file=sys.stderr)
        return 1
    return 0


def cmd_wallet_new(args: argparse.Namespace) -> int:
    """A new 2048-bit wallet: NAME.pem (private, mode 0600) and NAME.pub.pem (to hand to the instructor),
    and the member's node key beside them: NAME.node (private, 0600) and NAME.node.pub."""
    from .files import atomic_write, check_new_file, missing_folders
    from .node.keys import node_key_paths, write_node_key_pair
    from .wallet import Wallet, public_key_pem

    folder: Path = args.dir
    private, public = folder / f"{args.name}.pem", folder / f"{args.name}.pub.pem"
    node_files = node_key_paths(private)
    if folder.exists():
        for path in (private, public, *node_files):  # before the key is made: never replace a key, never half a pair
            check_new_file(path)
    made = missing_folders(folder)
    written: list[Path] = []
    try:
        folder.mkdir(parents=True, exist_ok=True)
        wallet = Wallet.generate(name=args.name)
        written.append(wallet.save(private))  # refuses to replace an existing key (KeyFileExists)
        written.append(atomic_write(public, public_key_pem(wallet.public_key).encode("ascii"), overwrite=False))
        written += write_node_key_pair(private)[1:]
    except BaseException:
        for path in written:  # undo: a refused command leaves nothing behind
            path.unlink()
        for path in reversed(made):
            path.rmdir()
        raise
    print(f"wrote {printable(private)} and {printable(node_files[0])} (keep them secret), "
          f"{printable(public)} and {printable(node_files[1])}")
    print(f"address {wallet.address}")
    return 0


def cmd_network_new(args: argparse.Namespace) -> int:
    """A classroom network from members' public keys, with a freshly generated secret."""
    from .errors import ConfigError
    from .network import Member, Network
    from .node.keys import node_public_key_beside
    from .wallet import load_public_key_file

    members, seen = [], set()
    for name, path in args.member:
        if name in seen:
            raise ConfigError(f"--member {name!r} is given twice")
        seen.add(name)
        members.append(Member(name, load_public_key_file(path), node_public_key_beside(path)))
    network = Network.create(members, difficulty=args.difficulty, name=args.name)
    network.save(args.out)
    print(f"wrote {printable(args.out)} (mode 0600: it holds the network's secret; share it only with members)")
    print(printable(repr(network)))
    return 0


def cmd_grade(args: argparse.Namespace) -> int:
    """Grade every student's exercises in a sandbox; write the grades, the gradebook and each student's feedback."""
    from .course.grade import STATUSES, grade, granted_cpus, instructor_notebooks, submissions, write_grades, \
        write_gradebook

    found = submissions(args.submissions)  # refuses an empty folder before any sandbox starts
    count = sum(len(notebooks) for notebooks in found.values())
    jobs = args.jobs or granted_cpus()
    print(f"grading {count} notebook(s) of {len(found)} student(s), {jobs} at a time, at most {args.timeout:g} s each")
    reference = args.reference if args.reference is not None else instructor_notebooks()

    def progress(student: str, notebook: str, rows, seconds: float) -> None:
        counts = ", ".join(f"{sum(r.status == s for r in rows)} {s}" for s in STATUSES)
        print(f"  {printable(student)} {printable(notebook)}: {counts} ({seconds:.1f} s)", flush=True)

    rows = grade(args.submissions, timeout=args.timeout, reference=reference, jobs=jobs, progress=progress)
    write_grades(rows, args.out)
    folder = Path(args.out).parent
    written = write_gradebook(rows, folder / "gradebook.csv", folder / "feedback")
    print(f"wrote {printable(args.out)}: {len(rows)} row(s); {printable(written[0])}; "
          f"{len(written) - 1} feedback file(s) in {printable(folder / 'feedback')}")
    return 0


# --- checking arguments before anything is done ---------------------------------------------------
# Each returns the value checked or raises ArgumentTypeError, which the parser prints as one error line;
# the general ones (numbers, paths, addresses) are labkit.arguments', shared with the node's commands.


def _secret(value: str) -> str:
    arguments.text(value, what="the secret")
    if not value:
        raise argparse.ArgumentTypeError("the secret must not be empty")
    return value


def _network_name(value: str) -> str:
    arguments.text(value, what="the network name")
    if not value or len(value) > 64 or not value.isprintable():
        raise argparse.ArgumentTypeError(f"the network name {value!r} must be 1 to 64 printable "
                                         "characters")
    return value


def _difficulty(value: str) -> int:
    from .pow import MAX_DIFFICULTY

    return arguments.whole_number(0, MAX_DIFFICULTY, "difficulty", unit="hex zeros")(value)


def _name(value: str) -> str:
    from .network import check_name

    arguments.text(value, what="the name")
    return arguments.checked(check_name, empty="a member name must not be empty")(value)


def _member(value: str) -> tuple[str, str]:
    from .wallet import MAX_KEY_FILE_BYTES

    name, sep, path = value.partition("=")
    if not sep or not path:
        raise argparse.ArgumentTypeError(f"--member takes NAME=PUBLIC_KEY.pem, not {value!r}")
    _name(name)
    return name, arguments.input_file(MAX_KEY_FILE_BYTES)(path)


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one ``error:`` line, like every other refusal."""

    def error(self, message: str):
        self.exit(2, f"error: {error_line(message)} (see: {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    from .blocksfile import MAX_FILE_BYTES
    from .network import MAX_CONFIG_BYTES
    from .wallet import MAX_KEY_FILE_BYTES

    parser = _Parser(prog="python -m labkit", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the seed's scenario with three peers")
    demo.add_argument("--workdir", type=arguments.folder,
                      help="folder for the blocks files (default: a new temporary folder)")
    demo.add_argument("--difficulty", type=_difficulty, default=None,
                      help="hex zeros, 0 to 8 (default: the demo network's, 2)")
    demo.add_argument("--no-torrent", action="store_true", help="peers read the file directly instead of by BitTorrent")
    demo.set_defaults(func=cmd_demo)

    verify = sub.add_parser("verify", help="verify and execute a blocks file; exit 1 if any block is rejected")
    verify.add_argument("blocks_file", type=arguments.input_file(MAX_FILE_BYTES))
    verify.add_argument("--network", type=arguments.input_file(MAX_CONFIG_BYTES),
                        help="network configuration JSON (default: data/demo-network.json)")
    verify.add_argument("--difficulty", type=_difficulty, default=None, help="override the network's difficulty")
    verify.add_argument("--tables", action="store_true", help="print the state tables afterwards")
    verify.add_argument("--seed-secret", type=_secret, help="read a file the seed wrote: its HS256 secret ...")
    verify.add_argument("--signer-key", type=arguments.input_file(MAX_KEY_FILE_BYTES),
                        help="... and its signer's public key PEM file (with --difficulty)")
    verify.set_defaults(func=cmd_verify)

    wallet = sub.add_parser("wallet", help="make a member's key pair").add_subparsers(dest="action", required=True)
    new_wallet = wallet.add_parser("new", help="write NAME.pem (private, 0600) and NAME.pub.pem")
    new_wallet.add_argument("name", type=_name,
                            help="1 to 32 letters, digits, '_', '-' or '.', starting with a letter or digit, "
                                 "not ending in '.pub'")
    new_wallet.add_argument("--dir", type=arguments.folder, default=".", help="folder for the key files (default: .)")
    new_wallet.set_defaults(func=cmd_wallet_new)

    network = sub.add_parser("network", help="make a classroom network").add_subparsers(dest="action", required=True)
    new_network = network.add_parser("new", help="a network configuration with a fresh secret")
    new_network.add_argument("--member", type=_member, action="append", required=True, metavar="NAME=PUBLIC_KEY.pem",
                             help="a member and the public key file `wallet new` wrote (repeatable)")
    new_network.add_argument("--difficulty", type=_difficulty, default=3,
                             help="hex zeros every block needs, 0 to 8 (default: 3)")
    new_network.add_argument("--name", type=_network_name, default="classroom")
    new_network.add_argument("--out", type=arguments.new_file, default="classroom.json",
                             help="where to write it, a file that does not exist yet (default: classroom.json)")
    new_network.set_defaults(func=cmd_network_new)

    grade = sub.add_parser("grade", help="grade each student's exercises in a sandbox: grades.csv, gradebook.csv "
                                         "and feedback/ beside it")
    grade.add_argument("submissions", type=arguments.existing_folder,
                       help="a folder with one folder per student, holding their notebooks (NN-topic.ipynb)")
    grade.add_argument("--out", type=arguments.output_file, default="grades.csv",
                       help="the CSV to write, replaced if it exists (default: grades.csv)")
    grade.add_argument("--timeout", type=arguments.seconds(1, 86400), default=120,
                       help="seconds one notebook's exercises may run in the sandbox before those not yet "
                            "answered are errors (default: 120)")
    grade.add_argument("--jobs", type=arguments.whole_number(1, 256, "--jobs"), default=None,
                       help="notebooks graded at once (default: the CPUs this process is granted)")
    grade.add_argument("--reference", type=arguments.existing_folder, default=None,
                       help="the instructor's notebooks, which say which exercises each notebook has "
                            "(default: notebooks/ of this checkout)")
    grade.set_defaults(func=cmd_grade)

    try:
        from .sharing.cli import add_subcommands
    except ImportError:
        pass
    else:
        add_subcommands(sub)
    from .node.cli import add_subcommands as add_node_subcommands

    add_node_subcommands(sub)
    from .battle.cli import add_subcommands as add_battle_subcommands

    add_battle_subcommands(sub)
    return parser


@contextlib.contextmanager
def _undone_on_failure(workdir: Path):
    """Remove ``workdir`` again if this command made it and then failed (nothing is left behind)."""
    existed = workdir.exists()
    try:
        yield
    except BaseException:
        if not existed and workdir.exists():
            shutil.rmtree(workdir, ignore_errors=True)
        raise


def _fail(message: str) -> int:
    print(f"error: {error_line(message)}", file=sys.stderr)
    return 2


def _broken_pipe() -> int:
    """The reader of our output went away (``| head``): stop quietly, as Unix tools do."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the flush at exit does not fail again
    except (OSError, ValueError):  # stdout without a file descriptor (e.g. captured by a test)
        pass
    return EXIT_BROKEN_PIPE


def main(argv: list[str] | None = None) -> int:
    from .files import describe

    parser = build_parser()
    try:
        try:
            args = parser.parse_args(argv)
            if getattr(args, "seed_secret", None) is not None and (args.signer_key is None or args.difficulty is None):
                parser.error("--seed-secret needs --signer-key and --difficulty")
        except SystemExit as stop:  # --help, or a usage error already printed as one line
            return stop.code if isinstance(stop.code, int) else 0
        code = args.func(args)
        sys.stdout.flush()  # a closed pipe shows up here, inside the try
        return code
    except BrokenPipeError:
        return _broken_pipe()
    except LabkitError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(describe(exc))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

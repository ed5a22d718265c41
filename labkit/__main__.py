"""Command line: ``python -m labkit demo | verify | wallet new | network new | share | fetch``."""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from .errors import LabkitError

__all__ = ["main"]


def _print_tables(peer, network) -> None:
    import pandas as pd

    from .tables import state_frames

    with pd.option_context("display.width", 120, "display.max_columns", 20):
        for name, frame in state_frames(peer.vm.state, network).items():
            print(f"\n{name}:")
            print(frame.to_string() if len(frame) else "  (empty)")


def cmd_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo
    from .fastmine import mine

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="labkit-demo-"))
    print(f"labkit demo: the seed's scenario with three peers, working in {workdir}")
    bar = _MiningBar()

    def step(message: str) -> None:
        bar.close()  # a block is done: its progress line makes way for the step's line
        print("  " + message)

    try:
        result = run_demo(workdir, difficulty=args.difficulty, use_torrent=not args.no_torrent,
                          step=step, miner=mine, progress=bar)
    finally:
        bar.close()
    print(f"\nState tables as {result.peers[-1].name} sees them:")
    _print_tables(result.peers[-1], result.network)
    print("\nState digests:")
    for name, digest in result.digests.items():
        print(f"  {name:6} {digest}")
    print("all peers agree" if result.agree else "PEERS DISAGREE")
    return 0 if result.agree else 1


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


def cmd_verify(args: argparse.Namespace) -> int:
    from .data import demo_network
    from .network import Member, Network
    from .peer import Peer
    from .wallet import Wallet, load_public_key

    if args.seed_secret is not None:
        # A file written by the seed: one signer, a short shared secret, a difficulty.
        try:
            pem = Path(args.signer_key).read_bytes()
        except OSError as exc:
            print(f"error: cannot read the signer key {args.signer_key}: {exc.strerror}", file=sys.stderr)
            return 2
        key = load_public_key(pem, teaching=True)
        network = Network("seed", args.seed_secret.encode("utf-8"), args.difficulty,
                          (Member("seed", key),), teaching=True)
    else:
        network = Network.load(args.network) if args.network else demo_network()
        if args.difficulty is not None:
            network = network.with_difficulty(args.difficulty)
    peer = Peer("verifier", Wallet.generate(), network)
    path = Path(args.blocks_file)
    if not path.is_file():
        print(f"error: {path} is not a file", file=sys.stderr)
        return 2
    reports = peer.receive(path)
    for r in reports:
        where = f"line {r.line}" if r.line else f"block {r.index}"
        verdict = "ok" if r.accepted else f"REJECTED [{r.check}] {r.reason}"
        print(f"{where:>10}: {verdict}")
    rejected = [r for r in reports if not r.accepted]
    print(f"\n{len(reports) - len(rejected)} accepted, {len(rejected)} rejected; state digest {peer.digest()}")
    if args.tables:
        _print_tables(peer, network)
    return 1 if rejected else 0


def cmd_wallet_new(args: argparse.Namespace) -> int:
    """A new 2048-bit wallet: NAME.pem (private, mode 0600) and NAME.pub.pem (to hand to the instructor)."""
    from .wallet import Wallet, public_key_pem
    from .files import atomic_write

    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    private, public = folder / f"{args.name}.pem", folder / f"{args.name}.pub.pem"
    if public.exists():
        print(f"error: {public} already exists", file=sys.stderr)
        return 2
    wallet = Wallet.generate(name=args.name)
    wallet.save(private)  # refuses to replace an existing key (KeyFileExists)
    atomic_write(public, public_key_pem(wallet.public_key).encode("ascii"), overwrite=False)
    print(f"wrote {private} (keep it secret) and {public}")
    print(f"address {wallet.address}")
    return 0


def cmd_network_new(args: argparse.Namespace) -> int:
    """A classroom network from members' public keys, with a freshly generated secret."""
    from .errors import ConfigError, InvalidKey
    from .network import Member, Network
    from .wallet import load_public_key

    members = []
    for spec in args.member:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            print(f"error: --member takes NAME=PUBLIC_KEY.pem, not {spec!r}", file=sys.stderr)
            return 2
        try:
            members.append(Member(name, load_public_key(Path(path).read_bytes())))
        except OSError as exc:
            raise ConfigError(f"cannot read {path}: {exc.strerror}") from None
        except InvalidKey as exc:
            raise ConfigError(f"member {name!r}: {exc}") from None
    network = Network.create(members, difficulty=args.difficulty, name=args.name)
    network.save(args.out)
    print(f"wrote {args.out} (mode 0600: it holds the network's secret; share it only with members)")
    print(repr(network))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m labkit", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="run the seed's scenario with three peers")
    demo.add_argument("--workdir", help="folder for the blocks files (default: a new temporary folder)")
    demo.add_argument("--difficulty", type=int, default=None, help="hex zeros (default: the demo network's, 2)")
    demo.add_argument("--no-torrent", action="store_true", help="peers read the file directly instead of by BitTorrent")
    demo.set_defaults(func=cmd_demo)

    verify = sub.add_parser("verify", help="verify and execute a blocks file; exit 1 if any block is rejected")
    verify.add_argument("blocks_file")
    verify.add_argument("--network", help="network configuration JSON (default: data/demo-network.json)")
    verify.add_argument("--difficulty", type=int, default=None, help="override the network's difficulty")
    verify.add_argument("--tables", action="store_true", help="print the state tables afterwards")
    verify.add_argument("--seed-secret", help="read a file the seed wrote: its HS256 secret ...")
    verify.add_argument("--signer-key", help="... and its signer's public key PEM file (with --difficulty)")
    verify.set_defaults(func=cmd_verify)

    wallet = sub.add_parser("wallet", help="make a member's key pair").add_subparsers(dest="action", required=True)
    new_wallet = wallet.add_parser("new", help="write NAME.pem (private, 0600) and NAME.pub.pem")
    new_wallet.add_argument("name")
    new_wallet.add_argument("--dir", default=".", help="folder for the key files (default: .)")
    new_wallet.set_defaults(func=cmd_wallet_new)

    network = sub.add_parser("network", help="make a classroom network").add_subparsers(dest="action", required=True)
    new_network = network.add_parser("new", help="a network configuration with a fresh secret")
    new_network.add_argument("--member", action="append", required=True, metavar="NAME=PUBLIC_KEY.pem",
                             help="a member and the public key file `wallet new` wrote (repeatable)")
    new_network.add_argument("--difficulty", type=int, default=3, help="hex zeros every block needs (default: 3)")
    new_network.add_argument("--name", default="classroom")
    new_network.add_argument("--out", default="classroom.json", help="where to write it (default: classroom.json)")
    new_network.set_defaults(func=cmd_network_new)

    try:
        from .torrent_cli import add_subcommands
    except ImportError:
        pass
    else:
        add_subcommands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "seed_secret", None) is not None and (args.signer_key is None or args.difficulty is None):
        print("error: --seed-secret needs --signer-key and --difficulty", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except LabkitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())

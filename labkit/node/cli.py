"""``python -m labkit node run | submit | status``: the live node on the command line.

::

    python -m labkit node run --network classroom.json --key keys/ana.pem --data nodes/ana \\
        [--listen HOST:PORT] [--bootstrap HOST:PORT ...] [--watch NODE_KEY_HEX ...] [--duration S]
    python -m labkit node submit --data nodes/ana contract.json      # or - for standard input
    python -m labkit node status --data nodes/ana [--json]

``run`` prints one line per event until Ctrl-C or SIGTERM. ``submit`` and
``status`` do not talk to the node: they use its data folder (the inbox, and
``status.json``), so they work from any terminal, and ``status`` also when the
node is not running. Without ``--listen`` a node binds 127.0.0.1 on a free
port; ``--listen 192.168.1.10:6881`` is classroom LAN mode (labkit.sharing's
policy: private addresses only). The DHT bootstraps only from ``--bootstrap``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..terminal import printable

__all__ = ["add_subcommands", "load_node", "status_text"]


def load_node(network_file, key_file, data_dir, *, listen=None, bootstrap=(), upload_limit=None):
    """The Node ``node run`` runs: the network, the member's RSA wallet and the node key beside it."""
    from ..network import Network
    from .keys import NodeKey
    from ..wallet import Wallet
    from .journal import NodeError
    from .keys import node_key_paths
    from .live import Node

    network = Network.load(network_file)
    wallet = Wallet.load(key_file)
    private = node_key_paths(key_file)[0]
    if not private.exists():
        raise NodeError(f"no node key beside {key_file}: expected {private} (`wallet new` writes it)")
    node = Node(network, wallet, NodeKey.load(private), data_dir, listen=listen, bootstrap=bootstrap,
                upload_limit=upload_limit)
    if node.member is None:
        print(f"warning: {printable(str(key_file))} is not a member's key in this network: "
              f"the node follows, but every peer refuses its blocks", file=sys.stderr)
    return node


def status_text(status: dict) -> str:
    """``node status`` for people: where the node stands, its queue, its peers, its last events."""
    tip = status["tip"] or "none"
    lines = [
        f"node {status['member']}  listening on {status['listen'] or '(stopped)'}",
        f"  tip     {tip[:16]}  height {status['height']}  total work {status['total_work']:,}",
        f"  state   digest {status['digest'][:16]}",
        f"  queue   {len(status['queued'])} contract(s) waiting, {len(status['refused_contracts'])} refused",
    ]
    if status.get("error"):
        lines.append(f"  ERROR   {status['error']}")
    for refused in status["refused_contracts"][-3:]:
        lines.append(f"          refused at {refused['rule']}: {refused['reason']}")
    for name, pointer in status["peers"].items():
        lines.append(f"  peer    {name:<10} height {pointer['height']}  work {pointer['total_work']:,}  "
                     f"seq {pointer['seq']}")
    for event in status["events"][-8:]:
        what = ", ".join(f"{k} {v}" for k, v in event.items() if k not in ("time", "event"))
        lines.append(f"  {event['time'][11:23]} {event['event']}: {what}"[:160])
    return printable("\n".join(lines), newlines=True)


def add_subcommands(subparsers: argparse._SubParsersAction) -> None:
    """Register ``node run``, ``node submit`` and ``node status``."""
    node = subparsers.add_parser("node", help="a live node of the classroom network (run, submit, status)")
    actions = node.add_subparsers(dest="action", required=True)

    run = actions.add_parser("run", help="run a member's node until Ctrl-C: follow, mine, publish")
    run.add_argument("--network", required=True, metavar="FILE", help="the network configuration")
    run.add_argument("--key", required=True, metavar="KEY.pem",
                     help="the member's private key file; its node key NAME.node is read from beside it")
    run.add_argument("--data", required=True, metavar="DIR", help="the node's data folder (made if missing)")
    run.add_argument("--listen", metavar="HOST:PORT",
                     help="where to listen (default: 127.0.0.1, a free port; a LAN address is LAN mode)")
    run.add_argument("--bootstrap", action="append", default=[], metavar="HOST:PORT",
                     help="a DHT node to start from, another node's listen address (repeatable)")
    run.add_argument("--watch", action="append", default=[], metavar="NODE_KEY_HEX",
                     help="also look up this node key; one no member has is logged as ignored (repeatable)")
    run.add_argument("--upload-limit", type=int, metavar="BYTES_PER_S",
                     help="cap what this node uploads per chain (to watch a slow transfer)")
    run.add_argument("--follow-every", type=float, default=0.5, metavar="S",
                     help="look up the members' pointers at most every S seconds (default: 0.5; more for a big room)")
    run.add_argument("--duration", type=float, metavar="S", help="stop after this many seconds")
    run.add_argument("--quiet", action="store_true", help="do not print events (they are in DIR/events.jsonl)")
    run.set_defaults(func=_run_main)

    submit = actions.add_parser("submit", help="queue a contract for a node to mine")
    submit.add_argument("--data", required=True, metavar="DIR", help="the node's data folder")
    submit.add_argument("contract", metavar="CONTRACT.json", help="a JSON file with one contract, or - for stdin")
    submit.set_defaults(func=_submit_main)

    status = actions.add_parser("status", help="print where a node stands")
    status.add_argument("--data", required=True, metavar="DIR", help="the node's data folder")
    status.add_argument("--json", action="store_true", help="print status.json as it is")
    status.set_defaults(func=_status_main)

    room = actions.add_parser("classroom", help="a scripted run: N node processes on this machine, each "
                                                "submits contracts, until all agree")
    room.add_argument("--dir", required=True, metavar="DIR", help="a new folder for keys, network and nodes")
    room.add_argument("--nodes", type=int, default=4, metavar="N", help="how many members (default: 4)")
    room.add_argument("--contracts", type=int, default=2, metavar="K", help="contracts each submits (default: 2)")
    room.add_argument("--difficulty", type=int, default=3, metavar="D", help="hex zeros per block (default: 3)")
    room.add_argument("--timeout", type=float, default=120.0, metavar="S", help="give up after S seconds")
    room.set_defaults(func=_classroom_main)


def _address(text: str, what: str) -> tuple[str, int]:
    from ..sharing.dht import parse_address

    try:
        return parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{what} {text!r}: {exc}") from None


def _run_main(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from .run import Runner

    bootstrap = [_checked_address(b, "--bootstrap") for b in args.bootstrap]
    try:
        watch = tuple(bytes.fromhex(k) for k in args.watch)
    except ValueError:
        raise ConfigError("--watch takes a node public key as 64 hex digits") from None
    if any(len(k) != 32 for k in watch):
        raise ConfigError("--watch takes a node public key as 64 hex digits")
    node = load_node(args.network, args.key, args.data, listen=args.listen, bootstrap=bootstrap,
                     upload_limit=args.upload_limit)

    def show(event) -> None:
        print(printable(str(event)), flush=True)

    if not 0.05 <= args.follow_every <= 60:
        raise ConfigError("--follow-every is 0.05 to 60 seconds")
    runner = Runner(node, watch=watch, follow_every=args.follow_every, on_event=None if args.quiet else show)
    runner.run(duration=args.duration, handle_signals=True)
    return 0


def _checked_address(text: str, what: str) -> tuple[str, int]:
    from ..errors import ConfigError

    try:
        return _address(text, what)
    except argparse.ArgumentTypeError as exc:
        raise ConfigError(str(exc)) from None


def _submit_main(args: argparse.Namespace) -> int:
    from ..files import read_regular
    from .queue import MAX_CONTRACT_BYTES, read_contract, submit_to

    if args.contract == "-":
        data, where = sys.stdin.buffer.read(MAX_CONTRACT_BYTES + 1), "standard input"
    else:
        data, where = read_regular(args.contract, limit=MAX_CONTRACT_BYTES), args.contract
    path = submit_to(args.data, read_contract(data, where))
    print(f"queued as {printable(str(path))}; the node takes it at its next round "
          f"(see: python -m labkit node status --data {printable(str(args.data))})")
    return 0


def _classroom_main(args: argparse.Namespace) -> int:
    from ..errors import ConfigError
    from .classroom import scripted_run

    if not 1 <= args.nodes <= 32 or not 1 <= args.contracts <= 50 or not 0 <= args.difficulty <= 5:
        raise ConfigError("--nodes is 1 to 32, --contracts 1 to 50, --difficulty 0 to 5")
    names = [f"m{i:02d}" for i in range(1, args.nodes + 1)]
    result = scripted_run(args.dir, names, contracts_each=args.contracts, difficulty=args.difficulty,
                          timeout=args.timeout)
    for name, status in result["statuses"].items():
        print(f"{name}: tip {status['tip'][:16]} height {status['height']} digest {status['digest'][:16]}")
    print(f"all {args.nodes} nodes agree after {result['seconds']:.1f} s; "
          f"{len(result['students'])} students in the state")
    return 0


def _status_main(args: argparse.Namespace) -> int:
    from .journal import read_status

    status = read_status(Path(args.data))
    print(json.dumps(status, indent=2, ensure_ascii=False) if args.json else status_text(status))
    return 0

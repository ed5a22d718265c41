"""``python -m labkit node run | submit | status``: the live node on the command line.

::

    python -m labkit node run --network classroom.json --key keys/ana.pem --data nodes/ana \\
        [--listen HOST:PORT] [--bootstrap HOST:PORT ...] [--watch NODE_KEY_HEX ...] [--duration S]
        [--rules mine [--mine-dir DIR]]     # the learner's saved functions decide (labkit.node.rules)
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
import re
import sys
from pathlib import Path

from .. import arguments
from ..network import MAX_CONFIG_BYTES
from ..terminal import printable
from ..wallet import MAX_KEY_FILE_BYTES

__all__ = ["add_subcommands", "load_node", "status_text"]


def load_node(network_file, key_file, data_dir, *, listen=None, bootstrap=(), upload_limit=None, rules="labkit",
              mine_dir=None):
    """The Node ``node run`` runs: the network, the member's RSA wallet and the node key beside it.

    ``rules="mine"``: a learner's node (labkit.node.rules), its decisions the functions saved
    in ``mine_dir`` (default: ``labkit.course.saved.mine_dir()``).
    """
    from ..network import Network
    from .keys import NodeKey
    from ..wallet import Wallet
    from ..errors import NodeError
    from .keys import node_key_paths
    from .live import Node

    network = Network.load(network_file)
    wallet = Wallet.load(key_file)
    private = node_key_paths(key_file)[0]
    if not private.exists():
        raise NodeError(f"no node key beside {key_file}: expected {private} (`wallet new` writes it)")
    options = dict(listen=listen, bootstrap=bootstrap, upload_limit=upload_limit)
    if rules == "mine":
        from ..course import saved
        from .rules import LearnerNode, mine_dir_loader

        loader = saved.load if mine_dir is None else mine_dir_loader(mine_dir)
        node = LearnerNode(network, wallet, NodeKey.load(private), data_dir, loader=loader, **options)
    else:
        node = Node(network, wallet, NodeKey.load(private), data_dir, **options)
    if node.member is None:
        print(f"warning: {printable(str(key_file))} is not a member's key in this network: "
              f"the node follows, but every peer refuses its blocks", file=sys.stderr)
    return node


def status_text(status: dict) -> str:
    """``node status`` for people: where the node stands, its queue, its peers, its last events.

    ``status`` is as :func:`~labkit.node.journal.read_status` returns it (its shape checked).
    """
    tip = status["tip"] or "none"
    lines = [
        f"node {status['member']}  listening on {status.get('listen') or '(stopped)'}",
        f"  tip     {tip[:16]}  height {status['height']}  total work {status['total_work']:,}",
        f"  state   digest {status['digest'][:16]}",
        f"  queue   {status.get('queue_length', len(status['queued']))} contract(s) waiting, "
        f"{len(status['refused_contracts'])} refused",
    ]
    rules = status.get("rules")
    if isinstance(rules, dict):
        lines.append(f"  rules   {rules.get('whose')}")
        for problem in (rules.get("problems") or [])[-3:]:
            lines.append(f"          {problem.get('part')}: {problem.get('reason')}")
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
    run.add_argument("--network", required=True, type=arguments.input_file(MAX_CONFIG_BYTES), metavar="FILE",
                     help="the network configuration")
    run.add_argument("--key", required=True, type=arguments.input_file(MAX_KEY_FILE_BYTES), metavar="KEY.pem",
                     help="the member's private key file; its node key NAME.node is read from beside it")
    run.add_argument("--data", required=True, type=arguments.folder, metavar="DIR",
                     help="the node's data folder (made if missing)")
    run.add_argument("--listen", type=arguments.listen, metavar="HOST:PORT",
                     help="where to listen (default: 127.0.0.1, a free port; a LAN address is LAN mode)")
    run.add_argument("--bootstrap", type=arguments.peer, action="append", default=[], metavar="HOST:PORT",
                     help="a DHT node to start from, another node's listen address (repeatable)")
    run.add_argument("--watch", type=_node_key, action="append", default=[], metavar="NODE_KEY_HEX",
                     help="also look up this node key; one no member has is logged as ignored (repeatable)")
    run.add_argument("--upload-limit", type=arguments.whole_number(1, 10 ** 12, "--upload-limit"),
                     metavar="BYTES_PER_S", help="cap what this node uploads per chain (to watch a slow transfer)")
    run.add_argument("--follow-every", type=arguments.seconds(0.05, 60, "--follow-every"), default=0.5, metavar="S",
                     help="look up the followed members' pointers at most every S seconds (default: 0.5); "
                          "rounds slow down to every 4 s (or S if more) while nothing changes")
    run.add_argument("--duration", type=arguments.seconds(0.001, 10 ** 7, "--duration"), metavar="S",
                     help="stop after this many seconds")
    run.add_argument("--quiet", action="store_true", help="do not print events (they are in DIR/events.jsonl)")
    run.add_argument("--rules", choices=("labkit", "mine"), default="labkit",
                     help="whose rules decide: labkit's (default), or mine: the functions you saved in notebooks "
                          "02-07, labkit's standing in for any not saved")
    run.add_argument("--mine-dir", type=arguments.path, metavar="DIR",
                     help="with --rules mine: the folder of your saved functions (default: $LABKIT_MINE_DIR, "
                          "else work/mine)")
    run.set_defaults(func=_run_main)

    submit = actions.add_parser("submit", help="queue a contract for a node to mine")
    submit.add_argument("--data", required=True, type=arguments.path, metavar="DIR", help="the node's data folder")
    submit.add_argument("contract", type=_contract_source, metavar="CONTRACT.json",
                        help="a JSON file with one contract, or - for stdin")
    submit.set_defaults(func=_submit_main)

    status = actions.add_parser("status", help="print where a node stands")
    status.add_argument("--data", required=True, type=arguments.path, metavar="DIR", help="the node's data folder")
    status.add_argument("--json", action="store_true", help="print status.json as it is")
    status.set_defaults(func=_status_main)

    room = actions.add_parser("classroom", help="a scripted run: N node processes on this machine, each "
                                                "submits contracts, until all agree")
    room.add_argument("--dir", required=True, type=arguments.folder, metavar="DIR",
                      help="a new folder for keys, network and nodes")
    room.add_argument("--nodes", type=arguments.whole_number(1, 64, "--nodes"), default=4, metavar="N",
                      help="how many members, 1 to 64 (default: 4; a room of 64 needs --timeout 600 on 2 cores)")
    room.add_argument("--contracts", type=arguments.whole_number(1, 50, "--contracts"), default=2, metavar="K",
                      help="contracts each submits, 1 to 50 (default: 2)")
    room.add_argument("--difficulty", type=arguments.whole_number(0, 5, "--difficulty", unit="hex zeros"), default=3,
                      metavar="D", help="hex zeros per block, 0 to 5 (default: 3)")
    room.add_argument("--timeout", type=arguments.seconds(1, 86400), default=120.0, metavar="S",
                      help="give up after S seconds, 1 to 86400 (default: 120)")
    room.set_defaults(func=_classroom_main)


def _node_key(value: str) -> bytes:
    """--watch: a node public key, 64 hex digits (ASCII only: bytes.fromhex also skips blanks)."""
    if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise argparse.ArgumentTypeError(f"--watch takes a node public key as 64 hex digits, not {value!r}")
    return bytes.fromhex(value)


def _contract_source(value: str) -> str:
    """submit's CONTRACT.json: '-' (standard input) or a regular file of at most MAX_CONTRACT_BYTES."""
    from .queue import MAX_CONTRACT_BYTES

    return value if value == "-" else arguments.input_file(MAX_CONTRACT_BYTES)(value)


def _run_main(args: argparse.Namespace) -> int:
    from .run import Runner

    # every option was checked by its argparse type: nothing is made before this line
    node = load_node(args.network, args.key, args.data, listen=args.listen, bootstrap=args.bootstrap,
                     upload_limit=args.upload_limit, rules=args.rules, mine_dir=args.mine_dir)

    def show(event) -> None:
        print(printable(str(event)), flush=True)

    runner = Runner(node, watch=tuple(args.watch), follow_every=args.follow_every,
                    on_event=None if args.quiet else show)
    runner.run(duration=args.duration, handle_signals=True)
    return 0


def _submit_main(args: argparse.Namespace) -> int:
    from ..files import read_regular
    from .live import check_mineable
    from .queue import MAX_CONTRACT_BYTES, read_contract, submit_to

    if args.contract == "-":
        data, where = sys.stdin.buffer.read(MAX_CONTRACT_BYTES + 1), "standard input"
    else:
        data, where = read_regular(args.contract, limit=MAX_CONTRACT_BYTES), args.contract
    contract = read_contract(data, where)
    check_mineable(contract)  # one no block could carry is refused here, not by the node later
    path = submit_to(args.data, contract)
    print(f"queued as {printable(str(path))}; the node takes it at its next round "
          f"(see: python -m labkit node status --data {printable(str(args.data))})")
    return 0


def _classroom_main(args: argparse.Namespace) -> int:
    from .classroom import scripted_run

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

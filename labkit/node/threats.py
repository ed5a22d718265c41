"""What a hostile classmate can do to a live node, what every honest node guarantees, and the bounds.

Who can do what
---------------

- **A member** (a node key the network lists) can put any pointer it likes under its
  key: any info-hash, height, total work, tip and peer address, a new seq each second.
  Behind the info-hash it can seed any bytes: a chain with valid and invalid blocks,
  side branches, timestamps just past the allowed clock skew, more lines than a blocks
  file may hold, a file larger than one may be, or nothing at all. It can mine valid
  blocks at the network's difficulty, as fast as its machine allows.
- **A non-member** (any other key) can do the same under its own key; no honest node
  looks it up (a key it is told about is logged as ignored), so it can only answer
  DHT queries and connect to seeds, as any stranger on the network can.
- **A submission** (a contract dropped into a node's inbox, or given to
  ``Node.submit``) can be any JSON object of at most ``MAX_CONTRACT_BYTES``: nested
  deeply, too big to fit a token, or refused by the VM.

What every honest node guarantees, whatever they do
---------------------------------------------------

1. **It never exits** because of what it was sent. Every failure while following one
   member (the lookup, the peer address, the fetch, the file, the blocks) is contained
   to that member: logged once with its reason (event ``ignored`` or ``refused``), the
   member backed off, the round goes on with the others. A contract that can never be
   mined is refused at submit (``Node.submit``, ``node submit`` and the inbox) by the very
   functions the block rules apply (``labkit.node.live.check_mineable``); one that fails
   to mine is refused and the queue moves on. A miner never stamps a block earlier than its parent
   (``labkit.chain.mine_block``), so a parent from a fast clock cannot make a node refuse
   its own block.
2. **It never accepts a block the rules refuse**: every block goes through
   ``Peer.receive`` (``labkit.chain.judge``, the one verdict).
3. **Its memory, disk and connection attempts per member are bounded** (below): a
   member's side blocks, the bytes of one fetch, the chains it remembers as refused,
   the log lines it writes about it, and how often it tries a member that fails.
4. **It ends on the same chain as every other honest node that saw the same blocks.**
   Only a *final* refusal (a verdict the rules say holds for good: the token itself is
   refused, or the file breaks a limit of its fixed size) is remembered by info-hash.
   A *provisional* one (a block too far in the future, which the clock will fix, or a
   block built on one) is never remembered: the member is backed off and its chain is
   judged again later, so two nodes that fetched the same chain on either side of the
   skew still end on the same tip.

The bounds
----------

Named here, once; the node reads them from this module.

- per member, memory: at most ``2 * MAX_SIDE_BLOCKS_PER_MEMBER`` side blocks (512, about
  1.7 MB) its chains left, ``MAX_LOGGED_PER_MEMBER`` remembered log reasons; per node, at
  most ``MAX_REMEMBERED_CHAINS`` refused info-hashes, ``labkit.forks.MAX_ORPHANS`` orphans
  and ``MAX_REMEMBERED_INVALID`` refused block hashes;
- per fetch, bytes: ``MAX_FETCH_BYTES`` (16 MiB, the largest blocks file), of at most
  ``labkit.blocksfile.MAX_LINES`` lines; disk: ``labkit.node.fetch.KEEP_PARTIALS``
  unfinished fetches;
- per node, disk (each limit named where its file is written): ``chain.jsonl`` at most
  ``labkit.blocksfile.MAX_FILE_BYTES`` (16 MiB); ``published/`` at most
  ``labkit.node.folder.KEEP_PUBLISHED`` (4) copies of it; unfinished fetches at most
  ``KEEP_PARTIALS`` (4) of at most ``MAX_FETCH_BYTES``; ``events.jsonl`` and the one log
  before it at most ``labkit.node.journal.MAX_EVENT_LOG_BYTES`` (8 MiB) each; ``queue.json``
  at most ``labkit.node.queue.MAX_QUEUE_BYTES`` (16 MiB) and ``status.json``
  ``MAX_STATUS_BYTES`` (4 MiB), written no larger than they are read: about 180 MiB in all;
- per member, connection attempts: one fetch at a time, to the peers the session's policy
  allows, and after each failure none for ``backoff_seconds(failures)`` (2 s doubling to
  60 s). A pointer's own claims are checked against what its chain holds: a chain that
  holds less work than its pointer claims is refused for good.

The side-block budget has a price: a member whose chain would take this node through a
reorganisation deeper than what is left of its budget (``MAX_SIDE_BLOCKS_PER_MEMBER`` at
most) is refused from that member; the same chain seeded by another member that adopted it
is judged against that member's budget. A classroom's forks are a block or two deep.
"""

from __future__ import annotations

__all__ = [
    "BACKOFF_FIRST_SECONDS",
    "BACKOFF_MAX_SECONDS",
    "MAX_SIDE_BLOCKS_PER_MEMBER",
    "MAX_FETCH_BYTES",
    "MAX_REMEMBERED_CHAINS",
    "MAX_LOGGED_PER_MEMBER",
    "backoff_seconds",
]

from ..blocksfile import MAX_FILE_BYTES

# Connection attempts: a member whose pointer fails (unreachable, silent, refused for now)
# is tried again after 2 s, then 4, 8, ... never more often, and never less often than
# once a minute: a classmate whose laptop slept is followed again within a minute.
BACKOFF_FIRST_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 60.0

# Memory: blocks a member's chains may leave on side branches (valid blocks that are not
# canonical). A class's honest forks leave a few dozen per member in a lesson; each block
# held costs about 3.3 KB (measured: 10,000 side blocks, 33 MB), so 256 keep a member at
# under 1 MB. A fetch adds its blocks in slices no larger than what is left of the budget,
# so a member never holds more than twice this.
MAX_SIDE_BLOCKS_PER_MEMBER = 256

# Bytes one fetch may bring: the largest blocks file the node would read (a torrent that
# says it is larger is refused before a piece moves).
MAX_FETCH_BYTES = MAX_FILE_BYTES

# Chains (info-hashes) remembered as refused for good, the oldest forgotten first:
# a member may publish a new refused chain each second; forgetting one costs a refetch.
MAX_REMEMBERED_CHAINS = 1000

# Reasons a member was ignored that are remembered so as to log each once: a member
# with a new seq and a new reason each round would otherwise grow this without end.
MAX_LOGGED_PER_MEMBER = 32


def backoff_seconds(failures: int) -> float:
    """How long to leave a member alone after ``failures`` failures in a row (0 after none)."""
    if failures <= 0:
        return 0.0
    return min(BACKOFF_FIRST_SECONDS * 2 ** min(failures - 1, 30), BACKOFF_MAX_SECONDS)

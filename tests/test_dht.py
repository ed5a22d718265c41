"""labkit.sharing.dht: ed25519 node keys, the pointer codec, and a live loopback DHT (BEP 44/46).

The live test runs four libtorrent sessions on 127.0.0.1 in a child process. Where
``unshare -n`` works (root, or user namespaces) that child runs in a network
namespace of its own with only the loopback interface up, so no packet can leave
the machine whatever libtorrent tries; the child also logs every DHT packet and the
tests check that each one went to a 127.0.0.1 address.
"""

from __future__ import annotations

import ipaddress
import json
import statistics
import time
from dataclasses import replace
from pathlib import Path

import pytest
from netns import run_isolated
from waiting import scaled, wait_until
from hypothesis import given, settings, strategies as st
from krpcnode import FakeNode

import labkit.sharing.dht as pointer_module
from labkit.errors import DHTTimeout, InvalidKey, InvalidPointer, InvalidSignature, PublishFailed
from labkit.node.keys import NodeKey
from labkit.sharing.dht import (
    MAX_VALUE_BYTES,
    Pointer,
    bootstrap,
    dht_settings,
    lookup_many,
    packet_endpoint,
    publish,
    session_nodes,
    signed_message,
    verify_item,
    wait_for_nodes,
)

IH = "0123456789abcdef0123456789abcdef01234567"
SALT = b"labkit:classroom"

# RFC 8032 section 7.1, test 1's seed (tests/test_node_keys.py checks NodeKey against the whole vector)
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")


# --- signatures: libtorrent's BEP 44 test vectors (test/test_dht.cpp, signing_test1/2) -------

BEP44_PUBLIC = bytes.fromhex("77ff84905a91936367c01360803104f92432fcd904a43511876df5cdf3e7e548")
BEP44_VECTORS = [  # (salt, signature) for v = "Hello World!", seq 1
    (b"", "305ac8aeb6c9c151fa120f120ea2cfb923564e11552d06a5d856091e5e853cff"
          "1260d3f39e4999684aa92eb73ffd136e6f4f3ecbfda0ce53a1608ecd7ae21f01"),
    (b"foobar", "6834284b6b24c3204eb2fea824d82f88883a3d95e8b4a21b8c0ded553d17d17d"
                "df9a8a7104b1258f30bed3787e6cb896fca78c58f8e03b5f18f14951a87d9a08"),
]


@pytest.mark.parametrize("salt, signature", BEP44_VECTORS)
def test_verify_item_accepts_the_bep44_vectors(salt, signature):
    verify_item(BEP44_PUBLIC, salt, 1, b"Hello World!", bytes.fromhex(signature))


@pytest.mark.parametrize("salt, signature", BEP44_VECTORS)
def test_verify_item_refuses_any_other_seq_salt_or_value(salt, signature):
    sig = bytes.fromhex(signature)
    for args in [(salt, 2, b"Hello World!"), (salt + b"x", 1, b"Hello World!"), (salt, 1, b"Hello World?")]:
        with pytest.raises(InvalidSignature):
            verify_item(BEP44_PUBLIC, *args, sig)
    with pytest.raises(InvalidSignature):
        verify_item(NodeKey.generate().public_key, salt, 1, b"Hello World!", sig)


def test_signed_message_is_bep44s_buffer():
    assert signed_message(b"foobar", 1, b"Hello World!") == b"4:salt6:foobar3:seqi1e1:v12:Hello World!"
    assert signed_message(b"", 1, b"Hello World!") == b"3:seqi1e1:v12:Hello World!"


# --- the pointer codec -------------------------------------------------------------------


def test_to_value_known_answer():
    value = Pointer(IH, 5, 1300).to_value()
    assert value == b"d6:heighti5e2:ih20:" + bytes.fromhex(IH) + b"4:worki1300ee"


def test_the_item_value_is_bep46s_dict_and_the_signature_covers_its_bencoding():
    pointer = Pointer(IH, 5, 1300, tip="ab" * 32)
    assert pointer.to_dict() == {b"height": 5, b"ih": bytes.fromhex(IH), b"tip": bytes.fromhex("ab" * 32),
                                 b"work": 1300}
    assert signed_message(SALT, 3, pointer.to_dict()) == (
        b"4:salt16:labkit:classroom3:seqi3e1:v" + pointer.to_value())  # v is the dict itself, not a string
    assert len(pointer.to_value()) < 1000


def test_readers_accept_the_dict_and_the_old_string_form():
    """A room where some nodes still put the dict bencoded inside a string keeps working."""
    pointer = Pointer(IH, 5, 1300, peer=("127.0.0.1", 6881))
    assert Pointer.from_value(pointer.to_dict(), seq=2) == replace(pointer, seq=2)  # as libtorrent hands it over
    assert Pointer.from_value(pointer.to_value(), seq=2) == replace(pointer, seq=2)  # the old form's string
    as_str_keys = {k.decode(): v for k, v in pointer.to_dict().items()}
    assert Pointer.from_value(as_str_keys) == pointer


def test_a_bare_bep46_pointer_is_refused_saying_what_labkit_needs():
    with pytest.raises(InvalidPointer, match="without labkit's 'height' and 'work'"):
        Pointer.from_value({b"ih": bytes.fromhex(IH)})


@pytest.mark.parametrize("fields", [
    {b"height": 5, b"ih": bytes(19), b"work": 1}, {b"height": -1, b"ih": bytes(20), b"work": 1},
    {b"height": True, b"ih": bytes(20), b"work": 1}, {b"height": [1], b"ih": bytes(20), b"work": 1},
    {b"height": 5, b"ih": bytes(20), b"work": 1, b"x": 0}, {b"height": 5, b"ih": bytes(20)},
    {b"height": 5, b"ih": bytes(20), b"work": 1, b"tip": bytes(5000)},
])
def test_from_value_refuses_a_bad_dict(fields):
    with pytest.raises(InvalidPointer):
        Pointer.from_value(fields)


pointers = st.builds(
    Pointer,
    info_hash=st.binary(min_size=20, max_size=20).map(bytes.hex),
    height=st.integers(0, 10**12),
    total_work=st.integers(0, 16**80),
    seq=st.integers(0, 2**63 - 1),
)


@given(pointers)
def test_value_round_trip(pointer):
    value = pointer.to_value()
    assert len(value) <= MAX_VALUE_BYTES
    assert Pointer.from_value(value, seq=pointer.seq) == pointer


@settings(max_examples=300)
@given(pointers, st.data())
def test_one_spelling_only(pointer, data):
    """Any changed value is refused or reads as another pointer that encodes to exactly those bytes."""
    value = bytearray(pointer.to_value())
    at = data.draw(st.integers(0, len(value) - 1))
    value[at] = data.draw(st.integers(0, 255).filter(lambda b: b != value[at]))
    try:
        other = Pointer.from_value(bytes(value))
    except InvalidPointer:
        return
    assert other != replace(pointer, seq=0)
    assert other.to_value() == bytes(value)


H20 = b"20:" + bytes.fromhex(IH)
BAD_VALUES = [  # (why, value)
    ("empty", b""),
    ("not a dict", b"l6:heighti5ee"),
    ("a string", b"3:abc"),
    ("unclosed", b"d6:heighti5e2:ih" + H20 + b"4:worki1e"),
    ("trailing bytes", b"d6:heighti5e2:ih" + H20 + b"4:worki1eex"),
    ("missing work", b"d6:heighti5e2:ih" + H20 + b"e"),
    ("extra key", b"d6:heighti5e2:ih" + H20 + b"1:xi0e4:worki1ee"),
    ("unsorted keys", b"d2:ih" + H20 + b"6:heighti5e4:worki1ee"),
    ("repeated key", b"d6:heighti5e6:heighti5e2:ih" + H20 + b"4:worki1ee"),
    ("short info-hash", b"d6:heighti5e2:ih19:" + bytes(19) + b"4:worki1ee"),
    ("long info-hash", b"d6:heighti5e2:ih21:" + bytes(21) + b"4:worki1ee"),
    ("ih is an integer", b"d6:heighti5e2:ihi0e4:worki1ee"),
    ("height is a string", b"d6:height1:52:ih" + H20 + b"4:worki1ee"),
    ("negative height", b"d6:heighti-5e2:ih" + H20 + b"4:worki1ee"),
    ("negative zero", b"d6:heighti-0e2:ih" + H20 + b"4:worki1ee"),
    ("leading zero", b"d6:heighti05e2:ih" + H20 + b"4:worki1ee"),
    ("empty integer", b"d6:heightie2:ih" + H20 + b"4:worki1ee"),
    ("huge integer", b"d6:heighti" + b"9" * 101 + b"e2:ih" + H20 + b"4:worki1ee"),
    ("list value", b"d6:heightle2:ih" + H20 + b"4:worki1ee"),
    ("dict value", b"d6:heightde2:ih" + H20 + b"4:worki1ee"),
    ("string length with leading zero", b"d06:heighti5e2:ih" + H20 + b"4:worki1ee"),
    ("string past the end", b"d6:heighti5e2:ih99:abc"),
    ("integer key", b"di1ei5ee"),
    ("oversize", b"d6:heighti5e2:ih" + H20 + b"1:x990:" + bytes(990) + b"e"),
]


def test_a_pointer_may_name_the_publishers_address_in_bep23s_compact_form():
    value = Pointer(IH, 5, 1300, peer=("127.0.0.1", 6881)).to_value()
    assert value == b"d6:heighti5e2:ih20:" + bytes.fromhex(IH) + b"4:peer6:\x7f\x00\x00\x01\x1a\xe14:worki1300ee"
    for peer in [("127.0.0.1", 6881), ("::1", 40000)]:
        pointer = Pointer(IH, 5, 1300, seq=3, peer=peer)
        assert Pointer.from_value(pointer.to_value(), seq=3) == pointer


def test_a_pointer_may_name_its_tip_block_so_equal_work_is_settled_by_the_smaller_hash():
    tip = "00ab" + "cd" * 30
    value = Pointer(IH, 5, 1300, tip=tip).to_value()
    assert value == b"d6:heighti5e2:ih20:" + bytes.fromhex(IH) + b"3:tip32:" + bytes.fromhex(tip) + b"4:worki1300ee"
    both = Pointer(IH, 5, 1300, seq=2, peer=("127.0.0.1", 6881), tip=tip)
    assert Pointer.from_value(both.to_value(), seq=2) == both
    for bad in ["AB" * 32, "ab" * 31, "ab" * 33, b"\x00" * 32]:
        with pytest.raises(InvalidPointer, match="tip"):
            Pointer(IH, 5, 1300, tip=bad)
    for raw in [bytes(31), bytes(33)]:
        with pytest.raises(InvalidPointer, match="tip"):
            Pointer.from_value(b"d6:heighti5e2:ih" + H20 + b"3:tip%d:" % len(raw) + raw + b"4:worki1ee")
    with pytest.raises(InvalidPointer, match="tip"):
        Pointer.from_value(b"d6:heighti5e2:ih" + H20 + b"3:tipi7e4:worki1ee")


@pytest.mark.parametrize("peer", [("localhost", 80), ("127.0.0.1", 0), ("127.0.0.1", 65536), (2130706433, 80),
                                  ("127.0.0.1", "80"), ("127.0.0.1",), "127.0.0.1:80"])
def test_a_pointer_refuses_a_peer_that_is_not_an_ip_and_port(peer):
    with pytest.raises(InvalidPointer):
        Pointer(IH, 5, 1300, peer=peer)


@pytest.mark.parametrize("peer", [b"", bytes(5), bytes(7), bytes(4) + b"\x00\x00", b"\x7f\x00\x00\x01"])
def test_from_value_refuses_a_peer_that_is_not_a_compact_address(peer):
    value = b"d6:heighti5e2:ih" + H20 + b"4:peer%d:" % len(peer) + peer + b"4:worki1ee"
    with pytest.raises(InvalidPointer):
        Pointer.from_value(value)


@pytest.mark.parametrize("why, value", BAD_VALUES, ids=[why for why, _ in BAD_VALUES])
def test_from_value_refuses(why, value):
    with pytest.raises(InvalidPointer):
        Pointer.from_value(value)


@pytest.mark.parametrize("value", ["d6:heighti5ee", None, 5, [b"d"], b"l6:heighti5ee"])
def test_from_value_refuses_what_is_not_bytes(value):
    with pytest.raises(InvalidPointer):
        Pointer.from_value(value)


@pytest.mark.parametrize("fields", [
    {"info_hash": IH.upper()}, {"info_hash": IH[:-1]}, {"info_hash": bytes.fromhex(IH)},
    {"height": -1}, {"total_work": -1}, {"seq": -1}, {"height": True}, {"height": 1.0},
    {"total_work": "5"}, {"total_work": 10**100},
])
def test_pointer_refuses_fields_out_of_range(fields):
    with pytest.raises(InvalidPointer):
        Pointer(**{"info_hash": IH, "height": 1, "total_work": 16, **fields})


# --- settings ------------------------------------------------------------------------------


def test_dht_settings_turn_on_a_dht_with_no_router_and_no_local_discovery():
    import libtorrent as lt

    pack = dht_settings("127.0.0.1:0")
    assert pack["enable_dht"] and pack["dht_bootstrap_nodes"] == ""
    assert not any(pack[k] for k in ("enable_lsd", "enable_upnp", "enable_natpmp",
                                     "dht_restrict_routing_ips", "dht_restrict_search_ips"))
    # libtorrent leaves string settings with an empty default out of default_settings()
    assert set(pack) - {"outgoing_interfaces"} <= set(lt.default_settings())


@pytest.mark.parametrize("listen", ["localhost:6881", "127.0.0.1", "127.0.0.1:99999",
                                    "router.bittorrent.com:6881"])
def test_dht_settings_refuse_names_and_bad_ports(listen):
    with pytest.raises(ValueError):
        dht_settings(listen)


def test_bootstrap_refuses_host_names():
    class Recorder:
        added: list = []
        def add_dht_node(self, node):
            self.added.append(node)
    session = Recorder()
    with pytest.raises(ValueError):
        bootstrap(session, [("127.0.0.1", 6881), ("router.bittorrent.com", 6881)])
    assert session.added == [("127.0.0.1", 6881)]


@pytest.mark.parametrize("message, expected", [
    ("==> [127.0.0.1:6881] { 'q': 'ping' }", ("out", "127.0.0.1", 6881)),
    ("<== [[::1]:40000] { 'r': {} }", ("in", "::1", 40000)),
    ("DHT node: starting get", None),
])
def test_packet_endpoint_reads_libtorrents_packet_message(message, expected):
    class Packet:
        def message(self):
            return message
    assert packet_endpoint(Packet()) == expected


# --- publish and lookup against a scripted session -----------------------------------------


class Alert:
    def __init__(self, **fields):
        self.__dict__.update(fields)

    def message(self) -> str:
        return type(self).__name__


class ItemAlert(Alert): ...
class PutAlert(Alert): ...
class StatsAlert(Alert): ...
class OtherAlert(Alert): ...


class ScriptedSession:
    """Hands out prepared batches of alerts, one batch per pop_alerts(), and records the calls."""

    def __init__(self, *batches):
        self.batches = [list(b) for b in batches]
        self.calls: list = []

    def pop_alerts(self):
        return self.batches.pop(0) if self.batches else []

    def wait_for_alert(self, ms):
        time.sleep(min(ms, 5) / 1000)  # not a wait for something: stands in for libtorrent's, briefly

    def dht_put_mutable_item(self, *args):
        self.calls.append(("put", *args))

    def dht_get_mutable_item(self, *args):
        self.calls.append(("get", *args))

    def post_dht_stats(self):
        self.calls.append(("stats",))


@pytest.fixture
def scripted(monkeypatch):
    lt = pytest.importorskip("libtorrent")
    monkeypatch.setattr(lt, "dht_mutable_item_alert", ItemAlert)
    monkeypatch.setattr(lt, "dht_put_alert", PutAlert)
    monkeypatch.setattr(lt, "dht_stats_alert", StatsAlert)
    return ScriptedSession


ALICE = NodeKey(RFC8032_SEED)


def item(pointer: Pointer, seq: int, *, authoritative=True, key=ALICE, salt=SALT, value=None):
    value = pointer.to_dict() if value is None else value  # libtorrent hands a dict item over as a dict
    return ItemAlert(key=ALICE.public_key, salt=salt, seq=seq, item=value, authoritative=authoritative,
                     signature=key.sign(signed_message(salt, seq, value)))


def looked_up(session, timeout: float = 5, **options):
    """What lookup_many found under ALICE's key: a Pointer, None, or the error her item raised."""
    found = lookup_many(session, [ALICE.public_key], SALT, timeout, **options)
    assert list(found) == [ALICE.public_key]
    return found[ALICE.public_key]


def test_lookup_keeps_the_highest_seq_and_hands_other_alerts_on(scripted):
    old, new = Pointer(IH, 1, 16), Pointer("f" * 40, 2, 32)
    other = OtherAlert()
    session = scripted([item(new, 4, authoritative=False), other],
                       [item(old, 3, authoritative=False), item(old, 3), OtherAlert()])
    seen = []
    assert looked_up(session, on_alert=seen.append) == replace(new, seq=4)
    assert session.calls == [("get", ALICE.public_key, SALT)]
    assert len(seen) == 2 and seen[0] is other  # the alert after the answer is not lost either


def test_lookup_ignores_answers_for_another_key_or_salt(scripted):
    pointer = Pointer(IH, 1, 16)
    session = scripted([item(pointer, 9, salt=b"other"), item(pointer, 2)])
    assert looked_up(session).seq == 2


def test_lookup_of_nothing_is_none(scripted):
    empty = ItemAlert(key=ALICE.public_key, salt=SALT, seq=0, item=b"", authoritative=True,
                      signature=bytes(64))
    assert looked_up(scripted([empty])) is None


def test_lookup_refuses_an_item_signed_by_another_key(scripted):
    forged = item(Pointer(IH, 99, 10**9), 7, key=NodeKey.generate())
    assert isinstance(looked_up(scripted([forged])), InvalidSignature)


def test_lookup_reads_the_dict_form_and_the_old_string_form(scripted):
    new, old = Pointer(IH, 4, 64), Pointer("f" * 40, 3, 48)
    assert looked_up(scripted([item(new, 5, value=new.to_dict())])) == replace(new, seq=5)
    assert looked_up(scripted([item(old, 4, value=old.to_value())])) == replace(old, seq=4)


def test_lookup_refuses_a_string_signed_as_if_it_were_the_dict(scripted):
    """The signature says which form was put: a string item signed over the dict's bencoding is forged."""
    pointer = Pointer(IH, 4, 64)
    alert = ItemAlert(key=ALICE.public_key, salt=SALT, seq=1, item=pointer.to_value(), authoritative=True,
                      signature=ALICE.sign(signed_message(SALT, 1, pointer.to_dict())))
    assert isinstance(looked_up(scripted([alert])), InvalidSignature)


@pytest.mark.parametrize("value", [b"d2:ih20:" + bytes(20) + b"e", {b"ih": bytes(20)}, [b"x"], 5])
def test_lookup_refuses_an_item_that_is_not_a_labkit_pointer(scripted, value):
    signature = ALICE.sign(signed_message(SALT, 1, value))
    alert = ItemAlert(key=ALICE.public_key, salt=SALT, seq=1, item=value, authoritative=True,
                      signature=signature)
    assert isinstance(looked_up(scripted([alert])), InvalidPointer)


def test_a_bad_item_under_one_key_does_not_hide_the_others(scripted):
    carol = NodeKey.generate()
    good = item(Pointer(IH, 1, 16), 2)
    forged = ItemAlert(key=carol.public_key, salt=SALT, seq=3, item=Pointer(IH, 9, 10**6).to_value(),
                       authoritative=True, signature=bytes(64))
    found = lookup_many(scripted([forged, good]), [carol.public_key, ALICE.public_key], SALT, 5)
    assert isinstance(found[carol.public_key], InvalidSignature) and found[ALICE.public_key].seq == 2


def test_lookup_without_an_answer_times_out_or_returns_what_it_saw(scripted):
    assert isinstance(looked_up(scripted(), 0.05), DHTTimeout)
    early = item(Pointer(IH, 1, 16), 1, authoritative=False)
    assert looked_up(scripted([early]), 0.05).seq == 1


def test_lookup_refuses_bad_keys_and_salts(scripted):
    for public_key, salt, error in [(bytes(31), SALT, InvalidKey), (ALICE.public_key, b"s" * 65, ValueError),
                                    (ALICE.public_key, "salt", TypeError)]:
        session = scripted()
        with pytest.raises(error):
            lookup_many(session, [public_key], salt, 1)
        assert session.calls == []  # refused before asking the DHT


class ListeningSession:
    """What publish asks of a session besides its routing table: where it listens."""

    def get_settings(self):
        return {"listen_interfaces": "127.0.0.1:6881"}

    def get_ip_filter(self):
        import libtorrent as lt

        return lt.ip_filter()  # allows every address


@pytest.fixture
def dht_of(monkeypatch):
    """A session whose routing table holds these scripted nodes (tests/krpcnode.py)."""
    made = []

    def make(*modes):
        made.extend(FakeNode(m) for m in modes)
        monkeypatch.setattr(pointer_module, "session_nodes", lambda session: [n.address for n in made])
        return ListeningSession(), made

    yield make
    for node in made:
        node.close()


def test_publish_puts_the_dict_and_returns_the_pointer_with_its_seq(dht_of):
    session, (a, b) = dht_of("store", "store")
    pointer = Pointer(IH, 3, 48, tip="ab" * 32)
    assert publish(session, ALICE, SALT, pointer, timeout=5) == replace(pointer, seq=1)
    assert publish(session, ALICE, SALT, pointer, timeout=5) == replace(pointer, seq=2)
    from labkit.sharing.krpc import target_of
    assert a.items[target_of(ALICE.public_key, SALT)][b"v"] == pointer.to_dict()


def test_publish_that_no_node_stored_fails(dht_of, monkeypatch):
    session, _ = dht_of("refuse")
    with pytest.raises(PublishFailed) as failed:
        publish(session, ALICE, SALT, Pointer(IH, 3, 48), timeout=5)
    assert failed.value.seq == 1
    monkeypatch.setattr(pointer_module, "session_nodes", lambda session: [])
    with pytest.raises(PublishFailed):  # the first node of a room, alone
        publish(session, ALICE, SALT, Pointer(IH, 3, 48), timeout=5)


def test_publish_follows_only_nodes_the_sessions_ip_filter_allows(dht_of):
    import libtorrent as lt

    session, (a,) = dht_of("store")
    outside = FakeNode(host="127.0.0.2")
    try:
        a.names = [outside]
        fence = lt.ip_filter()
        fence.add_rule("127.0.0.2", "127.0.0.2", 1)  # blocked
        session.get_ip_filter = lambda: fence
        assert publish(session, ALICE, SALT, Pointer(IH, 3, 48), timeout=5).seq == 1
        assert outside.queries == []
    finally:
        outside.close()


def test_publish_with_no_answer_times_out(dht_of):
    session, _ = dht_of("silent")
    with pytest.raises(DHTTimeout):
        publish(session, ALICE, SALT, Pointer(IH, 3, 48), timeout=0.3)


def test_wait_for_nodes_counts_the_routing_table(scripted):
    table = [{"num_nodes": 2, "num_replacements": 0}, {"num_nodes": 1, "num_replacements": 0}]
    assert wait_for_nodes(scripted([], [StatsAlert(routing_table=table)]), 3, timeout=5) == 3
    with pytest.raises(DHTTimeout):
        wait_for_nodes(scripted([StatsAlert(routing_table=table[:1])]), 3, timeout=0.05)


# --- the live DHT ------------------------------------------------------------------------------

TRIALS = 10


def scenario() -> dict:
    """Four DHT nodes on 127.0.0.1, B, C and D bootstrapped from A; returns what each step saw."""
    import libtorrent as lt

    contacted: set[str] = set()
    packets = [0]

    def audit(alert) -> None:
        if isinstance(alert, lt.dht_pkt_alert):
            packets[0] += 1
            endpoint = packet_endpoint(alert)
            contacted.add(endpoint[1] if endpoint else f"unparsed: {alert.message()[:60]}")

    t0 = time.monotonic()
    sessions = [lt.session(dht_settings("127.0.0.1:0", log_packets=True)) for _ in range(4)]
    a, b, c, d = sessions
    wait_until(lambda: all(s.is_listening() and s.listen_port() for s in sessions), timeout=10,
               what="the sessions to listen on 127.0.0.1",
               pause=lambda seconds: a.wait_for_alert(round(seconds * 1000)))
    ports = [s.listen_port() for s in sessions]
    for s in (b, c, d):
        bootstrap(s, [("127.0.0.1", ports[0])])
    wait_for_nodes(a, 3, timeout=scaled(20), on_alert=audit)
    for s in (b, c, d):
        wait_for_nodes(s, 1, timeout=scaled(10), on_alert=audit)
    ready = time.monotonic() - t0

    alice, carol = NodeKey.generate(), NodeKey.generate()
    out: dict = {"ports": ports, "ready_s": ready}
    first = publish(a, alice, SALT, Pointer(IH, 5, 1300), on_alert=audit)
    out["first"] = vars(first)
    out["b_first"] = vars(newest(b, alice.public_key, SALT, audit))
    out["c_first"] = vars(newest(c, alice.public_key, SALT, audit))
    newer = publish(a, alice, SALT, Pointer("f" * 40, 6, 1316), on_alert=audit)
    out["newer"] = vars(newer)
    out["b_newer"] = vars(newest(b, alice.public_key, SALT, audit))

    # a node of the old form (the binding's put: the dict bencoded inside a string) is still read
    olden = NodeKey.generate()
    c.dht_put_mutable_item(olden.private_key, olden.public_key, Pointer("d" * 40, 4, 1284).to_value(), SALT)
    for alert in _drain(c, 15, audit):
        if isinstance(alert, lt.dht_put_alert) and alert.public_key == olden.public_key:
            break
    out["old_form"] = vars(newest(b, olden.public_key, SALT, audit))

    # Carol claims Alice's public key but signs with her own private key: every node refuses the put
    c.dht_put_mutable_item(carol.private_key, alice.public_key, Pointer("e" * 40, 99, 10**9).to_value(), SALT)
    forged = None
    for alert in _drain(c, 15, audit):
        if isinstance(alert, lt.dht_put_alert) and alert.public_key == alice.public_key:
            forged = {"seq": alert.seq, "num_success": alert.num_success}
            break
    out["forged_put"] = forged
    out["b_after_forgery"] = vars(newest(b, alice.public_key, SALT, audit))
    out["d_after_forgery"] = vars(newest(d, alice.public_key, SALT, audit))
    carols = publish(c, carol, SALT, Pointer("e" * 40, 7, 1332), on_alert=audit)
    out["b_carol"] = vars(newest(b, carol.public_key, SALT, audit))
    out["carol"] = vars(carols)
    out["other_salt"] = newest(b, alice.public_key, b"labkit:another-network", audit)

    # libtorrent's signature is the one cryptography makes from the same seed
    d.dht_get_mutable_item(alice.public_key, SALT)
    for alert in _drain(d, 15, audit):
        if isinstance(alert, lt.dht_mutable_item_alert) and alert.authoritative:
            out["same_signature"] = alert.signature == alice.sign(signed_message(SALT, alert.seq, alert.item))
            out["item_type"] = type(alert.item).__name__
            break

    trials = []
    for i in range(TRIALS):
        reader = (b, c, d)[i % 3]
        start = time.monotonic()
        put = publish(a, alice, SALT, Pointer(IH, 10 + i, 2000 + 16 * i), on_alert=audit)
        stored = time.monotonic()
        got = newest(reader, alice.public_key, SALT, audit)
        end = time.monotonic()
        trials.append({"put_s": stored - start, "get_s": end - stored, "total_s": end - start,
                       "fresh": got == put})
    out["trials"] = trials
    out["routing_tables"] = [sorted(port for _, port in session_nodes(s)) for s in sessions]
    out["bootstrap_settings"] = sorted({s.get_settings()["dht_bootstrap_nodes"] for s in sessions})
    pack = dht_settings("127.0.0.1:0", log_packets=True)
    out["settings_not_applied"] = sorted(k for k in pack if k != "listen_interfaces"
                                         and a.get_settings().get(k) != pack[k])
    out["contacted"] = sorted(contacted)
    out["packets"] = packets[0]
    out["elapsed_s"] = time.monotonic() - t0
    return out


def newest(session, public_key: bytes, salt: bytes, audit):
    """The newest pointer lookup_many finds under one key (None if none); the error it found is raised."""
    found = lookup_many(session, [public_key], salt, on_alert=audit)[public_key]
    if isinstance(found, Exception):
        raise found
    return found


def _drain(session, seconds: float, audit):
    """Yield a session's alerts for up to ``seconds`` (scaled), auditing each.

    Not wait_until: the caller looks at each alert as it comes and stops at the one it wants."""
    deadline = time.monotonic() + scaled(seconds)
    while time.monotonic() < deadline:
        session.wait_for_alert(100)
        batch = session.pop_alerts()
        for alert in batch:  # all of them, even those after the one the caller stops at
            audit(alert)
        yield from batch


@pytest.fixture(scope="module")
def live():
    pytest.importorskip("libtorrent")
    return run_isolated(str(Path(__file__).resolve()), [], scenario, what="live DHT scenario", timeout=120)


def test_b_and_c_read_the_pointer_a_published(live):
    assert live["first"] == {"info_hash": IH, "height": 5, "total_work": 1300, "seq": 1, "peer": None, "tip": None}
    assert live["b_first"] == live["first"]
    assert live["c_first"] == live["first"]


def test_a_newer_pointer_replaces_the_older(live):
    assert live["newer"] == {"info_hash": "f" * 40, "height": 6, "total_work": 1316, "seq": 2, "peer": None, "tip": None}
    assert live["b_newer"] == live["newer"]


def test_a_pointer_signed_by_another_key_is_refused_by_every_node(live):
    assert live["forged_put"] is not None, "Carol's forged put never finished"
    assert live["forged_put"]["num_success"] == 0
    assert live["b_after_forgery"] == live["newer"]
    assert live["d_after_forgery"] == live["newer"]


def test_each_key_and_salt_names_its_own_pointer(live):
    assert live["b_carol"] == live["carol"] and live["carol"]["height"] == 7
    assert live["other_salt"] is None


def test_the_item_is_a_dict_signed_as_cryptography_does(live):
    assert live["item_type"] == "dict"  # BEP 46: libtorrent stores and returns v as the dict
    assert live["same_signature"] is True


def test_a_pointer_of_the_old_string_form_is_still_read(live):
    assert live["old_form"] == {"info_hash": "d" * 40, "height": 4, "total_work": 1284, "seq": 1, "peer": None,
                                "tip": None}


def test_every_lookup_after_a_put_sees_it(live):
    assert [t["fresh"] for t in live["trials"]] == [True] * TRIALS
    median = statistics.median(t["total_s"] for t in live["trials"])
    print(f"\nput -> get on another node: median {median * 1000:.1f} ms over {TRIALS} trials "
          f"(put {statistics.median(t['put_s'] for t in live['trials']) * 1000:.1f} ms, "
          f"get {statistics.median(t['get_s'] for t in live['trials']) * 1000:.1f} ms); "
          f"DHT ready after {live['ready_s']:.1f} s; network namespace: {live['netns']}")
    assert median < 5, f"put then get took {median:.1f} s (median): the DHT is stalling"


def test_the_puts_socket_never_joins_a_routing_table(live):
    """A put's sender is gone a moment later: were it in a table, every later lookup would wait for it."""
    for table in live["routing_tables"]:
        assert set(table) <= set(live["ports"]), (table, live["ports"])


def test_no_node_contacted_anything_but_loopback(live):
    assert live["bootstrap_settings"] == [""]
    assert live["settings_not_applied"] == []
    assert live["packets"] > 0
    assert live["contacted"], "no DHT packet was logged"
    assert all(ipaddress.ip_address(host).is_loopback for host in live["contacted"]), live["contacted"]


if __name__ == "__main__":  # the child process of the ``live`` fixture
    print(json.dumps(scenario()))

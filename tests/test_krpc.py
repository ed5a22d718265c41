"""labkit.sharing.krpc: a BEP 44 put of a dict, against scripted DHT nodes on 127.0.0.1 (tests/krpcnode.py).

The live counterparts are in test_pointer (libtorrent nodes) and test_bep46_interop
(webtorrent's bittorrent-dht).
"""

from __future__ import annotations

import hashlib

import pytest
from krpcnode import FakeNode

from labkit.errors import InvalidSignature
from labkit.node.keys import NodeKey
from labkit.sharing import krpc
from labkit.sharing.krpc import K, put_mutable, signed_message, target_of, verify

SALT = b"labkit:classroom"
VALUE = {b"height": 3, b"ih": bytes(range(20)), b"work": 4096}


@pytest.fixture
def nodes():
    made: list[FakeNode] = []

    def make(*modes: str) -> list[FakeNode]:
        made.extend(FakeNode(mode) for mode in modes)
        return made[-len(modes):]

    yield make
    for node in made:
        node.close()


def test_signed_message_is_bep44s_buffer_for_a_dict_and_for_a_string():
    assert signed_message(b"foobar", 1, b"Hello World!") == b"4:salt6:foobar3:seqi1e1:v12:Hello World!"
    assert signed_message(b"", 2, {b"ih": b"x" * 20}) == b"3:seqi2e1:vd2:ih20:" + b"x" * 20 + b"e"


def test_target_is_sha1_of_key_then_salt():
    assert target_of(b"k" * 32, b"s") == hashlib.sha1(b"k" * 32 + b"s").digest()


def test_a_put_stores_the_dict_signed_on_every_node_with_seq_one(nodes):
    key = NodeKey.generate()
    a, b, c = nodes("store", "store", "store")
    result = put_mutable([a.address, b.address, c.address], key, SALT, VALUE, timeout=5)
    assert (result.seq, result.stored, result.asked, result.errors) == (1, 3, 3, [])
    for node in (a, b, c):
        held = node.items[target_of(key.public_key, SALT)]
        assert held[b"v"] == VALUE and held[b"seq"] == 1  # a dict on the wire, not a string
        verify(key.public_key, SALT, 1, held[b"v"], held[b"sig"])


def test_a_put_gives_each_node_its_own_id_and_says_it_is_read_only(nodes):
    """libtorrent adds the sender of any put with a valid token to its routing table, unless the id is its own."""
    a, b = nodes("store", "store")
    put_mutable([a.address, b.address], NodeKey.generate(), SALT, VALUE, timeout=5)
    for node in (a, b):
        puts = [m for m, _ in node.queries if m[b"q"] == b"put"]
        gets = [m for m, _ in node.queries if m[b"q"] == b"get"]
        assert len(puts) == 1 and puts[0][b"a"][b"id"] == node.node_id
        assert gets and all(m[b"ro"] == 1 and m[b"a"][b"id"] != node.node_id for m in gets)


def test_the_next_put_takes_the_highest_verified_seq_plus_one(nodes):
    key = NodeKey.generate()
    a, b = nodes("store", "store")
    put_mutable([a.address], key, SALT, VALUE, timeout=5)
    put_mutable([a.address], key, SALT, VALUE, timeout=5)  # a holds seq 2
    result = put_mutable([a.address, b.address], key, SALT, {**VALUE, b"height": 4}, timeout=5)
    assert result.seq == 3 and result.stored == 2


def test_a_forged_high_seq_does_not_push_the_seq_up(nodes):
    key = NodeKey.generate()
    (a,) = nodes("store")
    a.items[target_of(key.public_key, SALT)] = {b"k": key.public_key, b"seq": 10**9, b"sig": bytes(64), b"v": VALUE}
    result = put_mutable([a.address], key, SALT, VALUE, timeout=5)
    assert result.seq == 1  # the forged item is not counted
    assert result.stored == 0 and "302" in result.errors[0]  # and that node refused the lower seq


def test_the_lookup_follows_the_nodes_an_answer_names(nodes):
    key = NodeKey.generate()
    first, named = nodes("store", "store")
    first.names = [named]
    result = put_mutable([first.address], key, SALT, VALUE, timeout=5)
    assert result.stored == 2 and target_of(key.public_key, SALT) in named.items


def test_nodes_an_answer_names_are_asked_only_where_allowed():
    """publish passes the session's IP filter: a member cannot steer a put to an address the DHT may not reach."""
    first, elsewhere = FakeNode(), FakeNode(host="127.0.0.2")
    try:
        first.names = [elsewhere]
        result = put_mutable([first.address], NodeKey.generate(), SALT, VALUE, timeout=5,
                             allowed=lambda ip: ip != "127.0.0.2")
        assert result.stored == 1 and elsewhere.queries == []
    finally:
        first.close()
        elsewhere.close()


def test_a_put_goes_to_the_k_closest_only(nodes):
    key = NodeKey.generate()
    many = nodes(*["store"] * (K + 3))
    for node in many:
        node.names = many  # a small room: every node knows every other
    result = put_mutable([many[0].address], key, SALT, VALUE, timeout=10)
    assert result.asked == result.stored == K
    target = int.from_bytes(target_of(key.public_key, SALT), "big")
    closest = sorted(many, key=lambda n: int.from_bytes(n.node_id, "big") ^ target)[:K]
    assert {n.address for n in many if n.items} == {n.address for n in closest}


def test_a_put_from_a_routing_table_reaches_the_k_closest(nodes):
    """A session's routing table gives addresses without ids: the ids the answers name must be used.

    Before, a node given without an id kept counting as the farthest even after an answer named
    its id, so the put went to the first K nodes asked: in a 32-node room libtorrent's gets found
    no copy of about one pointer in four (their publishers were invisible to the whole room)."""
    many = nodes(*["store"] * (3 * K))
    for node in many:
        node.names = many  # a small room: every node knows every other
    for _ in range(4):
        key = NodeKey.generate()
        put_mutable([n.address for n in many], key, SALT, VALUE, timeout=10)
        target = int.from_bytes(target_of(key.public_key, SALT), "big")
        closest = sorted(many, key=lambda n: int.from_bytes(n.node_id, "big") ^ target)[:K]
        holders = {n.address for n in many if target_of(key.public_key, SALT) in n.items}
        assert holders == {n.address for n in closest}


def test_a_lookup_asks_k_nodes_a_round_not_every_node_it_was_given(nodes):
    many = nodes(*["store"] * (3 * K))
    put_mutable([n.address for n in many], NodeKey.generate(), SALT, VALUE, timeout=10)
    assert sum(1 for n in many for m, _ in n.queries if m[b"q"] == b"get") == K  # they name no one


def test_refusals_are_reported_and_silent_nodes_are_not_waited_for_long(nodes, monkeypatch):
    monkeypatch.setattr(krpc, "ROUND_SECONDS", 0.3)
    good, refusing, silent = nodes("store", "refuse", "silent")
    result = put_mutable([good.address, refusing.address, silent.address], NodeKey.generate(), SALT, VALUE,
                         timeout=5)
    assert result.stored == 1 and result.asked == 2
    assert result.errors == [f"127.0.0.1:{refusing.address[1]}: 203 bad token"]


def test_no_answer_at_all_is_a_timeout(nodes, monkeypatch):
    monkeypatch.setattr(krpc, "ROUND_SECONDS", 0.2)
    (silent,) = nodes("silent")
    with pytest.raises(TimeoutError):
        put_mutable([silent.address], NodeKey.generate(), SALT, VALUE, timeout=0.5)


def test_a_value_over_1000_bytes_is_refused_before_anything_is_sent(nodes):
    (a,) = nodes("store")
    with pytest.raises(ValueError, match="1000"):
        put_mutable([a.address], NodeKey.generate(), SALT, {b"x": bytes(1000)}, timeout=5)
    assert a.queries == []


def test_verify_refuses_another_value_seq_or_key():
    key = NodeKey.generate()
    signature = key.sign(signed_message(SALT, 1, VALUE))
    verify(key.public_key, SALT, 1, VALUE, signature)
    for args in [(SALT, 2, VALUE), (SALT, 1, {**VALUE, b"work": 1}), (b"", 1, VALUE)]:
        with pytest.raises(InvalidSignature):
            verify(key.public_key, *args, signature)
    with pytest.raises(InvalidSignature):
        verify(key.public_key, SALT, 1, 1.5, signature)  # no bencoding: not signed either

"""labkit.node.keys: NodeKey (RFC 8032 vectors, PEM files), the node key files, and the node keys of a network."""

from __future__ import annotations

import json
import stat

import pytest

from labkit.__main__ import main
from labkit.errors import ConfigError, InvalidKey, KeyFileExists
from labkit.network import Member, Network
from labkit.node.keys import (NodeKey, load_node_public_key, node_key_paths, node_public_key_beside,
                              write_node_key_pair)


def test_node_key_files_sit_beside_either_rsa_file(tmp_path):
    expected = (tmp_path / "ana.node", tmp_path / "ana.node.pub")
    assert node_key_paths(tmp_path / "ana.pem") == expected
    assert node_key_paths(tmp_path / "ana.pub.pem") == expected
    assert node_key_paths(tmp_path / "ana.node.pem")[0].name == "ana.node.node"  # never ana's node key
    with pytest.raises(InvalidKey):
        node_key_paths(tmp_path / "ana.key")


def test_write_node_key_pair_writes_0600_and_never_replaces(tmp_path):
    key, private, public = write_node_key_pair(tmp_path / "ana.pem")
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert NodeKey.load(private) == key and load_node_public_key(public) == key.public_key
    with pytest.raises(FileExistsError):
        write_node_key_pair(tmp_path / "ana.pem")
    assert NodeKey.load(private) == key


@pytest.mark.parametrize("text", ["", "00" * 31 + "\n", "AB" * 32, "zz" * 32, "00" * 32 + "\n\n"])
def test_a_node_public_key_file_is_64_hex_digits(tmp_path, text):
    (tmp_path / "ana.node.pub").write_text(text)
    with pytest.raises(InvalidKey):
        node_public_key_beside(tmp_path / "ana.pub.pem")


def test_wallet_new_writes_the_node_key_and_network_new_records_it(tmp_path, capsys):
    for name in ("ana", "ben"):
        assert main(["wallet", "new", name, "--dir", str(tmp_path)]) == 0
    assert "ana.node" in capsys.readouterr().out
    assert stat.S_IMODE((tmp_path / "ana.node").stat().st_mode) == 0o600
    (tmp_path / "ben.node.pub").unlink()  # ben hands in no node key: his member entry has none
    out = tmp_path / "classroom.json"
    assert main(["network", "new", "--member", f"ana={tmp_path / 'ana.pub.pem'}",
                 "--member", f"ben={tmp_path / 'ben.pub.pem'}", "--out", str(out)]) == 0
    network = Network.load(out)
    ana, ben = network.members
    assert ana.node_key == NodeKey.load(tmp_path / "ana.node").public_key and ben.node_key is None
    entries = json.loads(out.read_text())["members"]
    assert entries[0]["node_key"] == ana.node_key.hex() and "node_key" not in entries[1]


def test_wallet_new_refuses_when_a_node_key_file_exists_and_writes_nothing(tmp_path, capsys):
    (tmp_path / "ana.node").write_text("an old key")
    assert main(["wallet", "new", "ana", "--dir", str(tmp_path)]) == 2
    assert "ana.node" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ana.node"]


def test_configurations_round_trip_with_and_without_node_keys():
    from labkit.lessons.data import demo_network

    old = demo_network()
    assert "node_key" not in old.to_json() and Network.from_json(old.to_json()).members == old.members
    keyed = old.with_members(Member(m.name, m.public_key, NodeKey.generate().public_key) for m in old.members)
    assert Network.from_json(keyed.to_json()).members == keyed.members


@pytest.mark.parametrize("value", ["00" * 31, "AB" * 32, 5, None, "zz" * 32])
def test_a_bad_node_key_in_a_configuration_is_refused(value):
    from labkit.lessons.data import demo_network

    config = json.loads(demo_network().to_json())
    config["members"][0]["node_key"] = value
    with pytest.raises(ConfigError, match="node_key"):
        Network.from_json(json.dumps(config))


def test_two_members_with_the_same_node_key_are_refused():
    from labkit.lessons.data import demo_network

    network = demo_network()
    same = NodeKey.generate().public_key
    with pytest.raises(ConfigError, match="same node key"):
        network.with_members(Member(m.name, m.public_key, same) for m in network.members)


# --- NodeKey: the ed25519 key itself -------------------------------------------------------------------------------

# RFC 8032 section 7.1, test 1: seed, public key, and the signature of the empty message
RFC8032_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIG = bytes.fromhex("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                            "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")


def test_node_key_matches_rfc8032():
    key = NodeKey(RFC8032_SEED)
    assert key.public_key == RFC8032_PUBLIC
    assert key.sign(b"") == RFC8032_SIG


def test_private_key_is_libtorrents_expanded_form():
    key = NodeKey(RFC8032_SEED)
    expanded = key.private_key
    assert len(expanded) == 64
    assert expanded[0] & 7 == 0 and expanded[31] & 0xC0 == 0x40  # clamped scalar (RFC 8032 5.1.5)
    import hashlib
    assert expanded[32:] == hashlib.sha512(RFC8032_SEED).digest()[32:]  # the nonce prefix, untouched


@pytest.mark.parametrize("seed", [b"", b"x" * 31, b"x" * 33, "x" * 32, bytearray(32)])
def test_node_key_refuses_a_seed_of_the_wrong_size_or_type(seed):
    with pytest.raises(InvalidKey):
        NodeKey(seed)


def test_generate_makes_distinct_keys():
    assert NodeKey.generate().public_key != NodeKey.generate().public_key


def test_repr_shows_the_public_key_never_the_seed():
    assert repr(NodeKey(RFC8032_SEED)) == "NodeKey(public_key=d75a980182b10ab7…)"
    assert RFC8032_SEED.hex()[:8] not in repr(NodeKey(RFC8032_SEED))


def test_save_and_load_round_trip_with_mode_0600(tmp_path):
    key = NodeKey.generate()
    path = key.save(tmp_path / "node.pem")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    assert NodeKey.load(path) == key


def test_save_refuses_to_overwrite_unless_asked(tmp_path):
    first, second = NodeKey.generate(), NodeKey.generate()
    path = first.save(tmp_path / "node.pem")
    with pytest.raises(KeyFileExists):
        second.save(path)
    assert NodeKey.load(path) == first  # nothing changed
    second.save(path, overwrite=True)
    assert NodeKey.load(path) == second
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node.pem"]  # no temporary file left


def test_load_refuses_what_is_not_an_ed25519_key(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    for name, data in [("garbage.pem", b"not a key"), ("ec.pem", other), ("big.pem", b"x" * 5000)]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(InvalidKey):
            NodeKey.load(tmp_path / name)


def test_a_node_key_file_holding_two_keys_is_refused():
    # a PEM reader takes the first block: a file of two keys would sign with whichever one it took
    first, second = NodeKey.generate().to_pem(), NodeKey.generate().to_pem()
    with pytest.raises(InvalidKey, match="2 PEM blocks"):
        NodeKey.from_pem(first + second)
    assert NodeKey.from_pem(first).to_pem() == first

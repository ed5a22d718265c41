"""labkit.node.keys and the node keys of a network: wallet new writes them, network new records them."""

from __future__ import annotations

import json
import stat

import pytest

from labkit.__main__ import main
from labkit.errors import ConfigError, InvalidKey
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

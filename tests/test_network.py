"""labkit.network: members, the shared secret, difficulty, and the configuration file."""

from __future__ import annotations

import json
import os
import stat

import pytest

from labkit.errors import ConfigError, UnknownSigner
from labkit.network import SECRET_BYTES, Member, Network, check_name
from labkit.wallet import Wallet, public_key_pem

SECRET = bytes(range(100, 132))  # 32 distinct bytes: a stand-in for 32 random ones


@pytest.fixture(scope="module")
def members(wallets):
    return tuple(Member(w.name, w.public_key) for w in wallets)


@pytest.fixture
def config(network) -> dict:
    return json.loads(network.to_json())


def refused(text) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        Network.from_json(text)
    return info.value


# --- round trips ---------------------------------------------------------------------------


def test_json_round_trip(network):
    assert Network.from_json(network.to_json()) == network
    assert Network.from_json(network.to_json().encode()) == network


def test_created_network_round_trip(wallets):
    network = Network.create(wallets, difficulty=3, name="lab", max_clock_skew=60)
    again = Network.from_json(network.to_json())
    assert again == network
    assert (again.name, again.difficulty, again.max_clock_skew) == ("lab", 3, 60)


def test_save_and_load(tmp_path, network):
    path = network.save(tmp_path / "net.json")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600  # it holds the secret
    assert Network.load(path) == network
    assert sorted(os.listdir(tmp_path)) == ["net.json"]


def test_save_refuses_to_overwrite(tmp_path, network, wallets):
    path = tmp_path / "net.json"
    path.write_text("old")
    with pytest.raises(ConfigError, match="already exists"):
        network.save(path)
    assert path.read_text() == "old"
    network.save(path, overwrite=True)
    assert Network.load(path) == network
    assert sorted(os.listdir(tmp_path)) == ["net.json"]


def test_max_clock_skew_defaults_when_absent(config, network):
    del config["max_clock_skew"]
    assert Network.from_json(json.dumps(config)).max_clock_skew == 300


# --- making networks ------------------------------------------------------------------------------


def test_create_generates_a_fresh_secret(wallets):
    one, two = Network.create(wallets), Network.create(wallets)
    assert len(one.secret) == SECRET_BYTES == 32
    assert one.secret != two.secret
    assert one.difficulty == 2
    assert [m.name for m in one.members] == ["alice", "bob", "carol"]


def test_members_and_lookup(network, wallets):
    alice = wallets[0]
    assert network.member(alice.address).name == "alice"
    assert network.member(alice.address).address == alice.address
    assert network.is_member(alice.address)
    assert network.name_of(alice.address) == "alice"
    assert network.name_of("0" * 64) == "?"
    assert not network.is_member("0" * 64)


@pytest.mark.parametrize("address", ["0" * 64, "alice", None, ["list"]])
def test_unknown_member(network, address):
    with pytest.raises(UnknownSigner) as info:
        network.member(address)
    assert info.value.signer == str(address)


def test_with_difficulty_and_members(network, wallets):
    assert network.with_difficulty(5).difficulty == 5
    assert network.with_difficulty(5).secret == network.secret
    two = network.with_members(wallets[:2])
    assert [m.name for m in two.members] == ["alice", "bob"]
    assert not two.is_member(wallets[2].address)


def test_repr_hides_the_secret(network):
    assert network.secret.hex() not in repr(network)
    assert "alice" in repr(network)


# --- rejections ---------------------------------------------------------------------------------


@pytest.mark.parametrize("secret, words", [
    (b"short", "at least 32 bytes, not 5"),
    (b"x" * 31, "at least 32 bytes, not 31"),
    (b"", "non-empty bytes"),
    ("a string secret of more than 32 characters", "non-empty bytes"),
])
def test_secret_refused(members, secret, words):
    with pytest.raises(ConfigError, match=words):
        Network("n", secret, 2, members)


@pytest.mark.parametrize("secret", [bytes(32), b"\xff" * 64, b"ab" * 16, b"password" * 4, bytes(range(15)) * 3])
def test_a_secret_without_entropy_is_refused(members, secret):
    # fewer than 16 distinct byte values: a placeholder, never 32 random bytes (3 chances in 10**17)
    with pytest.raises(ConfigError, match="distinct byte values"):
        Network("n", secret, 2, members)
    assert Network("seed", secret, 2, members, teaching=True).secret == secret  # the seed's lessons only


def test_an_all_zero_secret_in_a_file_is_refused(config):
    config["secret"] = "00" * 32
    assert "holds only 1 distinct byte values" in str(refused(json.dumps(config)))


def test_short_secret_allowed_for_teaching(members):
    assert Network("seed", b"your-secret-key", 2, members, teaching=True).secret == b"your-secret-key"
    with pytest.raises(ConfigError):
        Network("seed", b"", 2, members, teaching=True)


@pytest.mark.parametrize("difficulty", [-1, 9, True, "2", 2.0, None])
def test_bad_difficulty(members, difficulty):
    with pytest.raises(ConfigError, match="difficulty"):
        Network("n", SECRET, difficulty, members)


@pytest.mark.parametrize("skew", [-1, True, 1.5, "300"])
def test_bad_clock_skew(members, skew):
    with pytest.raises(ConfigError, match="max_clock_skew"):
        Network("n", SECRET, 2, members, max_clock_skew=skew)


def test_duplicate_members(members):
    twin = Member("alice2", members[0].public_key)
    with pytest.raises(ConfigError, match="same key as 'alice'"):
        Network("n", SECRET, 2, (*members, twin))


def test_weak_member_key_refused_unless_teaching(rsa1024_pem, members):
    weak = Wallet.from_pem(rsa1024_pem, teaching=True)
    with pytest.raises(ConfigError, match="member 'weak'.*1024-bit"):
        Network("n", SECRET, 2, (*members, Member("weak", weak.public_key)))
    Network("n", SECRET, 2, (Member("weak", weak.public_key),), teaching=True)


@pytest.mark.parametrize("text, words", [
    ("not json", "not valid JSON"),
    (b"\xff", "not UTF-8"),
    ("[]", "must be a JSON object"),
    ('{"name": "a", "name": "b"}', "duplicate key 'name'"),
])
def test_garbage_json(text, words):
    assert words in str(refused(text))


def test_unknown_field(config):
    config["teaching"] = True
    assert "unknown ['teaching']" in str(refused(json.dumps(config)))


@pytest.mark.parametrize("field", ["name", "difficulty", "secret", "members"])
def test_missing_field(config, field):
    del config[field]
    assert f"missing ['{field}']" in str(refused(json.dumps(config)))


@pytest.mark.parametrize("field, value, words", [
    ("name", 7, "name must be a string"),
    ("secret", "not hex", "secret must be a hex string"),
    ("secret", 1234, "secret must be a hex string"),
    ("secret", "00" * 16, "at least 32 bytes"),
    ("difficulty", "2", "difficulty"),
    ("difficulty", 12, "difficulty"),
    ("members", {}, "members must be a list"),
    ("members", ["alice"], "member 0 must be"),
    ("members", [{"name": "a"}], "member 0 must be"),
    ("members", [{"name": "a", "public_key": "garbage"}], "member 'a'"),
    ("max_clock_skew", -5, "max_clock_skew"),
])
def test_wrong_values(config, field, value, words):
    config[field] = value
    assert words in str(refused(json.dumps(config)))


def test_member_with_extra_field(config):
    config["members"][0]["address"] = "x"
    assert "member 0 must be" in str(refused(json.dumps(config)))


def test_duplicate_member_in_file(config):
    config["members"].append(dict(config["members"][0], name="mallory"))
    assert "same key as 'alice'" in str(refused(json.dumps(config)))


@pytest.mark.parametrize("name", ["alice", "Alice", "ALICE"])
def test_two_members_of_one_name_in_file(config, name):
    config["members"][1]["name"] = name  # bob's key under alice's name: who signed what?
    assert "two members are named 'alice'" in str(refused(json.dumps(config)))


def test_a_member_name_is_ascii_as_the_readme_says(config, members):
    cyrillic = "\u0430lice"  # а (CYRILLIC SMALL LETTER A) + lice: looks like alice
    with pytest.raises(ConfigError, match="CYRILLIC SMALL LETTER A.*not ASCII"):
        check_name(cyrillic)
    config["members"][1]["name"] = cyrillic
    assert "not ASCII" in str(refused(json.dumps(config)))
    with pytest.raises(ConfigError, match="not ASCII"):
        Network("n", SECRET, 2, (members[0], Member("b\u00e9n", members[1].public_key)))


def test_weak_member_in_file(config, rsa1024_pem):
    weak = Wallet.from_pem(rsa1024_pem, teaching=True)
    config["members"].append({"name": "weak", "public_key": public_key_pem(weak.public_key)})
    assert "1024-bit key refused" in str(refused(json.dumps(config)))


def test_load_missing_or_bad_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        Network.load(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(ConfigError) as info:
        Network.load(bad)
    assert str(bad) in str(info.value)
    assert bad.read_text() == "{}"

"""labkit.wallet: RSA wallets, addresses, PEM files and strict PKCS#1 v1.5 SHA-256 signatures."""

from __future__ import annotations

import hashlib
import os
import stat

import pytest
import rsa
from cryptography.exceptions import InvalidSignature as CryptoInvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric import rsa as crypto_rsa
from cryptography_vectors import open_vector_file

from labkit.errors import InvalidKey, InvalidSignature, KeyFileExists, LabkitError
from labkit.wallet import (
    MIN_BITS,
    PUBLIC_EXPONENT,
    Wallet,
    address_of,
    check_public_key,
    load_public_key,
    public_key_pem,
    short_address,
    verify,
)

MESSAGE = b"eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.e30.abc"


def crypto_public(public_key: rsa.PublicKey):
    return crypto_rsa.RSAPublicNumbers(public_key.e, public_key.n).public_key()


def sign_key(wallet):
    """The wallet's key as a cryptography object."""
    return serialization.load_pem_private_key(wallet.to_pem().encode(), password=None)


def refused(public_key, data, signature) -> InvalidSignature:
    with pytest.raises(InvalidSignature) as info:
        verify(public_key, data, signature)
    return info.value


def files_in(folder) -> list[str]:
    return sorted(os.listdir(folder))


# --- generation, addresses -------------------------------------------------------------------


def test_generate_makes_a_2048_bit_key_with_e_65537():
    wallet = Wallet.generate(name="dora")
    assert wallet.bits == MIN_BITS == 2048
    assert wallet.public_key.e == PUBLIC_EXPONENT == 65537
    assert wallet.private_key.p * wallet.private_key.q == wallet.private_key.n
    assert wallet.name == "dora"
    assert wallet != Wallet.generate()


def test_generate_refuses_small_keys_unless_teaching():
    with pytest.raises(InvalidKey, match="teaching=True"):
        Wallet.generate(1024)


@pytest.mark.parametrize("bits", [512, 1024])
def test_teaching_wallets_sign_and_verify(bits):
    wallet = Wallet.generate(bits, teaching=True)
    assert wallet.bits == bits
    verify(wallet.public_key, MESSAGE, wallet.sign(MESSAGE))


def test_wallet_needs_an_rsa_private_key(alice):
    with pytest.raises(InvalidKey):
        Wallet(alice.public_key)  # type: ignore[arg-type]


def test_address_is_sha256_of_the_der_public_key(alice):
    der = alice.public_key.save_pkcs1("DER")
    assert alice.address == address_of(alice.public_key) == hashlib.sha256(der).hexdigest()
    assert alice.short_address == short_address(alice.address) == alice.address[:10]


def test_repr_shows_no_secret(alice):
    text = repr(alice)
    assert "alice" in text and alice.short_address in text and str(alice.private_key.d)[:20] not in text


# --- round trips ------------------------------------------------------------------------


def test_pem_round_trip(alice):
    pem = alice.to_pem()
    assert pem.startswith("-----BEGIN RSA PRIVATE KEY-----")  # PKCS#1, the seed's format
    assert Wallet.from_pem(pem, name="alice") == alice
    assert Wallet.from_pem(pem.encode()).private_key == alice.private_key


def test_pkcs8_pem_is_read_too(alice):
    pkcs8 = sign_key(alice).private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                          serialization.NoEncryption())
    assert Wallet.from_pem(pkcs8).private_key == alice.private_key


def test_save_and_load(tmp_path, alice):
    path = alice.save(tmp_path / "alice.pem")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_text() == alice.to_pem()
    assert Wallet.load(path) == alice  # the name is the file's stem
    assert Wallet.load(path, name="x").name == "x"
    assert files_in(tmp_path) == ["alice.pem"]


def test_public_key_pem_round_trip(alice):
    pem = public_key_pem(alice.public_key)
    assert pem.startswith("-----BEGIN RSA PUBLIC KEY-----")
    assert load_public_key(pem) == alice.public_key
    spki = crypto_public(alice.public_key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert load_public_key(spki) == alice.public_key


# --- files: never overwritten silently -----------------------------------------------------------


def test_save_refuses_to_overwrite(tmp_path, alice, bob):
    path = bob.save(tmp_path / "key.pem")
    before, mtime = path.read_bytes(), path.stat().st_mtime_ns
    with pytest.raises(KeyFileExists) as info:
        alice.save(path)
    assert isinstance(info.value, FileExistsError) and isinstance(info.value, LabkitError)
    assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert files_in(tmp_path) == ["key.pem"]


def test_save_refuses_to_overwrite_any_file(tmp_path, alice):
    path = tmp_path / "notes.txt"
    path.write_text("precious")
    with pytest.raises(KeyFileExists):
        alice.save(path)
    assert path.read_text() == "precious"


def test_save_with_overwrite_replaces_the_whole_file(tmp_path, alice, bob):
    path = tmp_path / "key.pem"
    path.write_text("x" * 10_000)
    os.chmod(path, 0o644)
    alice.save(path, overwrite=True)
    assert path.read_text() == alice.to_pem()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert files_in(tmp_path) == ["key.pem"]  # no temporary file left behind
    bob.save(path, overwrite=True)
    assert Wallet.load(path).private_key == bob.private_key


# --- keys refused ------------------------------------------------------------------------------


def test_1024_bit_key_refused_unless_teaching(rsa1024_pem):
    with pytest.raises(InvalidKey, match="1024-bit key refused"):
        Wallet.from_pem(rsa1024_pem)
    assert Wallet.from_pem(rsa1024_pem, teaching=True).bits == 1024


def test_exponent_3_refused_unless_teaching(rsa_e3_pem):
    with pytest.raises(InvalidKey, match="public exponent 3 refused"):
        Wallet.from_pem(rsa_e3_pem)
    assert Wallet.from_pem(rsa_e3_pem, teaching=True).public_key.e == 3


def test_load_refuses_weak_key_file_and_names_it(tmp_path, rsa1024_pem):
    path = tmp_path / "weak.pem"
    path.write_bytes(rsa1024_pem)
    with pytest.raises(InvalidKey) as info:
        Wallet.load(path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == rsa1024_pem


@pytest.mark.parametrize("pem", [
    b"",
    b"garbage",
    b"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
    "-----BEGIN RSA PRIVATE KEY-----\né\n-----END RSA PRIVATE KEY-----\n",
])
def test_garbage_pem_refused(pem):
    with pytest.raises(InvalidKey, match="not an unencrypted PEM private key"):
        Wallet.from_pem(pem)


def test_truncated_pem_refused(alice):
    with pytest.raises(InvalidKey):
        Wallet.from_pem(alice.to_pem()[:400])


def test_encrypted_pem_refused(alice):
    encrypted = sign_key(alice).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"password"))
    with pytest.raises(InvalidKey, match="not an unencrypted PEM private key"):
        Wallet.from_pem(encrypted)


def test_ec_key_refused():
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    with pytest.raises(InvalidKey, match="not an RSA key"):
        Wallet.from_pem(pem)
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    with pytest.raises(InvalidKey, match="not an RSA key"):
        load_public_key(public)


def test_a_pem_file_of_two_keys_is_refused(tmp_path, alice, bob):
    # a PEM reader takes the first block: a file of two would mean whichever key its reader took
    two = alice.to_pem() + bob.to_pem()
    with pytest.raises(InvalidKey, match="holds 2 PEM blocks; a key file holds one key"):
        Wallet.from_pem(two)
    (tmp_path / "two.pem").write_text(two)
    with pytest.raises(InvalidKey, match="two.pem: holds 2 PEM blocks"):
        Wallet.load(tmp_path / "two.pem")
    with pytest.raises(InvalidKey, match="holds 2 PEM blocks"):
        load_public_key(public_key_pem(alice.public_key) + public_key_pem(bob.public_key))
    with pytest.raises(InvalidKey, match="holds 2 PEM blocks"):  # a private key hiding behind a public one
        load_public_key(public_key_pem(alice.public_key) + alice.to_pem())


def test_public_key_is_not_a_wallet(alice):
    with pytest.raises(InvalidKey):
        Wallet.from_pem(public_key_pem(alice.public_key))


def test_missing_key_file(tmp_path):
    with pytest.raises(InvalidKey, match="cannot read"):
        Wallet.load(tmp_path / "nope.pem")


def test_load_public_key_checks_size(rsa1024_pem):
    weak = Wallet.from_pem(rsa1024_pem, teaching=True).public_key
    with pytest.raises(InvalidKey):
        load_public_key(public_key_pem(weak))
    assert load_public_key(public_key_pem(weak), teaching=True) == weak
    with pytest.raises(InvalidKey, match="not a PEM public key"):
        load_public_key("garbage")


def test_check_public_key():
    with pytest.raises(InvalidKey, match="expected an rsa.PublicKey"):
        check_public_key("key")  # type: ignore[arg-type]
    tiny = rsa.PublicKey((1 << 255) + 1, 65537)  # too small to hold a SHA-256 DigestInfo
    with pytest.raises(InvalidKey, match="too small to sign SHA-256"):
        check_public_key(tiny, teaching=True)


# --- agreement with second implementations ----------------------------------------------------------


def test_signature_equals_rsa_packages(alice):
    assert alice.sign(MESSAGE) == rsa.sign(MESSAGE, alice.private_key, "SHA-256")


def test_cryptography_verifies_labkit_signatures(wallets):
    for wallet in wallets:
        signature = wallet.sign(MESSAGE)
        crypto_public(wallet.public_key).verify(signature, MESSAGE, padding.PKCS1v15(), hashes.SHA256())
        with pytest.raises(CryptoInvalidSignature):
            crypto_public(wallet.public_key).verify(signature, MESSAGE + b"!", padding.PKCS1v15(), hashes.SHA256())


def test_labkit_verifies_signatures_made_by_others(alice):
    verify(alice.public_key, MESSAGE, rsa.sign(MESSAGE, alice.private_key, "SHA-256"))
    verify(alice.public_key, MESSAGE, sign_key(alice).sign(MESSAGE, padding.PKCS1v15(), hashes.SHA256()))
    assert rsa.verify(MESSAGE, alice.sign(MESSAGE), alice.public_key) == "SHA-256"


# --- strict verification ---------------------------------------------------------------------------


@pytest.mark.parametrize("hash_name", ["SHA-1", "SHA-224", "SHA-384", "SHA-512", "MD5"])
def test_other_hashes_refused(alice, hash_name):
    signature = rsa.sign(MESSAGE, alice.private_key, hash_name)
    assert rsa.verify(MESSAGE, signature, alice.public_key) == hash_name  # rsa accepts any hash it knows
    refused(alice.public_key, MESSAGE, signature)


def _signature_with_leading_zero(wallet):
    for i in range(10_000):  # about 1 in 185 of alice's signatures starts with a zero byte
        message = b"message %d" % i
        signature = wallet.sign(message)
        if signature[0] == 0:
            return message, signature
    raise AssertionError("no signature with a leading zero")


def test_leading_zero_must_stay(alice):
    message, signature = _signature_with_leading_zero(alice)
    verify(alice.public_key, message, signature)
    error = refused(alice.public_key, message, signature[1:])
    assert "255 bytes" in str(error)


@pytest.mark.parametrize("change", ["prefix 00", "suffix 00", "s + n"])
def test_other_encodings_of_the_same_number_refused(alice, change):
    signature = alice.sign(MESSAGE)
    s, n, k = int.from_bytes(signature, "big"), alice.public_key.n, len(signature)
    bad = {"prefix 00": b"\x00" + signature, "suffix 00": signature + b"\x00",
           "s + n": (s + n).to_bytes(k + 1, "big")}[change]
    refused(alice.public_key, MESSAGE, bad)


def test_s_plus_n_in_k_bytes_refused(alice):
    # s + n is the same number mod n, so s^e mod n matches: only the range check stops it.
    n, e = alice.public_key.n, alice.public_key.e
    k = (n.bit_length() + 7) // 8
    for i in range(100):
        message = b"message %d" % i
        s = int.from_bytes(alice.sign(message), "big")
        if s + n < 1 << (8 * k):
            break
    assert pow(s + n, e, n) == pow(s, e, n)
    error = refused(alice.public_key, message, (s + n).to_bytes(k, "big"))
    assert "not smaller than the modulus" in str(error)


def test_wrong_message_key_or_bits_refused(alice, bob):
    signature = alice.sign(MESSAGE)
    refused(alice.public_key, MESSAGE + b".", signature)
    refused(bob.public_key, MESSAGE, signature)
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    refused(alice.public_key, MESSAGE, flipped)
    refused(alice.public_key, MESSAGE, bytes(len(signature)))


@pytest.mark.parametrize("signature", ["00ff", None, 12])
def test_signature_must_be_bytes(alice, signature):
    assert "must be bytes" in str(refused(alice.public_key, MESSAGE, signature))


def test_empty_signature_refused(alice):
    refused(alice.public_key, MESSAGE, b"")


def test_bytearray_signature_accepted(alice):
    verify(alice.public_key, MESSAGE, bytearray(alice.sign(MESSAGE)))


# --- NIST CAVS vectors ------------------------------------------------------------------------------


def cavs(path: str) -> list[dict]:
    """Records of a CAVS response file, each with the modulus n (and e, where shared) above it."""
    records, section, current = [], {}, None
    with open_vector_file(path, "r") as f:
        for line in f:
            line = line.strip()
            if line.startswith("[mod"):
                section, current = {}, None
                continue
            key, sep, value = (part.strip() for part in line.partition("="))
            if not sep:
                continue
            if key == "n":  # a new key: n (and p, q, e) apply to the records after it
                section, current = {}, None
            if key == "SHAAlg":
                current = {**section, "SHAAlg": value}
                records.append(current)
            elif current is None:
                section[key] = value
            else:
                current[key] = value
    return records


def nist_key(record: dict) -> rsa.PublicKey:
    return rsa.PublicKey(int(record["n"], 16), int(record["e"], 16))


def test_nist_sigver15_sha256(alice):
    records = [r for r in cavs("asymmetric/RSA/FIPS_186-2/SigVer15_186-3.rsp") if r["SHAAlg"] == "SHA256"]
    passes = [r for r in records if r["Result"].startswith("P")]
    fails = [r for r in records if r["Result"].startswith("F")]
    assert len(passes) == 15 and len(fails) == 75
    for record in passes:
        verify(nist_key(record), bytes.fromhex(record["Msg"]), bytes.fromhex(record["S"]))
    for record in fails:
        with pytest.raises(InvalidSignature):
            verify(nist_key(record), bytes.fromhex(record["Msg"]), bytes.fromhex(record["S"]))


def test_nist_sigver15_other_hashes_refused():
    # Valid signatures over SHA-1/224/384/512: the rsa package accepts them, labkit must not.
    records = [r for r in cavs("asymmetric/RSA/FIPS_186-2/SigVer15_186-3.rsp")
               if r["SHAAlg"] != "SHA256" and r["Result"].startswith("P")]
    assert len(records) == 60
    for record in records:
        key, message, signature = nist_key(record), bytes.fromhex(record["Msg"]), bytes.fromhex(record["S"])
        rsa.verify(message, signature, key)
        with pytest.raises(InvalidSignature):
            verify(key, message, signature)


def test_nist_sigver15_em_format_tests_refused():
    # Encoded messages with the hash moved or the 00 after the padding removed.
    records = [r for r in cavs("asymmetric/RSA/SigVer15EMTest.txt") if r["SHAAlg"] == "SHA256"]
    assert len(records) == 30 and all(r["Result"].startswith("F") for r in records)
    for record in records:
        with pytest.raises(InvalidSignature):
            verify(nist_key(record), bytes.fromhex(record["Msg"]), bytes.fromhex(record["S"]))


def test_nist_siggen15_sha256_signatures_verify():
    records = [r for r in cavs("asymmetric/RSA/FIPS_186-2/SigGen15_186-3.rsp") if r["SHAAlg"] == "SHA256"]
    assert len(records) == 50
    for record in records:
        key = nist_key(record)
        verify(key, bytes.fromhex(record["Msg"]), bytes.fromhex(record["S"]))
        if key.n.bit_length() >= 2048:
            with pytest.raises(InvalidKey):  # e = 0x1001 is not 65537
                check_public_key(key)

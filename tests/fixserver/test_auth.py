"""Specification of fixserver/auth.py: password hashes, the address allow-list, the
failure guard (with a fake clock: plain numbers), and the fixserver-passwd command."""

from __future__ import annotations

import ipaddress
import subprocess
import sys
from pathlib import Path

import pytest

from fixserver import auth
from fixserver.auth import (
    HashFormatError,
    LogonGuard,
    PasswordHash,
    address_allowed,
    guard_key,
    hash_password,
    peer_address,
    verify_password,
)

# -- password hashes ---------------------------------------------------------------------


def test_a_hashed_password_verifies() -> None:
    encoded = hash_password("correct horse")

    assert verify_password("correct horse", encoded)
    assert verify_password(b"correct horse", encoded)  # as the bytes of a Logon's 554


def test_a_wrong_password_does_not_verify() -> None:
    encoded = hash_password("correct horse")

    assert not verify_password("correct horsE", encoded)
    assert not verify_password("", encoded)


def test_the_hash_names_its_scheme_and_parameters() -> None:
    encoded = hash_password("pw")

    scheme, params, salt, digest = encoded.split("$")
    assert (scheme, params) == ("scrypt", "n=16384,r=8,p=1")
    parsed = PasswordHash.parse(encoded)
    assert (parsed.n, parsed.r, parsed.p) == (16384, 8, 1)
    assert len(parsed.salt) == auth.SALT_BYTES and len(parsed.digest) == auth.HASH_BYTES
    assert str(parsed) == encoded


def test_a_hash_made_with_other_parameters_verifies_with_them() -> None:
    encoded = hash_password("pw", n=1 << 10, r=4, p=2)

    assert encoded.startswith("scrypt$n=1024,r=4,p=2$")
    assert verify_password("pw", encoded)


def test_two_hashes_of_one_password_differ_by_their_salt() -> None:
    first, second = hash_password("pw", n=1 << 10), hash_password("pw", n=1 << 10)

    assert first != second
    assert PasswordHash.parse(first).salt != PasswordHash.parse(second).salt
    assert verify_password("pw", first) and verify_password("pw", second)


@pytest.mark.parametrize(("text", "says"), [
    ("secret", "$-separated parts"),
    ("bcrypt$n=16384,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 43 + "=", "unknown scheme"),
    ("scrypt$16384,8,1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 43 + "=", "n=<N>,r=<R>,p=<P>"),
    ("scrypt$n=1000,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 43 + "=", "power of 2"),
    ("scrypt$n=16384,r=99,p=1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 43 + "=", "out of range"),
    ("scrypt$n=16384,r=8,p=1$not base64!$" + "A" * 43 + "=", "not base64"),
    ("scrypt$n=16384,r=8,p=1$AAAA$" + "A" * 43 + "=", "salt has 3 bytes"),
    ("scrypt$n=16384,r=8,p=1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA", "hash has 3 bytes"),
])
def test_a_malformed_hash_is_rejected_saying_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(HashFormatError, match=f".*{says.replace('$', '[$]')}"):
        PasswordHash.parse(text)


def test_verifying_against_a_malformed_hash_raises_rather_than_failing_quietly() -> None:
    with pytest.raises(HashFormatError):
        verify_password("pw", "plain-text-password")


# -- addresses ---------------------------------------------------------------------------


@pytest.mark.parametrize(("peer", "address"), [
    ("10.1.2.3:40000", "10.1.2.3"),
    ("::1:40000", "::1"),                       # the acceptor writes IPv6 without brackets
    ("[2001:db8::7]:40000", "2001:db8::7"),
    ("::ffff:10.1.2.3:40000", "10.1.2.3"),      # an IPv4 peer on a dual-stack socket
    ("fe80::1%eth0:40000", "fe80::1%eth0"),
])
def test_the_peer_address_is_read_from_host_and_port(peer: str, address: str) -> None:
    assert peer_address(peer) == ipaddress.ip_address(address)


def test_an_unreadable_peer_has_no_address() -> None:
    assert peer_address("somewhere:1") is None


NETWORKS = tuple(ipaddress.ip_network(n) for n in ("10.0.0.0/8", "192.0.2.7", "2001:db8::/32"))


@pytest.mark.parametrize(("address", "allowed"), [
    ("10.200.0.1", True),         # in an IPv4 network
    ("192.0.2.7", True),          # a single IPv4 address
    ("192.0.2.8", False),
    ("11.0.0.1", False),
    ("2001:db8:1::5", True),      # in an IPv6 network
    ("2001:db9::5", False),
    ("::1", False),
])
def test_the_allow_list_holds_ipv4_and_ipv6_addresses_and_networks(address: str,
                                                                    allowed: bool) -> None:
    assert address_allowed(ipaddress.ip_address(address), NETWORKS) is allowed


def test_an_empty_allow_list_allows_every_address() -> None:
    assert address_allowed(ipaddress.ip_address("203.0.113.9"), ())
    assert address_allowed(None, ())


def test_an_unreadable_address_is_not_allowed_by_a_list() -> None:
    assert not address_allowed(None, NETWORKS)


def test_an_ipv4_mapped_network_in_the_list_matches_the_ipv4_peer() -> None:
    mapped = (ipaddress.ip_network("::ffff:10.0.0.0/104"),)

    assert address_allowed(peer_address("::ffff:10.9.9.9:1"), mapped)


# -- the failure guard -------------------------------------------------------------------

T0 = 1_700_000_000.0


def guard_with_failures(count: int, address: str = "198.51.100.1", **kwargs: float
                        ) -> LogonGuard:
    guard = LogonGuard(**kwargs)  # type: ignore[arg-type]
    for i in range(count):
        guard.record_failure(address, T0 + i)
    return guard


def test_an_address_under_the_limit_is_not_delayed() -> None:
    guard = guard_with_failures(4, limit=5)

    assert guard.failures("198.51.100.1", T0 + 4) == 4
    assert guard.delay("198.51.100.1", T0 + 4) is None


def test_an_address_at_the_limit_is_delayed_by_the_base_delay() -> None:
    guard = guard_with_failures(5, limit=5, base_delay=1.0)

    assert guard.delay("198.51.100.1", T0 + 5) == 1.0


def test_the_delay_doubles_with_each_failure_past_the_limit() -> None:
    guard = guard_with_failures(5, limit=5, base_delay=1.0, max_delay=30.0)
    delays = []
    for i in range(4):
        delays.append(guard.delay("198.51.100.1", T0 + 10))
        guard.record_failure("198.51.100.1", T0 + 10 + i)

    assert delays == [1.0, 2.0, 4.0, 8.0]


def test_the_delay_is_capped() -> None:
    guard = guard_with_failures(30, limit=5, window=600.0, base_delay=1.0, max_delay=30.0)

    assert guard.delay("198.51.100.1", T0 + 30) == 30.0


def test_failures_age_out_of_the_sliding_window() -> None:
    guard = guard_with_failures(5, limit=5, window=60.0)   # at T0 .. T0+4

    assert guard.delay("198.51.100.1", T0 + 59) == 1.0
    assert guard.failures("198.51.100.1", T0 + 60.5) == 4  # the one at T0 has left
    assert guard.delay("198.51.100.1", T0 + 60.5) is None
    assert guard.failures("198.51.100.1", T0 + 65) == 0
    assert guard.tracked == 0


def test_other_addresses_are_not_affected() -> None:
    guard = guard_with_failures(10, "198.51.100.1")

    assert guard.delay("198.51.100.2", T0 + 10) is None
    assert guard.failures("198.51.100.2", T0 + 10) == 0


def test_ipv6_failures_count_per_64_network() -> None:
    guard = LogonGuard(limit=2)
    guard.record_failure(ipaddress.ip_address("2001:db8:0:1::a"), T0)
    guard.record_failure(ipaddress.ip_address("2001:db8:0:1::b"), T0)

    assert guard_key(ipaddress.ip_address("2001:db8:0:1::c")) == "2001:db8:0:1::/64"
    assert guard.delay(ipaddress.ip_address("2001:db8:0:1:ffff::1"), T0) == 1.0
    assert guard.delay(ipaddress.ip_address("2001:db8:0:2::a"), T0) is None


def test_the_guard_tracks_a_bounded_number_of_addresses() -> None:
    guard = LogonGuard(max_addresses=3)
    for i in range(10):
        guard.record_failure(f"198.51.100.{i}", T0)

    assert guard.tracked == 3
    assert guard.failures("198.51.100.9", T0) == 1   # the most recent are kept
    assert guard.failures("198.51.100.0", T0) == 0


def test_addresses_whose_failures_left_the_window_are_forgotten() -> None:
    guard = LogonGuard(window=60.0)
    guard.record_failure("198.51.100.1", T0)
    guard.record_failure("198.51.100.2", T0 + 61)

    assert guard.tracked == 1


# -- fixserver-passwd --------------------------------------------------------------------

# The console script pyproject.toml installs beside this interpreter.
FIXSERVER_PASSWD = Path(sys.executable).with_name("fixserver-passwd")


def passwd(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(FIXSERVER_PASSWD), *args], input=stdin, capture_output=True,
                          text=True, timeout=30)


def test_fixserver_passwd_stdin_prints_a_password_hash_line_that_verifies() -> None:
    result = passwd("--stdin", stdin="s3cret pass\n")

    assert result.returncode == 0, result.stderr
    line = result.stdout.strip()
    assert line.startswith("PasswordHash=scrypt$n=16384,r=8,p=1$")
    assert verify_password("s3cret pass", line.removeprefix("PasswordHash="))
    assert "s3cret" not in result.stdout + result.stderr


def test_fixserver_passwd_prints_the_username_line_too() -> None:
    result = passwd("--stdin", "--username", "BRK1", stdin="pw\n")

    username, password_hash = result.stdout.splitlines()
    assert username == "Username=BRK1"
    assert verify_password("pw", password_hash.removeprefix("PasswordHash="))


def test_fixserver_passwd_refuses_an_empty_password() -> None:
    result = passwd("--stdin", stdin="\n")

    assert result.returncode == 1
    assert result.stdout == ""
    assert "empty" in result.stderr

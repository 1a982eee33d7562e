"""Logon authentication: password hashes, the address allow-list, the failure guard.

Everything here is pure: no socket, no clock (``now`` is passed in, wall-clock
seconds), so the connection (``connection.py``) decides with it and tests drive it
directly.

* **Password hashes** are scrypt (``hashlib.scrypt``: salted, slow, memory-hard) in a
  self-describing string, ``scrypt$n=16384,r=8,p=1$<salt>$<hash>`` (salt and hash in
  standard base64), so the cost parameters travel with the hash and can be raised
  later without breaking the hashes already in ``sessions.cfg``. ``fixserver-passwd``
  (:func:`main`) prints one for the operator to paste as ``PasswordHash=``.
* **The allow-list** (``AllowedRemoteAddresses``) is a tuple of IPv4/IPv6 networks;
  empty allows every address. An IPv4 peer seen on a dual-stack socket as
  ``::ffff:a.b.c.d`` is matched as the IPv4 address it is.
* **The failure guard** (:class:`LogonGuard`) keeps the recent refused Logons per peer
  address in a sliding window; an address over the limit has its connections
  refused at their first message and closed only after a delay that doubles with
  every further failure, up to a cap (a tarpit).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import getpass
import hashlib
import hmac
import ipaddress
import math
import os
import re
import sys
from collections import deque
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# scrypt's interactive-login parameters (16 MiB, about 40 ms here): slow enough that
# a stolen sessions.cfg does not give up its passwords, quick enough for a Logon.
SCRYPT_N, SCRYPT_R, SCRYPT_P = 1 << 14, 8, 1
SALT_BYTES, HASH_BYTES = 16, 32
# Bounds on parameters read from a hash: a typo must not make every Logon allocate
# gigabytes or take minutes.
_MAX_N, _MAX_R, _MAX_P = 1 << 20, 32, 16
_MAX_MEMORY = 1 << 30
_FORMAT = "scrypt$n=<N>,r=<R>,p=<P>$<salt base64>$<hash base64>"
_PARAMS = re.compile(r"n=(\d+),r=(\d+),p=(\d+)")


class HashFormatError(ValueError):
    """A PasswordHash that is not one ``fixserver-passwd`` could have printed."""


@dataclass(frozen=True, slots=True)
class PasswordHash:
    """A parsed scrypt password hash: its cost parameters, salt and derived key."""

    n: int
    r: int
    p: int
    salt: bytes
    digest: bytes

    @classmethod
    def parse(cls, text: str) -> PasswordHash:
        """Read ``scrypt$n=..,r=..,p=..$<salt>$<hash>``; HashFormatError says what is wrong."""
        parts = text.strip().split("$")
        if len(parts) != 4:
            raise HashFormatError(f"expected {_FORMAT} (as fixserver-passwd prints it), "
                                  f"got {len(parts)} $-separated parts")
        scheme, params, salt_b64, digest_b64 = parts
        if scheme != "scrypt":
            raise HashFormatError(f"unknown scheme {scheme!r}: only scrypt is supported "
                                  f"({_FORMAT})")
        m = _PARAMS.fullmatch(params)
        if m is None:
            raise HashFormatError(f"parameters {params!r} are not n=<N>,r=<R>,p=<P>")
        n, r, p = (int(x) for x in m.groups())
        if not (2 <= n <= _MAX_N and n & (n - 1) == 0):
            raise HashFormatError(f"n={n} must be a power of 2 from 2 to {_MAX_N}")
        if not (1 <= r <= _MAX_R and 1 <= p <= _MAX_P and 128 * n * r <= _MAX_MEMORY):
            raise HashFormatError(f"r={r}, p={p} out of range (r 1..{_MAX_R}, p 1..{_MAX_P}, "
                                  f"128*n*r at most {_MAX_MEMORY >> 20} MiB)")
        salt, digest = _b64(salt_b64, "salt"), _b64(digest_b64, "hash")
        if len(salt) < 8:
            raise HashFormatError(f"the salt has {len(salt)} bytes, at least 8 are needed")
        if not 16 <= len(digest) <= 64:
            raise HashFormatError(f"the hash has {len(digest)} bytes, expected 16 to 64")
        return cls(n, r, p, salt, digest)

    def __str__(self) -> str:
        salt = base64.b64encode(self.salt).decode()
        digest = base64.b64encode(self.digest).decode()
        return f"scrypt$n={self.n},r={self.r},p={self.p}${salt}${digest}"

    def _derive(self, password: bytes) -> bytes:
        return hashlib.scrypt(password, salt=self.salt, n=self.n, r=self.r, p=self.p,
                              maxmem=2 * 128 * self.r * (self.n + self.p + 2),
                              dklen=len(self.digest))

    def verify(self, password: str | bytes) -> bool:
        """Whether ``password`` (bytes as received, or text, UTF-8) has this hash;
        the comparison takes the same time wherever the first difference is."""
        if isinstance(password, str):
            password = password.encode()
        return hmac.compare_digest(self._derive(password), self.digest)


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise HashFormatError(f"the {what} {text!r} is not base64") from None


def hash_password(password: str | bytes, *, n: int = SCRYPT_N, r: int = SCRYPT_R,
                  p: int = SCRYPT_P, salt: bytes | None = None) -> str:
    """The PasswordHash string of ``password`` with a fresh random salt."""
    if isinstance(password, str):
        password = password.encode()
    salt = salt if salt is not None else os.urandom(SALT_BYTES)
    params = PasswordHash(n, r, p, salt, bytes(HASH_BYTES))
    PasswordHash.parse(str(params))  # out-of-range parameters fail here, before deriving
    return str(PasswordHash(n, r, p, salt, params._derive(password)))


def verify_password(password: str | bytes, encoded: str) -> bool:
    """Whether ``password`` matches the PasswordHash string ``encoded``."""
    return PasswordHash.parse(encoded).verify(password)


# -- addresses ----------------------------------------------------------------------------


def peer_address(peer: str) -> IPAddress | None:
    """The IP address of a peer written ``host:port`` (``Connection.peer``; IPv6 with
    or without brackets), an IPv4-mapped IPv6 address as IPv4; None if unreadable."""
    host = peer
    if peer.startswith("["):
        host = peer[1:peer.find("]")]
    elif ":" in peer:
        host = peer.rpartition(":")[0]
    for candidate in (host, peer):
        try:
            address = ipaddress.ip_address(candidate)
        except ValueError:
            continue
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return address.ipv4_mapped
        return address
    return None


def address_allowed(address: IPAddress | None, allowed: tuple[IPNetwork, ...]) -> bool:
    """Whether ``address`` is in one of the ``allowed`` networks (none listed: any is)."""
    if not allowed:
        return True
    if address is None:
        return False
    forms: tuple[IPAddress, ...] = (address,)
    if isinstance(address, ipaddress.IPv4Address):
        # A network written in IPv4-mapped form (::ffff:10.0.0.0/104) still matches.
        forms = (address, ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + address.packed))
    return any(a in net for a in forms for net in allowed)


def guard_key(address: IPAddress | str | None) -> str:
    """What the guard counts failures by: an IPv4 address, or an IPv6 /64 (one host's
    usual allocation: counting single IPv6 addresses would let a host rotate through
    2**64 of them); an unreadable peer by its text."""
    if isinstance(address, ipaddress.IPv4Address):
        return str(address)
    if isinstance(address, ipaddress.IPv6Address):
        return f"{ipaddress.IPv6Address(int(address) >> 64 << 64)}/64"
    return address or "?"


# -- the failure guard ------------------------------------------------------------------


class LogonGuard:
    """Refused Logons per address (:func:`guard_key`) in a sliding window.

    An address with ``limit`` or more failures in the last ``window`` seconds is over
    the limit: :meth:`delay` then says how long to hold its next connection before
    closing it, ``base_delay`` at the limit, doubling with each further failure, at
    most ``max_delay``. Failures simply age out of the window (a successful Logon
    does not clear them, so one valid login cannot hide a brute force on another).
    At most ``max_addresses`` addresses are tracked, the least recent dropped first.
    """

    def __init__(self, limit: int = 5, window: float = 60.0, base_delay: float = 1.0,
                 max_delay: float = 30.0, max_addresses: int = 100_000) -> None:
        if limit < 1 or window <= 0 or base_delay <= 0 or max_delay < base_delay \
                or max_addresses < 1:
            raise ValueError("LogonGuard needs limit >= 1, window > 0, "
                             "0 < base_delay <= max_delay and max_addresses >= 1")
        self.limit = limit
        self.window = window
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_addresses = max_addresses
        # Enough failures per address to reach the cap; older ones change nothing.
        self._keep = limit + math.ceil(math.log2(max_delay / base_delay)) + 1
        # Ordered by last failure, oldest first (re-inserted on every failure).
        self._failures: dict[str, deque[float]] = {}

    def record_failure(self, address: IPAddress | str | None, now: float) -> None:
        key = guard_key(address)
        times = self._failures.pop(key, None)
        if times is None:
            times = deque(maxlen=self._keep)
        times.append(now)
        self._failures[key] = times
        failures = self._failures
        # Forget addresses whose last failure left the window (amortized: each goes once).
        while failures:
            oldest_key = next(iter(failures))
            if len(failures) <= self.max_addresses and \
                    failures[oldest_key][-1] > now - self.window:
                break
            del failures[oldest_key]

    def failures(self, address: IPAddress | str | None, now: float) -> int:
        """Failures of ``address`` in the window ending at ``now``."""
        key = guard_key(address)
        times = self._failures.get(key)
        if times is None:
            return 0
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
        return len(times)

    def delay(self, address: IPAddress | str | None, now: float) -> float | None:
        """How long to hold a connection from ``address`` before closing it, or None
        while the address is under the limit."""
        count = self.failures(address, now)
        if count < self.limit:
            return None
        return min(self.max_delay, self.base_delay * 2.0 ** (count - self.limit))

    @property
    def tracked(self) -> int:
        """Addresses with failures on record (some may have aged out since)."""
        return len(self._failures)


# -- fixserver-passwd ----------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    """``fixserver-passwd``: print the PasswordHash line of a session's password."""
    parser = argparse.ArgumentParser(
        prog="fixserver-passwd",
        description="Hash a logon password for sessions.cfg: prints the PasswordHash= line "
                    "to paste into the session's [SESSION] section, next to Username=.")
    parser.add_argument("--stdin", action="store_true",
                        help="read the password from the first line of standard input "
                             "instead of asking on the terminal")
    parser.add_argument("--username", metavar="NAME",
                        help="also print the Username= line")
    args = parser.parse_args(argv)
    try:
        if args.stdin:
            password = sys.stdin.readline().removesuffix("\n").removesuffix("\r")
        else:
            password = getpass.getpass("Password: ")
            if getpass.getpass("Again: ") != password:
                print("fixserver-passwd: the passwords differ", file=sys.stderr)
                return 1
    except (EOFError, KeyboardInterrupt):
        print("fixserver-passwd: no password read", file=sys.stderr)
        return 1
    if not password:
        print("fixserver-passwd: the password is empty", file=sys.stderr)
        return 1
    if "\x01" in password:
        print("fixserver-passwd: a FIX field cannot hold SOH (\\x01)", file=sys.stderr)
        return 1
    if args.username is not None:
        print(f"Username={args.username}")
    print(f"PasswordHash={hash_password(password)}")
    return 0

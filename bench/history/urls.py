"""Store URLs without SQLAlchemy: split the way libpq splits them, and passwords taken out.

A PostgreSQL URL may carry a password (from a config file, --store or $BENCH_STORE). It is
used to connect and never shown or written: `without_password` drops it from what is
printed, from the config's copy in manifest.json (bench.history.settings) and from the
store's copy of each manifest (bench.history.record). libpq's own sources keep it out of
the URL altogether: $PGPASSWORD, $PGPASSFILE or ~/.pgpass, and `?passfile=PATH`.

An error about a URL never quotes it: a malformed URL may hold a password anywhere. Plain
Python, so the config (bench.history.settings) checks a URL at load without SQLAlchemy.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from foundation.errors import ConfigError

SCHEMES = ("sqlite", "postgresql", "postgres")
ENCODE = ("percent-encode @ : / ? # in a user name or password (%40 %3A %2F %3F %23), or give "
          "the password through $PGPASSWORD or a password file ($PGPASSFILE, ?passfile=PATH)")


@dataclass(frozen=True)
class PostgresAddress:
    """The parts of postgresql://[USER[:PASSWORD]@][HOST][:PORT][/DATABASE][?PARAMS]."""

    user: str | None
    password: str | None
    host: str | None
    port: int | None
    database: str | None
    query: dict[str, str | tuple[str, ...]]


def scheme_of(url: str) -> str:
    """The kind of store a URL names (sqlite, postgresql), refusing any other."""
    scheme = url.partition("://")[0].lower().partition("+")[0]
    if scheme not in SCHEMES:
        shown = "".join(c for c in scheme if c.isprintable())[:40]
        raise ConfigError(f"store URL: unknown kind of store {shown!r} (sqlite:///PATH, "
                          "postgresql://..., or a file path)")
    return "postgresql" if scheme == "postgres" else scheme


def postgres_address(url: str) -> PostgresAddress:
    """A postgresql:// URL's parts. The user part ends at the last @ before the path, as in
    libpq, so an unencoded @ in a password still connects; anything else malformed is one
    line that quotes none of the URL."""
    rest = url.partition("://")[2]
    if "#" in rest:
        raise ConfigError(f"store URL: malformed postgresql URL (a '#'): {ENCODE}")
    address, _, query = rest.partition("?")
    netloc, _, database = address.partition("/")
    if "@" in database:
        raise ConfigError(f"store URL: malformed postgresql URL (an '@' after the host): {ENCODE}")
    userinfo, at, hostport = netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    host, port = host_and_port(hostport)
    return PostgresAddress(unquote(user) or None, unquote(password) if at and password else None,
                           unquote(host) or None, port, unquote(database) or None,
                           query_of(query))


def host_and_port(hostport: str) -> tuple[str, int | None]:
    """`host`, `host:5432`, `[::1]:5432`; the port a number from 1 to 65535."""
    if hostport.startswith("["):
        host, bracket, tail = hostport[1:].partition("]")
        if not bracket or (tail and not tail.startswith(":")):
            raise ConfigError("store URL: malformed postgresql URL (an unclosed '[' around the host)")
        port_text = tail[1:]
    else:
        host, _, port_text = hostport.partition(":")
    if not port_text:
        return host, None
    if not port_text.isascii() or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ConfigError("store URL: the port is not a number from 1 to 65535 (not shown: it "
                          f"may be part of a password; {ENCODE})")
    return host, int(port_text)


def query_of(query: str) -> dict[str, str | tuple[str, ...]]:
    """libpq parameters: host=/socket/dir, passfile=PATH, sslmode=... (repeatable)."""
    found: dict[str, list[str]] = {}
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError:
        raise ConfigError("store URL: malformed parameters after '?' (NAME=VALUE&...)") from None
    for name, value in pairs:
        found.setdefault(name, []).append(value)
    return {name: values[0] if len(values) == 1 else tuple(values) for name, values in found.items()}


def check_store(store: str) -> str:
    """A store name as the config gives it, refused at load when it is a malformed URL."""
    if "://" in store and scheme_of(store) == "postgresql":
        postgres_address(store)
    return store


def without_password(text: str) -> str:
    """Text as it may be printed or written: in a URL with a password, everything between
    :// and the last @ goes but the user name (so a password holding an unencoded @ or /
    goes whole); a URL without one, and any other text, as it is."""
    scheme, separator, rest = text.partition("://")
    first = rest.partition("@")[0]
    if not separator or "@" not in rest or not any(mark in first for mark in ":/?#"):
        return text  # no user part, or USER@HOST: no password
    userinfo, _, after = rest.rpartition("@")
    user = userinfo.partition(":")[0].partition("/")[0].partition("?")[0].partition("#")[0]
    return f"{scheme}://{user}@{after}" if user else f"{scheme}://{after}"


def redacted(document: Any) -> Any:
    """A JSON document (a manifest) with the password of every URL in it removed."""
    if isinstance(document, str):
        return without_password(document)
    if isinstance(document, dict):
        return {key: redacted(value) for key, value in document.items()}
    if isinstance(document, list):
        return [redacted(value) for value in document]
    return document

"""The Toloka connection: where the API is and how to authenticate, read from an Airflow connection.

The connection (``conn_type`` ``toloka``) keeps the token in ``password``; ``extra.environment`` picks
``PRODUCTION`` or ``SANDBOX``, an ``extra.url`` points elsewhere, and a ``host`` holding a URL (e.g. the
local emulator) overrides both.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_toloka.exceptions import TolokaError

if TYPE_CHECKING:
    from airflow.sdk import Connection

__all__ = [
    "DEFAULT_CONN_ID",
    "ENVIRONMENTS",
    "ConnectionSettings",
    "auth_header",
    "parse_extra",
    "settings_from_connection",
]

DEFAULT_CONN_ID = "toloka_default"
"""The connection every hook, operator, sensor and trigger uses unless told otherwise."""
ENVIRONMENTS = {"PRODUCTION": "https://toloka.dev", "SANDBOX": "https://sandbox.toloka.dev"}


@dataclass(frozen=True)
class ConnectionSettings:
    """A resolved connection; the auth header is kept out of ``repr`` so it never lands in a log.

    :param base_url: root of the API host, without ``/api``.
    :param authorization: the ``Authorization`` header value.
    """

    base_url: str
    authorization: str = field(repr=False)

    def headers(self) -> dict[str, str]:
        """The headers every request carries.

        :return: authorization, user agent and accept headers.
        """
        from airflow_toloka import __version__

        return {
            "Authorization": self.authorization,
            "User-Agent": f"airflow-toloka/{__version__}",
            "Accept": "application/json",
        }


def _is_api_key(token: str) -> bool:
    # Toloka's own clients (toloka-kit, the Java SDK) treat a credential as an API key when it has exactly two
    # dots and the first one sits at index 22-24; anything else is an OAuth token.
    return token.count(".") == 2 and token.index(".") in (22, 23, 24)


def auth_header(token: str) -> str:
    """The ``Authorization`` value for a token, chosen the way Toloka's clients choose it.

    :param token: an OAuth token or API key, optionally already prefixed with ``OAuth`` or ``ApiKey``.
    :return: the header value.
    """
    token = token.strip()
    scheme, _, rest = token.partition(" ")
    if rest and scheme in ("OAuth", "ApiKey"):
        return f"{scheme} {rest.strip()}"
    return f"{'ApiKey' if _is_api_key(token) else 'OAuth'} {token}"


def _base_url_from_host(host: str, port: int | None) -> str:
    if "://" not in host:
        bare = host.split("/")[0]
        try:
            loopback = ipaddress.ip_address(bare).is_loopback
        except ValueError:
            loopback = bare == "localhost"
        host = f"{'http' if loopback else 'https'}://{host}"
    parts = urlsplit(host)
    if "@" in parts.netloc:
        # Never echoed: what stands before the "@" is a credential, and the base URL lands in XCom and logs.
        raise TolokaError(
            "Toloka connection host holds a user name or password; put the API token in the password field "
            "and only the URL in host"
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TolokaError(f"Toloka connection host {host!r} is not a valid http(s) URL")
    netloc = parts.netloc
    if port and parts.port is None:
        netloc = f"{netloc}:{port}"
    path = parts.path.rstrip("/")
    for suffix in ("/api/v1", "/api"):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
    return f"{parts.scheme}://{netloc}{path}"


def parse_extra(conn: Connection) -> dict[str, Any]:
    """The connection's extra as a dict.

    Parsed by hand rather than through ``extra_dejson``: that property calls the synchronous secret masker,
    which must not run on the triggerer's event loop.

    :param conn: the Airflow connection.
    :return: the extra fields.
    :raises TolokaError: when the extra is not a JSON object.
    """
    raw = conn.extra
    if not raw:
        return {}
    if isinstance(raw, dict):
        return raw
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise TolokaError(
            f"Toloka connection '{conn.conn_id}': extra is not valid JSON ({exc.msg})"
        ) from None
    if not isinstance(parsed, dict):
        raise TolokaError(f"Toloka connection '{conn.conn_id}': extra must be a JSON object")
    return parsed


def settings_from_connection(conn: Connection, extra: Mapping[str, Any] | None = None) -> ConnectionSettings:
    """Resolve base URL and auth header: ``host`` wins over extra ``url``, which wins over ``environment``.

    :param conn: the Airflow connection.
    :param extra: its parsed extra (parsed here when omitted).
    :return: the settings.
    :raises TolokaError: naming the connection and what is wrong with it.
    """
    extra = parse_extra(conn) if extra is None else extra
    token = (conn.password or "").strip()
    if not token:
        raise TolokaError(
            f"Toloka connection '{conn.conn_id}' has no API token: put the OAuth token or API key in the "
            "connection's password field"
        )
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in token):
        # Never echoed: HTTP libraries would put it, whole, into their error messages.
        raise TolokaError(
            f"Toloka connection '{conn.conn_id}': the API token holds a line break or another control "
            "character (a wrapped paste?); store it on one line"
        )
    url = extra.get("url") or extra.get("extra__toloka__url")
    environment = extra.get("environment") or extra.get("extra__toloka__environment")
    if conn.host:
        base_url = _base_url_from_host(conn.host, conn.port)
    elif url:
        if not isinstance(url, str):
            raise TolokaError(f"Toloka connection '{conn.conn_id}': extra 'url' must be a string")
        base_url = _base_url_from_host(url, None)
    else:
        env = str(environment or "PRODUCTION").upper()
        if env not in ENVIRONMENTS:
            raise TolokaError(
                f"Toloka connection '{conn.conn_id}': extra 'environment' is {environment!r}; "
                f"expected one of {sorted(ENVIRONMENTS)}"
            )
        base_url = ENVIRONMENTS[env]
    return ConnectionSettings(base_url=base_url, authorization=auth_header(token))

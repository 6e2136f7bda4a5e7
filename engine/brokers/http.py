"""The one way the engine opens outbound HTTP(S): certificates always verified.

``AUTOTRADER_CA_FILE`` adds a CA bundle to trust (a private gateway, a test
CA); it never turns verification off.
"""

from __future__ import annotations

import ssl

import aiohttp


def tls_context(ca_file: str = "") -> ssl.SSLContext:
    context = ssl.create_default_context()  # CERT_REQUIRED and hostname checks
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


def client_session(ca_file: str = "", limit: int = 100) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=tls_context(ca_file), limit=limit))

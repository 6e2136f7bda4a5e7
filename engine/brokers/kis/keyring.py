"""One owner per KIS app key in the process: its token, its approval key, its throttle, its socket.

KIS issues one access token a minute per app key (``EGW00133``) and counts REST
calls per app key per second (``EGW00201``), so everything in the process that
uses a key — the market-data source and every account registered with it — must
share one :class:`KisAuth` and one :class:`Throttle`. :class:`KisKeyring` hands out
that one :class:`KisRest` per (app key, mode); the HTTP session is shared too.

KIS allows one WebSocket session per app key (a second gets ``OPSP8996 ALREADY IN
USE appkey``), so the keyring also owns that one session (:meth:`KisKeyring.session`,
a :class:`~engine.brokers.kis.key_session.KeySession`): the market data of the key
and the fill notices of every account on it ride it; it closes when its last user
leaves.

A second secret for a key already in use is refused (:class:`KisTokenError`
``EGW00105``): KIS binds a secret to its key, so one of the two is wrong, and the
one in use was checked first.
"""

from __future__ import annotations

import logging

import aiohttp

from engine.brokers.http import client_session
from engine.brokers.kis.auth import KisAuth, TokenStore
from engine.brokers.kis.errors import KisTokenError
from engine.brokers.kis.key_session import KeySession
from engine.brokers.kis.listings import KisListings
from engine.brokers.kis.rest import KisRest
from engine.brokers.kis.stream import stream_options
from engine.brokers.kis.throttle import Throttle, default_rate
from engine.runtime.clock import Clock
from engine.settings import Settings

log = logging.getLogger(__name__)


class KisKeyring:
    def __init__(self, settings: Settings, clock: Clock, store: TokenStore | None = None,
                 http: aiohttp.ClientSession | None = None) -> None:
        self._settings = settings
        self._clock = clock
        self.store = store  # may be set later (the database opens after the app is built)
        self._http = http
        self._owns_http = http is None  # a session passed in is its owner's to close
        self._rests: dict[tuple[str, bool], KisRest] = {}
        self._sessions: dict[tuple[str, bool], KeySession] = {}
        self.listings = KisListings()  # codes' markets, learnt once for the process (search-info)

    def __repr__(self) -> str:
        return f"KisKeyring(keys={len(self._rests)}, sessions={len(self._sessions)})"

    @property
    def http(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = client_session(self._settings.ca_file)
            self._owns_http = True
        return self._http

    def ws_url(self, paper: bool) -> str:
        return self._settings.kis_paper_ws_url if paper else self._settings.kis_ws_url

    def session(self, auth: KisAuth, paper: bool) -> KeySession:
        """The one WebSocket session of ``auth``'s app key in this mode (made on first use)."""
        key = (auth.app_key, paper)
        found = self._sessions.get(key)
        if found is None or found.closed:
            name = f"kis-ws-{auth.fingerprint}{'-paper' if paper else ''}"
            found = self._sessions[key] = KeySession(
                name, auth, self.http, self.ws_url(paper), self._clock, stream_options(self._settings),
                on_closed=lambda s: self._forget(key, s),
            )
        return found

    def _forget(self, key: tuple[str, bool], session: KeySession) -> None:
        if self._sessions.get(key) is session:
            del self._sessions[key]

    def sessions(self) -> list[KeySession]:
        return list(self._sessions.values())

    def rest_url(self, paper: bool) -> str:
        return self._settings.kis_paper_rest_url if paper else self._settings.kis_rest_url

    def rest(self, app_key: str, app_secret: str, paper: bool) -> KisRest:
        """The one :class:`KisRest` of ``app_key`` in this mode (made on first use)."""
        found = self._rests.get((app_key, paper))
        if found is not None:
            if found.auth.app_secret != app_secret:
                raise KisTokenError(403, "EGW00105", "this app key is in use here with another app secret")
            return found
        rest = self._rests[(app_key, paper)] = self._make(app_key, app_secret, paper)
        log.info("KIS app key %s (%s) in use", rest.auth.fingerprint, "paper" if paper else "real")
        return rest

    def _make(self, app_key: str, app_secret: str, paper: bool) -> KisRest:
        s, url = self._settings, self.rest_url(paper)
        auth = KisAuth(self.http, url, app_key, app_secret, self._clock, timeout_s=s.kis_timeout_s,
                       store=self.store, max_wait_s=s.kis_timeout_s)  # never park an actor for a minute
        throttle = Throttle(s.kis_rest_rate_per_s or default_rate(paper), self._clock)
        return KisRest(self.http, url, auth, throttle, timeout_s=s.kis_timeout_s)

    async def check(self, app_key: str, app_secret: str, paper: bool, account_number: str) -> None:
        """Prove a key, secret and account work: a token (the key's one slot) and one balance page.

        Raises :class:`KisApiError` with KIS's words (bad key, secret, account) or
        :class:`KisTokenError` ``EGW00133`` / :class:`KisTransportError` when KIS cannot tell
        now. A key that passes joins the keyring, its token kept (no second issuance).
        """
        from engine.brokers.kis.broker import TR_BALANCE, mode_tr_id
        from engine.brokers.kis.inquiries import BALANCE_PATH, balance_params

        rest = self.known(app_key, paper)
        if rest is not None and rest.auth.app_secret != app_secret:
            raise KisTokenError(403, "EGW00105", "this app key is in use here with another app secret")
        candidate = rest or self._make(app_key, app_secret, paper)
        try:
            await candidate.get(BALANCE_PATH, mode_tr_id(TR_BALANCE, paper),
                                balance_params(account_number[:8], account_number[8:]))
        finally:
            if rest is None and candidate.auth.token_ready:  # the key is good: keep its token and throttle
                self._rests.setdefault((app_key, paper), candidate)

    def use_store(self, store: TokenStore) -> None:
        """Persist tokens in ``store`` (for keys in use already, too)."""
        self.store = store
        for rest in self._rests.values():
            rest.auth.use_store(store)

    def known(self, app_key: str, paper: bool) -> KisRest | None:
        return self._rests.get((app_key, paper))

    async def close(self) -> None:
        sessions, self._sessions = list(self._sessions.values()), {}
        for session in sessions:
            session.closed = True
            await session.stream.stop()
        http, self._http = self._http, None
        if http is not None and self._owns_http:
            await http.close()

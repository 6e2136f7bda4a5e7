"""The request/reply codec: msgspec MessagePack envelopes, one decoder per type, built once.

A request is a :class:`Call` (``kind`` names the handler, ``body`` the encoded
message); its answer an :class:`Answer` naming the result's type, or the error
the handler raised (re-raised in the caller, as an in-process ``ask`` does).
Only the types registered in a :class:`Codec` cross the wire; an ``ActorRef``
never does (a ``reply_to`` is dropped by the caller before encoding).
"""

from __future__ import annotations

from typing import Any

import msgspec

from engine.runtime import AskTimeout


class Call(msgspec.Struct, frozen=True, array_like=True):
    kind: str
    body: bytes
    timeout_s: float  # the caller's ask timeout: the handler answers within it
    wait_for_room: bool = True  # False: a full mailbox refuses at once (MailboxFull), as in-process


class Answer(msgspec.Struct, frozen=True, array_like=True):
    type: str = ""  # the result's type name ("" for None)
    body: bytes = b""
    error: str = ""  # the message of the exception the handler raised
    error_kind: str = ""  # its class name


class RemoteTimeout(AskTimeout):
    """A remote ask timed out (AskTimeout there): an AskTimeout here too."""

    def __init__(self, message: str) -> None:
        TimeoutError.__init__(self, message)
        self.path = "remote"


class RemoteError(Exception):
    """The remote handler raised ``kind`` (not one the caller knows to re-raise as is)."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(f"{kind}: {message}")
        self.kind = kind


_SCALARS: dict[str, type] = {"int": int, "str": str, "bool": bool, "float": float, "list": list, "dict": dict}


class Codec:
    def __init__(self, types: list[type], errors: list[type[BaseException]] = ()) -> None:  # type: ignore[assignment]
        self.types = {t.__name__: t for t in types} | _SCALARS
        self.errors = {e.__name__: e for e in errors}
        self._enc = msgspec.msgpack.Encoder()
        self._dec = {name: msgspec.msgpack.Decoder(t) for name, t in self.types.items()}
        self._call = msgspec.msgpack.Decoder(Call)
        self._answer = msgspec.msgpack.Decoder(Answer)

    # -- requests --------------------------------------------------------------------------
    def call(self, msg: Any, timeout_s: float, wait_for_room: bool = True) -> bytes:
        return self._enc.encode(Call(type(msg).__name__, self._enc.encode(msg), timeout_s, wait_for_room))

    def open_call(self, data: bytes) -> Call:
        return self._call.decode(data)

    def body(self, call: Call) -> Any:
        return self._body(call.kind, call.body)

    # -- answers -------------------------------------------------------------------------------
    def answer(self, result: Any) -> bytes:
        if result is None:
            return self._enc.encode(Answer())
        name = type(result).__name__
        if name not in self.types:
            raise TypeError(f"{name} is not a registered wire type")
        return self._enc.encode(Answer(name, self._enc.encode(result)))

    def failure(self, exc: BaseException) -> bytes:
        return self._enc.encode(Answer(error=str(exc), error_kind=type(exc).__name__))

    def open_answer(self, data: bytes) -> Any:
        """The result, or raise what the handler raised."""
        answer = self._answer.decode(data)
        if answer.error_kind:
            if answer.error_kind in ("TimeoutError", "AskTimeout"):
                raise RemoteTimeout(answer.error)
            known = self.errors.get(answer.error_kind)
            if known is not None:
                exc = known.__new__(known)  # whatever its __init__ takes: the remote message, a remote path
                Exception.__init__(exc, answer.error)
                exc.path = "remote"  # type: ignore[attr-defined]  # engine errors name an actor path
                exc.limit = 0  # type: ignore[attr-defined]  # MailboxFull's
                raise exc
            raise RemoteError(answer.error_kind, answer.error)
        return None if not answer.type else self._body(answer.type, answer.body)

    def _body(self, name: str, body: bytes) -> Any:
        decoder = self._dec.get(name)
        if decoder is None:
            raise TypeError(f"{name} is not a registered wire type")
        return decoder.decode(body)

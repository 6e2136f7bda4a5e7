"""The keyring: one KisRest per app key; logs tell keys apart without showing them."""

import pytest

from engine.brokers.kis.auth import key_fingerprint
from engine.brokers.kis.errors import KisTokenError
from engine.brokers.kis.keyring import KisKeyring
from engine.runtime.clock import ManualClock
from engine.settings import Settings


def test_fingerprints_tell_keys_with_the_same_last_characters_apart():
    a, b = "PSabcdefghijklmnopqrst1234", "PSzyxwvutsrqponmlkjihg1234"
    assert key_fingerprint(a) != key_fingerprint(b)
    assert key_fingerprint(a) == key_fingerprint(a)  # stable across processes
    for key in (a, b):
        fp = key_fingerprint(key)
        assert fp.startswith("key#") and len(fp) == 12 and "1234" not in fp


async def test_one_rest_per_key_and_mode_and_a_second_secret_is_refused():
    ring = KisKeyring(Settings(), ManualClock())
    try:
        first = ring.rest("key-1", "secret-1", False)
        assert ring.rest("key-1", "secret-1", False) is first
        assert ring.rest("key-1", "secret-1", True) is not first  # 모의투자 is another host
        assert ring.rest("key-2", "secret-2", False).throttle is not first.throttle
        with pytest.raises(KisTokenError) as err:
            ring.rest("key-1", "other-secret", False)
        assert err.value.code == "EGW00105"
        assert "key-1" not in repr(first.auth) and "secret" not in repr(first.auth)
    finally:
        await ring.close()

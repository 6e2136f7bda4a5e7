"""Encrypted fill notices (H0STCNI0/H0STCNI9): AES-256-CBC decrypt and both layouts."""

import base64

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from engine.brokers.kis.errors import FrameError
from engine.brokers.kis.frames import decrypt, encrypt, parse_fill_notices, split_frame
from tests.engine.brokers.kis.layouts import NOTICE_23, NOTICE_26

KEY = "iuheqrmvfxoceaxeyqgjwesozgizmmgx"  # the documented ack's output.key (32 chars)
IV = "d59d91fcf9fd0044"  # and output.iv (16 chars)


def _official_encrypt(text: str) -> str:
    """What KIS does, written independently of engine.brokers.kis.frames.encrypt."""
    padder = padding.PKCS7(algorithms.AES.block_size).padder()
    data = padder.update(text.encode()) + padder.finalize()
    enc = Cipher(algorithms.AES(KEY.encode()), modes.CBC(IV.encode())).encryptor()
    return base64.b64encode(enc.update(data) + enc.finalize()).decode()


def test_decrypt_an_encrypted_notice_frame():
    raw = "1|H0STCNI0|001|" + _official_encrypt("^".join(NOTICE_26))
    f = split_frame(raw)
    assert f.encrypted
    [n] = parse_fill_notices(decrypt(f.data, KEY, IV), f.count)
    assert n.filled and not n.rejected
    assert (n.side, n.code, n.quantity, n.price, n.order_no) == ("buy", "005930", 10, 73100, "0000006555")
    assert (n.exchange, n.order_price, n.account_name, n.time) == ("1", 73100, "HONG GILDONG", "123930")


def test_encrypt_round_trips():
    assert decrypt(encrypt("a^b^한글", KEY, IV), KEY, IV) == "a^b^한글"


def test_old_23_field_layout_is_accepted():
    [n] = parse_fill_notices("^".join(NOTICE_23), 1)
    assert n.order_price == 73200 and n.exchange == "" and n.quantity == 10


def test_acceptance_notice_and_sell_side():
    rec = list(NOTICE_26)
    rec[4], rec[13], rec[25] = "01", "1", ""
    [n] = parse_fill_notices("^".join(rec + rec[:0]), 1)
    assert n.side == "sell" and not n.filled and n.order_price == 0


def test_two_notices_in_one_frame():
    assert len(parse_fill_notices("^".join(NOTICE_26 + NOTICE_26), 2)) == 2


@pytest.mark.parametrize(
    "data,key,iv",
    [
        ("not base64!", KEY, IV),
        (base64.b64encode(b"0123456789abcdef").decode(), KEY, IV),  # bad padding
        (_official_encrypt("x"), KEY, "short"),
        (_official_encrypt("x"), "k" * 32, IV),  # wrong key: bad padding or garbage
    ],
)
def test_undecryptable_input(data, key, iv):
    try:
        out = decrypt(data, key, iv)
    except FrameError:
        return
    assert out != "x"


@pytest.mark.parametrize("fields", [NOTICE_26[:22], [*NOTICE_26[:4], "03", *NOTICE_26[5:]], [*NOTICE_26[:9], "ten", *NOTICE_26[10:]]])
def test_malformed_notices(fields):
    with pytest.raises(FrameError):
        parse_fill_notices("^".join(fields), 1)

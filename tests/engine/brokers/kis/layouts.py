"""Records written by hand from KIS_PROTOCOL.md §3.5-3.7 (not by our simulator)."""

# H0STCNT0, 46 documented fields, in table order.
TRADE_46 = [
    "005930",  # 0 MKSC_SHRN_ISCD
    "123929",  # 1 STCK_CNTG_HOUR
    "73100",  # 2 STCK_PRPR
    "5",  # 3 PRDY_VRSS_SIGN (하락)
    "-19500",  # 4 PRDY_VRSS (already signed)
    "-21.06",  # 5 PRDY_CTRT
    "73287.52",  # 6 WGHN_AVRG_STCK_PRC
    "73500",  # 7 STCK_OPRC
    "73800",  # 8 STCK_HGPR
    "72900",  # 9 STCK_LWPR
    "73200",  # 10 ASKP1
    "73100",  # 11 BIDP1
    "17",  # 12 CNTG_VOL
    "8123456",  # 13 ACML_VOL
    "595371220600",  # 14 ACML_TR_PBMN
    "21340",  # 15 SELN_CNTG_CSNU
    "19871",  # 16 SHNU_CNTG_CSNU
    "-1469",  # 17 NTBY_CNTG_CSNU
    "87.12",  # 18 CTTR
    "4300512",  # 19 SELN_CNTG_SMTN
    "3746629",  # 20 SHNU_CNTG_SMTN
    "5",  # 21 CCLD_DVSN
    "0.46",  # 22 SHNU_RATE
    "71.20",  # 23 PRDY_VOL_VRSS_ACML_VOL_RATE
    "090000",  # 24 OPRC_HOUR
    "5",  # 25 OPRC_VRSS_PRPR_SIGN
    "-400",  # 26 OPRC_VRSS_PRPR
    "090312",  # 27 HGPR_HOUR
    "5",  # 28 HGPR_VRSS_PRPR_SIGN
    "-700",  # 29 HGPR_VRSS_PRPR
    "110502",  # 30 LWPR_HOUR
    "2",  # 31 LWPR_VRSS_PRPR_SIGN
    "200",  # 32 LWPR_VRSS_PRPR
    "20250613",  # 33 BSOP_DATE
    "20",  # 34 NEW_MKOP_CLS_CODE
    "N",  # 35 TRHT_YN
    "51234",  # 36 ASKP_RSQN1
    "98765",  # 37 BIDP_RSQN1
    "612345",  # 38 TOTAL_ASKP_RSQN
    "723456",  # 39 TOTAL_BIDP_RSQN
    "0.14",  # 40 VOL_TNRT
    "11409876",  # 41 PRDY_SMNS_HOUR_ACML_VOL
    "71.20",  # 42 PRDY_SMNS_HOUR_ACML_VOL_RATE
    "0",  # 43 HOUR_CLS_CODE
    "",  # 44 MRKT_TRTM_CLS_CODE (often empty)
    "73100",  # 45 VI_STND_PRC
]
assert len(TRADE_46) == 46

# 2025-06-13 12:39:29 KST == 03:39:29 UTC
TRADE_TS_MS = 1_749_785_969_000

ASKS = [66000, 66100, 66200, 66300, 66400, 66500, 66600, 66700, 66800, 66900]
BIDS = [65900, 65800, 65700, 65600, 65500, 65400, 65300, 65200, 65100, 65000]
ASK_QTY = [1200, 3400, 5600, 7800, 9000, 1100, 2200, 3300, 4400, 5500]
BID_QTY = [4927, 3100, 2500, 8800, 7700, 6600, 5500, 4400, 3300, 2200]

# H0STASP0, 59 documented fields.
QUOTE_59 = (
    ["005930", "093001", "0"]  # 0 code, 1 BSOP_HOUR, 2 HOUR_CLS_CODE
    + [str(p) for p in ASKS]  # 3-12 ASKP1..10
    + [str(p) for p in BIDS]  # 13-22 BIDP1..10
    + [str(q) for q in ASK_QTY]  # 23-32 ASKP_RSQN1..10
    + [str(q) for q in BID_QTY]  # 33-42 BIDP_RSQN1..10
    + [str(sum(ASK_QTY)), str(sum(BID_QTY))]  # 43/44 totals
    + ["0", "0"]  # 45/46 OVTM totals
    + ["0", "0", "0", "0", "3", "0.00"]  # 47-52 ANTC_*
    + ["8123456"]  # 53 ACML_VOL
    + ["-120", "340", "0", "0"]  # 54-57 *_ICDC
    + ["0"]  # 58 STCK_DEAL_CLS_CODE
)
assert len(QUOTE_59) == 59
QUOTE_62 = QUOTE_59 + ["65950", "4927", "2"]  # KMID_PRC, KMID_TOTAL_RSQN, KMID_CLS_CODE

# H0STCNI0, the current 26-field layout: a fill of 10 shares at 73100.
NOTICE_26 = [
    "htsuser1", "5012345601", "0000006555", "", "02", "0", "00", "0", "005930",
    "10", "73100", "123930", "0", "2", "2", "06590", "10", "HONG GILDONG",
    "0", "1", "Y", "", "", "", "SAMSUNG ELEC", "73100",
]
assert len(NOTICE_26) == 26
# The old 23-field layout (…ACNT_NAME, CNTG_ISNM, CRDT_CLS, CRDT_LOAN_DATE, CNTG_ISNM40, ODER_PRC).
NOTICE_23 = NOTICE_26[:18] + ["SAMSUNG", "", "", "SAMSUNG ELEC", "73200"]
assert len(NOTICE_23) == 23


def frame(tr_id: str, records: list[list[str]], enc: str = "0") -> str:
    return f"{enc}|{tr_id}|{len(records):03d}|" + "^".join("^".join(r) for r in records)

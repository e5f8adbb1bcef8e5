"""The FRU inventory of a node in IPMI Platform Management FRU format (spec v1.0 rev 1.3).

Layout: an 8-byte common header, then the chassis info, board info and product info areas.
Each area starts with format version 01h and its length in 8-byte units, holds type/length
encoded fields (8-bit ASCII+Latin1, bits 7:6 = 11b), ends with C1h, is zero-padded to a multiple
of 8 bytes and closes with a zero checksum. Built once per node by :func:`build_fru`.
"""

from __future__ import annotations

from nodes.node import FruInfo

FORMAT_VERSION = 0x01
END_OF_FIELDS = 0xC1
LANGUAGE_ENGLISH = 0x00
_MAX_FIELD = 63


def checksum(data: bytes) -> int:
    """The byte that makes ``data`` plus itself sum to zero modulo 256."""
    return (-sum(data)) & 0xFF


def field(text: str) -> bytes:
    """One type/length field. C1h is reserved as the end marker, so a one-character value is
    padded with a space; an empty value is C0h."""
    raw = text.encode("latin-1", "replace")[:_MAX_FIELD]
    if len(raw) == 1:
        raw += b" "
    return bytes((0xC0 | len(raw),)) + raw


def _area(head: bytes, fields: list[str]) -> bytes:
    body = bytearray((FORMAT_VERSION, 0)) + head
    for text in fields:
        body += field(text)
    body.append(END_OF_FIELDS)
    length = -(-(len(body) + 1) // 8) * 8
    body += bytes(length - len(body) - 1)
    body[1] = length // 8
    body.append(checksum(bytes(body)))
    return bytes(body)


def build_fru(info: FruInfo) -> bytes:
    chassis = _area(bytes((info.chassis_type,)), [info.chassis_part, info.chassis_serial])
    minutes = info.board_mfg_minutes & 0xFFFFFF
    board = _area(
        bytes((LANGUAGE_ENGLISH, minutes & 0xFF, (minutes >> 8) & 0xFF, minutes >> 16)),
        [
            info.board_manufacturer,
            info.board_product,
            info.board_serial,
            info.board_part,
            "",  # FRU file id
        ],
    )
    product = _area(
        bytes((LANGUAGE_ENGLISH,)),
        [
            info.product_manufacturer,
            info.product_name,
            info.product_part,
            info.product_version,
            info.product_serial,
            info.asset_tag,
            "",  # FRU file id
        ],
    )
    chassis_at = 8
    board_at = chassis_at + len(chassis)
    product_at = board_at + len(board)
    header = bytes((FORMAT_VERSION, 0, chassis_at // 8, board_at // 8, product_at // 8, 0, 0))
    return header + bytes((checksum(header),)) + chassis + board + product

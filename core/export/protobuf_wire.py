"""Protobuf's base-128 varint, shared by obs's two hand-written OTLP encoders (the agent's
metrics and the service's spans), each checked byte for byte against the SDK's encoder.

Written here rather than taken from ``google.protobuf``: its pure-Python encoder's varint
writer is private, and the C implementation exposes none.
"""

from __future__ import annotations


def varint(value: int) -> bytes:
    """``value`` (non-negative) as a protobuf varint.

    Example:
        >>> varint(1), varint(300)
        (b'\\x01', b'\\xac\\x02')
    """
    if value < 0x80:
        return bytes((value,))
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)

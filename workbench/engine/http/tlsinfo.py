"""What a proxy can see of HTTPS without decrypting it: the SNI name in a TLS ClientHello."""

from __future__ import annotations


def parse_sni(data: bytes) -> str | None:
    """The server name from a TLS ClientHello at the start of ``data``, or None.

    Only the first record is read; a truncated or non-TLS start gives None.
    """
    try:
        if len(data) < 5 or data[0] != 0x16:  # handshake record
            return None
        rec_len = int.from_bytes(data[3:5], "big")
        body = data[5 : 5 + rec_len]
        if len(body) < 4 or body[0] != 0x01:  # ClientHello
            return None
        p = 4 + 2 + 32  # handshake header, client_version, random
        sid_len = body[p]
        p += 1 + sid_len
        cs_len = int.from_bytes(body[p : p + 2], "big")
        p += 2 + cs_len
        comp_len = body[p]
        p += 1 + comp_len
        if p + 2 > len(body):
            return None
        ext_total = int.from_bytes(body[p : p + 2], "big")
        p += 2
        end = min(len(body), p + ext_total)
        while p + 4 <= end:
            ext_type = int.from_bytes(body[p : p + 2], "big")
            ext_len = int.from_bytes(body[p + 2 : p + 4], "big")
            p += 4
            if ext_type == 0:  # server_name
                q = p + 2
                while q + 3 <= p + ext_len:
                    name_type = body[q]
                    name_len = int.from_bytes(body[q + 1 : q + 3], "big")
                    q += 3
                    if name_type == 0:
                        return body[q : q + name_len].decode("ascii", "replace")
                    q += name_len
                return None
            p += ext_len
    except IndexError:
        return None
    return None


def looks_like_tls(data: bytes) -> bool:
    return len(data) >= 3 and data[0] == 0x16 and data[1] == 0x03

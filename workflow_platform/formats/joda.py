"""Joda-style date formats (`yyyy-MM-dd`), as Amperity catalogs write them, turned into strftime."""

JODA_TO_STRFTIME = [
    ("yyyy", "%Y"), ("yy", "%y"), ("MMM", "%b"), ("MM", "%m"), ("dd", "%d"), ("HH", "%H"), ("hh", "%I"),
    ("mm", "%M"), ("ss", "%S"), ("SSSSSS", "%f"), ("SSS", "%g"), ("a", "%p"), ("Z", "%z"),
]


def joda_to_strftime(fmt: str) -> str:
    """`yyyy-MM-dd HH:mm:ss` -> `%Y-%m-%d %H:%M:%S` (single-quoted text is literal)."""
    out, i = [], 0
    while i < len(fmt):
        if fmt[i] == "'":
            end = fmt.index("'", i + 1) if "'" in fmt[i + 1 :] else len(fmt)
            out.append(fmt[i + 1 : end].replace("%", "%%"))
            i = end + 1
            continue
        for joda, strf in JODA_TO_STRFTIME:
            if fmt.startswith(joda, i):
                out.append(strf)
                i += len(joda)
                break
        else:
            out.append("%%" if fmt[i] == "%" else fmt[i])
            i += 1
    return "".join(out)


def check_joda_format(fmt: str) -> None:
    """Raise ValueError when a date format has letters that are not the supported Joda tokens."""
    i = 0
    while i < len(fmt):
        if fmt[i] == "'":
            end = fmt.find("'", i + 1)
            if end < 0:
                raise ValueError(f"date format {fmt!r} has an unclosed quote")
            i = end + 1
            continue
        token = next((joda for joda, _ in JODA_TO_STRFTIME if fmt.startswith(joda, i)), None)
        if token:
            i += len(token)
        elif fmt[i].isalpha():
            hint = {"Y": "yyyy", "D": "dd", "d": "dd", "M": "MM", "H": "HH", "m": "mm", "s": "ss", "y": "yyyy"}
            raise ValueError(f"date format {fmt!r}: {fmt[i]!r} at character {i + 1} is not a supported token "
                             f"(use {hint.get(fmt[i], 'yyyy, MM, dd, HH, mm, ss, SSS')}; quote literal text)")
        else:
            i += 1


def format_datetime(value, fmt: str) -> str:
    """`value` formatted with a Joda format in Python (`SSS`, DuckDB's `%g`, becomes milliseconds here)."""
    check_joda_format(fmt)
    return value.strftime(joda_to_strftime(fmt).replace("%g", f"{value.microsecond // 1000:03d}"))

"""The configuration reference table of docs/configuration.md, generated from the keys' own
documentation (:func:`migrator.config.config_keys`) so that the page cannot drift from the code.

    python -m migrator.report.config_doc    # prints the table to paste between the markers
"""

from __future__ import annotations

from migrator.config import config_keys

START = "<!-- generated: python -m migrator.report.config_doc -->"
END = "<!-- end generated -->"


def keys_table() -> str:
    """A Markdown table: key, type, default, the flag that overrides it, what it does."""
    rows = [
        "| key | type | default | flag | meaning |",
        "|---|---|---|---|---|",
        *(f"| `{k.key}` | {k.type} | `{k.default}` | `{k.flag}` | {k.help} |" for k in config_keys()),
    ]
    return "\n".join(rows) + "\n"


def generated_block() -> str:
    """The table between its markers, as it stands in the page."""
    return f"{START}\n{keys_table()}{END}\n"


if __name__ == "__main__":  # pragma: no cover
    import sys

    sys.stdout.write(generated_block())

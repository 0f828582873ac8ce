"""bench/report.py: `bench.run --only` merges its sections into the page, dating each one it refreshed."""
from __future__ import annotations

from bench.report import REFRESHED, Section, merge_page, page


def section(title: str, value: str) -> Section:
    return Section(title, "What it measures.", ["measure", "value"], [["speed", value]])


def test_refreshing_in_turns_keeps_every_tables_date_and_the_others_numbers():
    """Two `--only` runs in turn: the first refreshed table kept its date (the page-wide note named only
    the last run's tables, so the earlier ones lost theirs), and the untouched table its numbers."""
    written = page([section("Tracking speed (issues 5, 24)", "1"), section("Store", "2"), section("Other", "3")])
    once = merge_page(written, [section("Store", "20")])
    twice = merge_page(once, [section("Tracking speed (issues 5, 24)", "10")])
    blocks = {block.splitlines()[0]: block for block in twice.split("\n## ")[1:]}
    assert REFRESHED in blocks["Store"] and "| speed | 20 |" in blocks["Store"]
    tracking = blocks["Tracking speed (issues 5, 24)"]
    assert REFRESHED in tracking and "| speed | 10 |" in tracking
    assert REFRESHED not in blocks["Other"] and "| speed | 3 |" in blocks["Other"]
    assert twice.count(REFRESHED) == 2 and list(blocks) == ["Tracking speed (issues 5, 24)", "Store", "Other"]


def test_a_new_section_goes_at_the_end_and_a_page_wide_note_from_before_is_dropped():
    old = page([section("A", "1")]).replace("\n\n## A", f"\n\n{REFRESHED}2026-01-01 00:00 UTC: A.\n\n## A")
    merged = merge_page(old, [section("B", "2")])
    assert merged.index("## A") < merged.index("## B") and merged.count(REFRESHED) == 1
    assert merged.split("## B")[1].lstrip().startswith(REFRESHED)

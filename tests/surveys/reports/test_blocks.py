"""The one escaping path to Slack: outside text is inert in mrkdwn and cut to a size."""

from __future__ import annotations

from surveys.reports import blocks


def test_escape_makes_slack_control_sequences_inert() -> None:
    assert (
        blocks.escape("<!channel> & <@U123|boss>") == "&lt;!channel&gt; &amp; &lt;@U123|boss&gt;"
    )


def test_escape_cuts_to_its_limit_before_escaping_so_no_entity_is_split() -> None:
    escaped = blocks.escape("a" * 9 + "<b>", 10)
    assert escaped == "a" * 9 + "…"
    assert blocks.escape("<" * 500).count("&lt;") == blocks.VALUE_LIMIT - 1


def test_a_cut_in_built_mrkdwn_leaves_no_entity_or_mention_open() -> None:
    assert blocks.clip_mrkdwn("price &amp; value", 10) == "price …"
    assert blocks.clip_mrkdwn("price &amp; value", 12) == "price &amp;…"
    assert blocks.clip_mrkdwn("set by <@U0MANAGER>", 12) == "set by …"
    assert blocks.clip_mrkdwn("short", 12) == "short"


def test_a_long_section_is_cut_to_slacks_limit_without_an_open_entity() -> None:
    text = blocks.escape("&" * 2000, 2000)  # 10,000 characters of `&amp;`
    section = blocks.section(text).to_dict()["text"]["text"]
    assert len(section) <= blocks.SECTION_LIMIT
    assert section.endswith("&amp;…")


def test_quote_and_echo_are_escaped_flat_and_cut() -> None:
    assert blocks.quote("hi\n<!here>") == "> _hi &lt;!here&gt;_"
    assert blocks.echo("x" * 300) == "'" + "x" * (blocks.ECHO_LIMIT - 1) + "…'"

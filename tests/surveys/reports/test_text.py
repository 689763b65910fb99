"""Scrubbing personal data from quotes, and grouping `other` texts into emerging reasons."""

from __future__ import annotations

from surveys.reports.text import Quote, emerging_reasons, representative, scrub, terms, tokens


def test_email_addresses_are_scrubbed() -> None:
    assert scrub("write to ann.lee+x@mail.example.org now") == "write to [email] now"


def test_phone_numbers_are_scrubbed_but_dates_and_prices_stay() -> None:
    text = "call +44 20 7946 0958 or 0612-345-678; since 2026-10-01 I pay 49.99"
    assert scrub(text) == "call [phone] or [phone]; since 2026-10-01 I pay 49.99"


def test_the_customers_known_name_is_scrubbed_in_any_case() -> None:
    assert scrub("Carla here. ask carla diaz", names=["Carla Diaz"]) == "[name] here. ask [name]"


def test_introduced_names_are_scrubbed_in_several_languages() -> None:
    assert scrub("my name is Bob Stone and it broke") == "my name is [name] and it broke"
    assert scrub("Ich heiße Jürgen, zu teuer") == "Ich heiße [name], zu teuer"
    assert scrub("me llamo Lucía") == "me llamo [name]"
    assert scrub("Regards, Anna") == "Regards, [name]"


def test_lower_case_words_after_an_intro_are_not_taken_for_names() -> None:
    assert scrub("thanks, guys") == "thanks, guys"


def test_tokens_drop_stopwords_and_split_chinese_into_bigrams() -> None:
    assert tokens("The app is too slow") == ["app", "slow"]
    assert tokens("同步太慢") == ["同步", "步太", "太慢"]
    assert "slow sync" in terms("slow sync again")


def _quotes(*texts: str) -> list[Quote]:
    return [Quote(answer_id=index, text=text) for index, text in enumerate(texts, start=1)]


def test_other_texts_sharing_a_phrase_become_one_emerging_reason() -> None:
    quotes = _quotes(
        "No dark mode, my eyes hurt",
        "I need dark mode at night",
        "dark mode please!",
        "The invoices lack our VAT number",
        "VAT number missing on invoices",
        "just because",
    )
    groups = emerging_reasons(quotes)
    assert [(group.label, group.count) for group in groups] == [
        ("dark mode", 3),
        ("vat number", 2),
    ]
    assert {quote.answer_id for quote in groups[0].quotes} == {1, 2, 3}


def test_texts_sharing_nothing_make_no_emerging_reason() -> None:
    assert emerging_reasons(_quotes("too pricey", "left for another job", "meh")) == []


def test_emerging_reasons_work_for_chinese_without_spaces() -> None:
    groups = emerging_reasons(_quotes("没有深色模式", "希望有深色模式", "价格"))
    assert groups[0].count == 2
    assert groups[0].label in {"深色", "色模", "模式", "深色 色模", "色模 模式"}


def test_representative_quotes_say_what_most_say_and_are_not_alike() -> None:
    quotes = _quotes(
        "The price went up again and it is too expensive",
        "The price went up again and it is too expensive!",
        "Too expensive after the price rise",
        "My cat walked on the keyboard",
    )
    picked = representative(quotes, count=2)
    assert len(picked) == 2
    assert picked[0].answer_id in {1, 2}
    assert picked[1].answer_id == 3

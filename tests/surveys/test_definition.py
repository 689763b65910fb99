"""Survey definitions: the shipped files are complete, broken files are named precisely."""

from __future__ import annotations

import copy
import string
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from surveys.definition import (
    ChoiceQuestion,
    DefinitionError,
    RatingQuestion,
    load_definition,
    load_definitions,
)
from surveys.i18n import MESSAGES_FILE, SUPPORTED_LANGUAGES
from surveys.vocabulary import Category

LANGUAGES = ("en", "hu", "lv", "fa", "zh", "ko", "es", "de")


def _texts(en: str) -> dict[str, str]:
    return {"en": en, "de": f"{en} (de)"}


VALID: dict[str, Any] = {
    "key": "sample",
    "title": _texts("Sample"),
    "languages": ["en", "de"],
    "triggers": ["subscription.cancelled"],
    "questions": [
        {
            "key": "reason",
            "type": "choice",
            "text": _texts("Why?"),
            "options": [
                {"key": "price", "label": _texts("Price")},
                {"key": "other", "label": _texts("Other")},
            ],
        },
        {
            "key": "score",
            "type": "rating",
            "text": _texts("Score?"),
            "scale": {"min": 1, "max": 5},
            "next": [{"if": {"question": "score", "at_most": 2}, "goto": "details"}],
        },
        {"key": "details", "type": "text", "text": _texts("Tell us more")},
    ],
    "closing": {
        "text": _texts("Thanks"),
        "offers": {"question": "reason", "by_choice": {"price": _texts("Discount")}},
    },
}


def _write(folder: Path, name: str, content: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(content, encoding="utf-8")
    return path


def _write_definition(folder: Path, mutate: Callable[[dict[str, Any]], None]) -> Path:
    raw = copy.deepcopy(VALID)
    mutate(raw)
    return _write(folder, "sample", yaml.safe_dump(raw, allow_unicode=True, sort_keys=False))


def test_shipped_definitions_load_with_all_eight_languages() -> None:
    surveys = load_definitions()

    assert {"exit", "post_interaction"} <= set(surveys)
    for survey in surveys.values():
        assert set(survey.languages) == set(LANGUAGES)
        localized = [survey.title, survey.closing.text]
        for question in survey.questions:
            localized.append(question.text)
            if isinstance(question, ChoiceQuestion):
                localized.extend(option.label for option in question.options)
            if isinstance(question, RatingQuestion):
                assert question.scale.min_label is not None
                assert question.scale.max_label is not None
                localized.extend((question.scale.min_label, question.scale.max_label))
        if survey.closing.offers is not None:
            for offer in survey.closing.offers.by_choice.values():
                localized.append(offer.text)
                if offer.accept_label is not None:
                    localized.append(offer.accept_label)
        for texts in localized:
            assert {language for language, text in texts.items() if text.strip()} == set(
                LANGUAGES
            ), texts


def test_supported_languages_are_the_eight_shipped_ones() -> None:
    assert set(SUPPORTED_LANGUAGES) == set(LANGUAGES)


def test_exit_survey_reasons_are_the_eleven_churn_categories() -> None:
    exit_survey = load_definitions()["exit"]
    reason = exit_survey.first

    assert isinstance(reason, ChoiceQuestion)
    keys = [option.key for option in reason.options]
    assert len(keys) == 11
    assert keys == list(Category)
    assert exit_survey.triggers == ["subscription.cancelled", "subscription.cancel_scheduled"]


def test_valid_sample_definition_loads(tmp_path: Path) -> None:
    survey = load_definition(_write_definition(tmp_path, lambda raw: None))

    assert survey.key == "sample"
    assert [question.key for question in survey.questions] == ["reason", "score", "details"]


def _goto(question: int, target: str) -> Callable[[dict[str, Any]], None]:
    def mutate(raw: dict[str, Any]) -> None:
        raw["questions"][question]["next"] = [{"goto": target}]

    return mutate


def _drop_german_text(raw: dict[str, Any]) -> None:
    del raw["questions"][1]["text"]["de"]


def _duplicate_key(raw: dict[str, Any]) -> None:
    raw["questions"][2]["key"] = "score"
    raw["questions"][1]["next"] = []


def _condition_on_ghost(raw: dict[str, Any]) -> None:
    raw["questions"][1]["next"] = [{"if": {"question": "ghost", "at_most": 2}, "goto": "details"}]


def _offer_for_unknown_option(raw: dict[str, Any]) -> None:
    raw["closing"]["offers"]["by_choice"]["gold"] = _texts("Gold")


def _acceptable_offer_without_summary(raw: dict[str, Any]) -> None:
    raw["closing"]["offers"]["by_choice"]["price"] = {"text": _texts("Stay"), "resume": True}


def _accept_label_without_action(raw: dict[str, Any]) -> None:
    raw["closing"]["offers"]["by_choice"]["price"] = {
        "text": _texts("Stay"),
        "accept_label": _texts("Accept"),
    }


def _accept_label_missing_german(raw: dict[str, Any]) -> None:
    label = _texts("Accept")
    del label["de"]
    raw["closing"]["offers"]["by_choice"]["price"] = {
        "text": _texts("Stay"),
        "coupon": "WINBACK30",
        "summary": "30% off",
        "accept_label": label,
    }


def _coupon_with_spaces(raw: dict[str, Any]) -> None:
    raw["closing"]["offers"]["by_choice"]["price"] = {
        "text": _texts("Stay"),
        "coupon": "WIN BACK",
        "summary": "30% off",
    }


def _unknown_field(raw: dict[str, Any]) -> None:
    raw["questions"][2]["colour"] = "blue"


@pytest.mark.parametrize(
    ("mutate", "question", "problem"),
    [
        pytest.param(
            _goto(0, "nowhere"),
            "'reason'",
            "goto 'nowhere' names no question",
            id="goto-unknown-question",
        ),
        pytest.param(
            _goto(2, "reason"), "'details'", "goto 'reason' must point forward", id="backward-goto"
        ),
        pytest.param(_drop_german_text, "'score'", "text missing in de", id="missing-translation"),
        pytest.param(_duplicate_key, "score", "question keys repeat", id="duplicate-key"),
        pytest.param(
            _condition_on_ghost,
            "'score'",
            "condition on unknown question 'ghost'",
            id="condition-on-unknown-question",
        ),
        pytest.param(
            _offer_for_unknown_option,
            "'reason'",
            "'gold' is not an option",
            id="offer-for-unknown-option",
        ),
        pytest.param(_unknown_field, "'details'", "colour", id="unknown-field"),
        pytest.param(
            _acceptable_offer_without_summary,
            "'price'",
            "can be accepted: give it a summary",
            id="acceptable-offer-without-summary",
        ),
        pytest.param(
            _accept_label_without_action,
            "'price'",
            "accept_label but no coupon or resume",
            id="accept-label-without-action",
        ),
        pytest.param(
            _accept_label_missing_german,
            "closing",
            "text missing in de",
            id="accept-label-missing-a-language",
        ),
        pytest.param(_coupon_with_spaces, "coupon", "pattern", id="coupon-not-an-id"),
    ],
)
def test_invalid_definition_error_names_file_question_and_problem(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], question: str, problem: str
) -> None:
    path = _write_definition(tmp_path, mutate)

    with pytest.raises(DefinitionError) as raised:
        load_definition(path)

    message = str(raised.value)
    assert message.startswith("sample.yaml: ")
    assert question in message
    assert problem in message


def test_offer_given_as_plain_texts_has_words_only(tmp_path: Path) -> None:
    survey = load_definition(_write_definition(tmp_path, lambda raw: None))

    assert survey.closing.offers is not None
    offer = survey.closing.offers.by_choice["price"]
    assert offer.text["en"] == "Discount"
    assert not offer.acceptable


def test_offer_with_a_coupon_or_resume_can_be_accepted(tmp_path: Path) -> None:
    def acceptable(raw: dict[str, Any]) -> None:
        raw["closing"]["offers"]["by_choice"]["price"] = {
            "text": _texts("Stay"),
            "coupon": "WINBACK30",
            "resume": True,
            "summary": "30% off for 3 months",
        }

    survey = load_definition(_write_definition(tmp_path, acceptable))

    assert survey.closing.offers is not None
    offer = survey.closing.offers.by_choice["price"]
    assert offer.acceptable
    assert offer.resume
    assert offer.coupon_id("IGNORED") == "WINBACK30"


def test_shipped_exit_price_offer_applies_the_configured_winback_coupon() -> None:
    offers = load_definitions()["exit"].closing.offers

    assert offers is not None
    price = offers.by_choice["price"]
    assert price.acceptable
    assert price.resume
    assert price.summary == "30% off for 3 months"
    assert price.coupon_id("WINBACK30") == "WINBACK30"
    assert price.coupon_id("") is None
    assert price.accept_label is not None
    assert "Accept" in price.accept_label["en"]
    assert not offers.by_choice["poor_support"].acceptable


def test_unknown_field_is_reported_as_not_permitted(tmp_path: Path) -> None:
    with pytest.raises(DefinitionError, match=r"question 'details': colour: Extra inputs"):
        load_definition(_write_definition(tmp_path, _unknown_field))


def test_yaml_syntax_error_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "broken", "key: broken\nquestions: [unclosed\n")

    with pytest.raises(DefinitionError, match=r"^broken\.yaml: cannot read"):
        load_definition(path)


def test_key_not_matching_the_file_name_is_rejected(tmp_path: Path) -> None:
    content = yaml.safe_dump(VALID, allow_unicode=True)
    path = _write(tmp_path, "renamed", content)

    with pytest.raises(DefinitionError, match=r"^renamed\.yaml: key 'sample' must match"):
        load_definition(path)


def test_load_definitions_names_the_broken_file_among_valid_ones(tmp_path: Path) -> None:
    _write_definition(tmp_path, lambda raw: None)
    _write(tmp_path, "zz_broken", "key: [\n")

    with pytest.raises(DefinitionError, match=r"^zz_broken\.yaml"):
        load_definitions(tmp_path)


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


def test_messages_have_every_key_in_all_languages_with_the_same_placeholders() -> None:
    catalogue = yaml.safe_load(MESSAGES_FILE.read_text(encoding="utf-8"))

    assert catalogue, "messages.yaml is empty"
    for key, texts in catalogue.items():
        assert set(texts) == set(LANGUAGES), key
        expected = _placeholders(texts["en"])
        for language, text in texts.items():
            assert text.strip(), f"{key}/{language} is empty"
            assert _placeholders(text) == expected, f"{key}/{language}"

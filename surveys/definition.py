"""Survey definitions: the YAML files in `surveys/definitions/`, validated on load.

A definition is data, not code: questions (rating, choice, text), branching rules, a
closing message with optional win-back offers, and every text in each language the file
declares. `load_definitions` raises `DefinitionError` naming file, question and problem.

A question may declare a `role` that the reports, alerts and classifier read instead of
its key: `reason` (a choice of churn categories), `details` (free text about that reason),
`csat` and `nps` (ratings, with `detractor_at_most`: the highest score that is a
detractor). `SurveyRoles` collects them over all definitions.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from surveys.vocabulary import CATEGORIES

DEFAULT_DIR = Path(__file__).parent / "definitions"
FALLBACK_LANGUAGE = "en"
END = "end"

Localized = dict[str, str]


class DefinitionError(Exception):
    """A survey definition file is invalid; the message names file, question and problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Condition(_Strict):
    """A test on an earlier answer: a score range or a set of choices."""

    question: str
    at_most: int | None = None
    at_least: int | None = None
    choice_in: list[str] | None = None

    def matches(self, numeric: int | None, choice: str | None) -> bool:
        if self.at_most is not None and (numeric is None or numeric > self.at_most):
            return False
        if self.at_least is not None and (numeric is None or numeric < self.at_least):
            return False
        return not (self.choice_in is not None and choice not in self.choice_in)


class Rule(_Strict):
    """Go to `goto` (a question key or `end`) when `if_` holds (or always)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    if_: Condition | None = Field(default=None, alias="if")
    goto: str


class Option(_Strict):
    key: str = Field(pattern=r"^[a-z0-9_]{1,32}$")
    label: Localized


class Scale(_Strict):
    min: int = Field(ge=0, le=10)
    max: int = Field(ge=1, le=10)
    min_label: Localized | None = None
    max_label: Localized | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Scale:
        if self.max <= self.min:
            raise ValueError("scale max must be greater than min")
        return self


class Role(enum.StrEnum):
    """What a question means to the reports, alerts and classifier (its key is free)."""

    REASON = "reason"  # why the customer leaves: a choice whose options are categories
    DETAILS = "details"  # free text about the reason, in the same survey
    CSAT = "csat"  # a satisfaction rating
    NPS = "nps"  # a 0-10 likelihood to recommend


SCORE_ROLES = frozenset({Role.CSAT, Role.NPS})


class _QuestionBase(_Strict):
    key: str = Field(pattern=r"^[a-z0-9_]{1,32}$")
    text: Localized
    next: list[Rule] = Field(default_factory=list)
    role: Role | None = None


class RatingQuestion(_QuestionBase):
    type: Literal["rating"]
    scale: Scale
    # The highest score that makes the customer a detractor (alerts, at-risk, churned
    # after a low score); required with a csat or nps role.
    detractor_at_most: int | None = None


class ChoiceQuestion(_QuestionBase):
    type: Literal["choice"]
    options: list[Option] = Field(min_length=2, max_length=20)
    columns: int = Field(default=1, ge=1, le=4)


class TextQuestion(_QuestionBase):
    type: Literal["text"]
    optional: bool = True
    max_length: int = Field(default=4096, ge=1, le=4096)


Question = Annotated[RatingQuestion | ChoiceQuestion | TextQuestion, Field(discriminator="type")]


WINBACK_COUPON_SETTING = "$STRIPE_WINBACK_COUPON"


class Offer(_Strict):
    """A win-back offer: its words, and optionally what accepting it does in billing.

    A plain mapping of language to text is an offer with words only (as before). With
    `coupon` (a Stripe coupon id, or `$STRIPE_WINBACK_COUPON` for that setting's value) or
    `resume: true`, the closing message carries Accept / No thanks buttons."""

    text: Localized
    coupon: str | None = Field(
        default=None, pattern=r"^(\$STRIPE_WINBACK_COUPON|[A-Za-z0-9_-]{1,100})$"
    )
    resume: bool = False
    # What the team reads in an alert ("30% off for 3 months"); English, like every alert.
    summary: str | None = Field(default=None, min_length=1, max_length=200)
    # The Accept button's label; the catalogue's "Accept offer" when absent.
    accept_label: Localized | None = None

    @model_validator(mode="before")
    @classmethod
    def _words_only(cls, data: object) -> object:
        if isinstance(data, dict) and "text" not in data:
            return {"text": data}
        return data

    @property
    def acceptable(self) -> bool:
        """Whether accepting it does something (so the customer gets the buttons)."""
        return self.coupon is not None or self.resume

    def coupon_id(self, winback_coupon: str | None) -> str | None:
        """The Stripe coupon to apply: the offer's own, or the configured win-back coupon
        for `$STRIPE_WINBACK_COUPON` (None when that setting is empty)."""
        if self.coupon == WINBACK_COUPON_SETTING:
            return (winback_coupon or "").strip() or None
        return self.coupon


class Offers(_Strict):
    """Win-back offers appended to the closing message, chosen by an earlier choice."""

    question: str
    by_choice: dict[str, Offer]


class Closing(_Strict):
    text: Localized
    offers: Offers | None = None


class Delivery(_Strict):
    """When an invitation goes out after its event, and how long it stays open."""

    delay_minutes: int = Field(default=0, ge=0, le=60 * 24 * 90)
    reminder_after_hours: float | None = Field(default=None, gt=0, le=24 * 30)
    expires_after_hours: int = Field(default=168, ge=1, le=24 * 90)
    fatigue_days: int = Field(default=14, ge=0, le=365)
    quiet_hours: bool = True

    @model_validator(mode="after")
    def _reminder_before_expiry(self) -> Delivery:
        if self.reminder_after_hours and self.reminder_after_hours >= self.expires_after_hours:
            raise ValueError("reminder_after_hours must be less than expires_after_hours")
        return self


class SurveyDefinition(_Strict):
    key: str = Field(pattern=r"^[a-z0-9_]{1,64}$")
    title: Localized
    languages: list[str] = Field(min_length=1)
    triggers: list[str] = Field(default_factory=list)
    delivery: Delivery = Field(default_factory=Delivery)
    questions: list[Question] = Field(min_length=1)
    closing: Closing

    def index_of(self, key: str) -> int:
        for index, question in enumerate(self.questions):
            if question.key == key:
                return index
        raise KeyError(key)

    def question(self, key: str) -> RatingQuestion | ChoiceQuestion | TextQuestion:
        for question in self.questions:
            if question.key == key:
                return question
        raise KeyError(key)

    @property
    def first(self) -> RatingQuestion | ChoiceQuestion | TextQuestion:
        return self.questions[0]

    @model_validator(mode="after")
    def _consistent(self) -> SurveyDefinition:
        for problem in _problems(self):
            raise ValueError(problem)
        return self


def _problems(survey: SurveyDefinition) -> Iterable[str]:
    if FALLBACK_LANGUAGE not in survey.languages:
        yield f"languages must include {FALLBACK_LANGUAGE!r}"
    keys = [question.key for question in survey.questions]
    duplicates = sorted({key for key in keys if keys.count(key) > 1})
    if duplicates:
        yield f"question keys repeat: {', '.join(duplicates)}"
    if END in keys:
        yield f"question key {END!r} is reserved"
    position = {key: index for index, key in enumerate(keys)}
    for question in survey.questions:
        yield from _missing_languages(survey.languages, f"question {question.key!r}", question)
        for rule in question.next:
            if rule.goto != END and rule.goto not in position:
                yield f"question {question.key!r}: goto {rule.goto!r} names no question"
            elif rule.goto != END and position[rule.goto] <= position[question.key]:
                yield f"question {question.key!r}: goto {rule.goto!r} must point forward"
            if rule.if_ is not None:
                yield from _condition_problems(survey, question.key, rule.if_, position)
        if (
            isinstance(question, RatingQuestion)
            and not 2 <= (question.scale.max - question.scale.min + 1) <= 11
        ):
            yield f"question {question.key!r}: a scale has 2 to 11 points"
        if isinstance(question, ChoiceQuestion):
            option_keys = [option.key for option in question.options]
            if len(set(option_keys)) != len(option_keys):
                yield f"question {question.key!r}: option keys repeat"
    yield from _role_problems(survey)
    yield from _missing_languages(survey.languages, "closing", survey.closing)
    yield from _missing_languages(survey.languages, "title", survey.title)
    if survey.closing.offers is not None:
        offers = survey.closing.offers
        if offers.question not in position:
            yield f"closing offers: question {offers.question!r} does not exist"
        else:
            target = survey.question(offers.question)
            valid = (
                {option.key for option in target.options}
                if isinstance(target, ChoiceQuestion)
                else set()
            )
            for choice in offers.by_choice:
                if choice not in valid:
                    yield f"closing offers: {choice!r} is not an option of {offers.question!r}"
        for choice, offer in offers.by_choice.items():
            if offer.acceptable and offer.summary is None:
                yield f"closing offers: {choice!r} can be accepted: give it a summary"
            if offer.accept_label is not None and not offer.acceptable:
                yield f"closing offers: {choice!r} has an accept_label but no coupon or resume"


def _role_problems(survey: SurveyDefinition) -> Iterable[str]:
    roles = [question.role for question in survey.questions if question.role is not None]
    repeated = sorted({role for role in roles if roles.count(role) > 1})
    if repeated:
        yield f"roles repeat: {', '.join(repeated)} (one question per role)"
    for question in survey.questions:
        where = f"question {question.key!r}"
        role = question.role
        if role == Role.REASON:
            if not isinstance(question, ChoiceQuestion):
                yield f"{where}: role reason needs a choice question"
            else:
                unknown = [o.key for o in question.options if o.key not in CATEGORIES]
                if unknown:
                    yield (
                        f"{where}: role reason needs category options; unknown: "
                        f"{', '.join(unknown)} (use {', '.join(CATEGORIES)})"
                    )
        if role == Role.DETAILS:
            if not isinstance(question, TextQuestion):
                yield f"{where}: role details needs a text question"
            if Role.REASON not in roles:
                yield f"{where}: role details needs a question with role reason"
        if role in SCORE_ROLES and not isinstance(question, RatingQuestion):
            yield f"{where}: role {role} needs a rating question"
        if isinstance(question, RatingQuestion):
            at_most = question.detractor_at_most
            if role in SCORE_ROLES and at_most is None:
                yield f"{where}: role {role} needs detractor_at_most"
            elif at_most is not None and role not in SCORE_ROLES:
                yield f"{where}: detractor_at_most needs a csat or nps role"
            elif at_most is not None and not question.scale.min <= at_most < question.scale.max:
                yield f"{where}: detractor_at_most must be a score of the scale, below its max"


def _condition_problems(
    survey: SurveyDefinition, owner: str, condition: Condition, position: dict[str, int]
) -> Iterable[str]:
    if condition.question not in position:
        yield f"question {owner!r}: condition on unknown question {condition.question!r}"
        return
    if position[condition.question] > position[owner]:
        yield f"question {owner!r}: condition on later question {condition.question!r}"
    target = survey.question(condition.question)
    if condition.choice_in is not None:
        if not isinstance(target, ChoiceQuestion):
            yield f"question {owner!r}: choice_in needs a choice question"
        else:
            unknown = set(condition.choice_in) - {option.key for option in target.options}
            if unknown:
                yield f"question {owner!r}: unknown choices {sorted(unknown)}"
    if (condition.at_most is not None or condition.at_least is not None) and not isinstance(
        target, RatingQuestion
    ):
        yield f"question {owner!r}: at_most/at_least need a rating question"


def _missing_languages(languages: list[str], where: str, node: object) -> Iterable[str]:
    for texts in _localized_values(node):
        missing = [language for language in languages if not texts.get(language, "").strip()]
        if missing:
            yield f"{where}: text missing in {', '.join(missing)}"
            return


def _localized_values(node: object) -> Iterable[Localized]:
    if isinstance(node, dict):
        if node and all(isinstance(value, str) for value in node.values()):
            yield node
        else:
            for value in node.values():
                yield from _localized_values(value)
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            if name == "next":
                continue
            yield from _localized_values(getattr(node, name))
    elif isinstance(node, list):
        for item in node:
            yield from _localized_values(item)


@dataclass(frozen=True, slots=True)
class ReasonRole:
    """The churn-reason question of a survey and its details question, if any."""

    survey_key: str
    reason_key: str
    details_key: str | None


@dataclass(frozen=True, slots=True)
class ScoreRole:
    """A csat or nps rating question of a survey and its detractor threshold."""

    survey_key: str
    key: str
    role: Role
    detractor_at_most: int
    scale_max: int


@dataclass(frozen=True, slots=True)
class SurveyRoles:
    """Which question of which survey plays each role, over all loaded definitions."""

    reasons: tuple[ReasonRole, ...] = ()
    scores: tuple[ScoreRole, ...] = ()

    @classmethod
    def of(cls, definitions: Mapping[str, SurveyDefinition]) -> SurveyRoles:
        reasons: list[ReasonRole] = []
        scores: list[ScoreRole] = []
        for survey in definitions.values():
            by_role = {q.role: q for q in survey.questions if q.role is not None}
            if Role.REASON in by_role:
                details = by_role.get(Role.DETAILS)
                reasons.append(
                    ReasonRole(
                        survey.key, by_role[Role.REASON].key, details.key if details else None
                    )
                )
            for question in survey.questions:
                if (
                    isinstance(question, RatingQuestion)
                    and question.role in SCORE_ROLES
                    and question.detractor_at_most is not None
                ):
                    scores.append(
                        ScoreRole(
                            survey.key,
                            question.key,
                            question.role,
                            question.detractor_at_most,
                            question.scale.max,
                        )
                    )
        return cls(tuple(reasons), tuple(scores))

    def reason_of(self, survey_key: str | None) -> ReasonRole | None:
        return next((item for item in self.reasons if item.survey_key == survey_key), None)

    def scores_of(self, survey_key: str | None) -> tuple[ScoreRole, ...]:
        return tuple(item for item in self.scores if item.survey_key == survey_key)

    def with_role(self, role: Role) -> tuple[ScoreRole, ...]:
        return tuple(item for item in self.scores if item.role == role)

    def role_of(self, survey_key: str | None, question_key: str) -> Role | None:
        reason = self.reason_of(survey_key)
        if reason is not None and question_key == reason.reason_key:
            return Role.REASON
        if reason is not None and question_key == reason.details_key:
            return Role.DETAILS
        found = (s.role for s in self.scores_of(survey_key) if s.key == question_key)
        return next(found, None)


def load_definition(path: Path) -> SurveyDefinition:
    """Load and validate one file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as error:
        # YAML's messages span lines (with a caret under the column): keep one line.
        reason = " ".join(str(error).split())
        raise DefinitionError(f"{path.name}: cannot read: {reason}") from error
    if not isinstance(raw, dict):
        raise DefinitionError(f"{path.name}: expected a mapping at the top level")
    try:
        survey = SurveyDefinition.model_validate(raw)
    except ValidationError as error:
        raise DefinitionError(f"{path.name}: {_describe(error, raw)}") from error
    if survey.key != path.stem:
        raise DefinitionError(f"{path.name}: key {survey.key!r} must match the file name")
    return survey


def load_definitions(directory: Path | None = None) -> dict[str, SurveyDefinition]:
    """Load every `*.yaml` file of `directory` (the shipped ones by default)."""
    return {survey.key: survey for survey in map(load_definition, _definition_files(directory))}


def _definition_files(directory: Path | None) -> list[Path]:
    folder = directory or DEFAULT_DIR
    if not folder.is_dir():
        raise DefinitionError(f"{folder}: no such folder")
    paths = sorted(folder.glob("*.yaml"))
    if not paths:
        raise DefinitionError(f"{folder}: no survey definitions (*.yaml) found")
    return paths


def check_definitions(directory: Path | None = None) -> list[str]:
    """Validate every file and return one line per problem (empty when all are valid)."""
    problems = []
    try:
        paths = _definition_files(directory)
    except DefinitionError as error:
        return [str(error)]
    for path in paths:
        try:
            load_definition(path)
        except DefinitionError as error:
            problems.append(str(error))
    return problems


def _describe(error: ValidationError, raw: dict[str, object]) -> str:
    first = error.errors()[0]
    location = list(first["loc"])
    where = "survey"
    if len(location) >= 2 and location[0] == "questions" and isinstance(location[1], int):
        questions = raw.get("questions")
        index = location[1]
        key = None
        if isinstance(questions, list) and index < len(questions):
            item = questions[index]
            key = item.get("key") if isinstance(item, dict) else None
        where = f"question {key!r}" if key else f"question #{index + 1}"
        location = location[2:]
        if location and location[0] in ("rating", "choice", "text"):
            location = location[1:]
    field = ".".join(str(part) for part in location)
    message = str(first["msg"]).removeprefix("Value error, ")
    return f"{where}: {field + ': ' if field else ''}{message}"

"""Form values checked before they reach Jira: one case per way a value can be wrong."""

from __future__ import annotations

from typing import Any

import pytest

from app.jsm.schemas import RequestTypeFieldDTO
from app.portal.forms import FormField, field_values, form_fields, unsupported_required


def fields_from_jira(*fields: dict[str, Any]) -> list[RequestTypeFieldDTO]:
    """Fields as Jira's answer carries them, parsed as the app parses it."""
    return [RequestTypeFieldDTO.model_validate(f) for f in fields]


def field(widget: str, *, required: bool = False, options: tuple[str, ...] = ()) -> FormField:
    return FormField(
        id="f",
        name="Field",
        description="",
        required=required,
        widget=widget,  # type: ignore[arg-type]
        options=tuple((o, o.title()) for o in options),
    )


@pytest.mark.parametrize(
    ("widget", "typed", "options", "expected"),
    [
        ("text", ["  a summary  "], (), "a summary"),
        ("textarea", ["line one\nline two"], (), "line one\nline two"),
        ("select", ["a"], ("a", "b"), {"id": "a"}),
        ("multiselect", ["a", "b", "a"], ("a", "b"), [{"id": "a"}, {"id": "b"}]),
        ("cascade", ["1"], ("1", "1:11"), {"id": "1"}),
        ("cascade", ["1:11"], ("1", "1:11"), {"id": "1", "child": {"id": "11"}}),
        ("date", ["2026-12-31"], (), "2026-12-31"),
        ("datetime", ["2026-12-31T09:30"], (), "2026-12-31T09:30:00"),
        ("number", ["2.5"], (), 2.5),
    ],
)
def test_good_values_become_what_jsm_expects(
    widget: str, typed: list[str], options: tuple[str, ...], expected: object
) -> None:
    assert field_values([field(widget, options=options)], {"f": typed}) == ({"f": expected}, {})


@pytest.mark.parametrize(
    ("widget", "typed", "options", "error"),
    [
        ("text", ["x" * 256], (), "at most 255 characters"),
        ("select", ["z"], ("a", "b"), "choose one of the options"),
        ("multiselect", ["a", "z"], ("a", "b"), "choose from the options"),
        ("cascade", ["1:22"], ("1", "1:11", "2", "2:22"), "choose one of the options"),
        ("cascade", ["3"], ("1", "1:11"), "choose one of the options"),
        ("date", ["31/12/2026"], (), "must be a date like 2026-12-31"),
        ("datetime", ["tomorrow morning"], (), "must be a date and time"),
        ("number", ["many"], (), "must be a number"),
        ("number", ["nan"], (), "must be a number"),
        ("number", ["-inf"], (), "must be a number"),
        ("number", ["1e999"], (), "must be a number"),
    ],
)
def test_bad_values_are_refused_with_a_reason(
    widget: str, typed: list[str], options: tuple[str, ...], error: str
) -> None:
    _values, errors = field_values([field(widget, options=options)], {"f": typed})
    assert error in errors["f"]


def test_a_required_field_left_blank_is_refused_and_an_optional_one_skipped() -> None:
    fields = [field("text", required=True), FormField("g", "Other", "", False, "text")]
    values, errors = field_values(fields, {"f": ["   "], "g": []})
    assert values == {}
    assert errors == {"f": "Field is required"}


def test_a_cascading_select_lists_each_parent_then_its_children() -> None:
    [location] = form_fields(
        fields_from_jira(
            {
                "fieldId": "customfield_1",
                "name": "Location",
                "required": True,
                "jiraSchema": {"type": "option-with-child"},
                "validValues": [
                    {
                        "value": "21",
                        "label": "London",
                        "children": [{"value": "211", "label": "Floor 1", "children": []}],
                    },
                    {"value": "22", "label": "Paris", "children": []},
                ],
            }
        )
    )
    assert location.widget == "cascade"
    assert location.options == (
        ("21", "London"),
        ("21:211", "London \u203a Floor 1"),
        ("22", "Paris"),
    )


def test_an_attachment_field_is_a_file_input_sent_apart_from_the_values() -> None:
    [attachment] = form_fields(
        fields_from_jira(
            {
                "fieldId": "attachment",
                "name": "Attachment",
                "required": True,
                "jiraSchema": {"type": "array", "items": "attachment", "system": "attachment"},
                "validValues": [],
            }
        )
    )
    assert attachment.widget == "file"
    assert unsupported_required([attachment]) == []
    assert field_values([attachment], {"attachment": ["<UploadFile>"]}) == ({}, {})

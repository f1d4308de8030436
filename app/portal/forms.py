"""Request-type fields as form inputs: which widget, validation, and the value JSM expects."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

from app.jsm.portal_api import CASCADE_SEPARATOR
from app.jsm.schemas import RequestTypeFieldDTO, ValidValueDTO

Widget = Literal[
    "text", "textarea", "select", "multiselect", "cascade", "date", "datetime", "number", "file"
]
# A cascading select's choice in one form value: "parent" alone, or "parent:child" (both are
# option ids, which are numbers).
_CHILD = ":"
# Jira schema types whose widget has the type's name.
_PLAIN_WIDGETS: dict[str, Widget] = {"date": "date", "datetime": "datetime", "number": "number"}
_TEXTAREA_TYPES = {"com.atlassian.jira.plugin.system.customfieldtypes:textarea"}


@dataclass(frozen=True, slots=True)
class FormField:
    id: str
    name: str
    description: str
    required: bool
    widget: Widget | None  # None: a kind of field the portal cannot show yet
    options: tuple[tuple[str, str], ...] = ()


def form_fields(jira_fields: list[RequestTypeFieldDTO]) -> list[FormField]:
    fields = []
    for jira_field in jira_fields:
        schema = jira_field.jira_schema
        kind, items = schema.type, schema.items
        widget: Widget | None
        if kind == "string":
            multiline = schema.system == "description" or schema.custom in _TEXTAREA_TYPES
            widget = "textarea" if multiline else "text"
        elif kind in ("option", "priority"):
            widget = "select"
        elif kind == "array" and items == "option":
            widget = "multiselect"
        elif kind == "option-with-child":
            widget = "cascade"
        elif kind == "array" and items == "attachment":
            widget = "file"  # sent apart from the other values (see portal.attachments)
        elif kind is not None and kind in _PLAIN_WIDGETS:
            widget = _PLAIN_WIDGETS[kind]
        else:
            widget = None
        options = _options(jira_field.valid_values, cascade=widget == "cascade")
        fields.append(
            FormField(
                id=jira_field.field_id,
                name=jira_field.name or jira_field.field_id,
                description=jira_field.description or "",
                required=jira_field.required,
                widget=widget,
                options=options,
            )
        )
    return fields


def _options(valid: list[ValidValueDTO], *, cascade: bool) -> tuple[tuple[str, str], ...]:
    """(value, label) pairs. A cascading select's are flattened into one list, each parent
    followed by its children as "Parent, separator, Child": one native select, which keyboards and
    screen readers handle, and no script to keep two lists in step."""
    options: list[tuple[str, str]] = []
    for parent in valid:
        if parent.value is None:
            continue
        value, label = parent.value, parent.label or parent.value
        options.append((value, label))
        if not cascade:
            continue
        for child in parent.children:
            if child.value is not None:
                child_label = child.label or child.value
                options.append(
                    (f"{value}{_CHILD}{child.value}", f"{label}{CASCADE_SEPARATOR}{child_label}")
                )
    return tuple(options)


def unsupported_required(fields: list[FormField]) -> list[FormField]:
    return [f for f in fields if f.widget is None and f.required]


def field_values(
    fields: list[FormField], form: Mapping[str, list[str]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """(requestFieldValues for JSM, field id -> error message)."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in fields:
        if f.widget is None or f.widget == "file":
            continue
        raw = [v.strip() for v in form.get(f.id, []) if v.strip()]
        if not raw:
            if f.required:
                errors[f.id] = f"{f.name} is required"
            continue
        allowed = {value for value, _ in f.options}
        if f.widget in ("text", "textarea"):
            text = raw[0]
            if f.widget == "text" and len(text) > 255:
                errors[f.id] = f"{f.name} must be at most 255 characters"
            values[f.id] = text
        elif f.widget == "select":
            if raw[0] not in allowed:
                errors[f.id] = f"choose one of the options for {f.name}"
            values[f.id] = {"id": raw[0]}
        elif f.widget == "cascade":
            if raw[0] not in allowed:
                errors[f.id] = f"choose one of the options for {f.name}"
            parent, _, child = raw[0].partition(_CHILD)
            values[f.id] = {"id": parent} | ({"child": {"id": child}} if child else {})
        elif f.widget == "multiselect":
            if any(v not in allowed for v in raw):
                errors[f.id] = f"choose from the options for {f.name}"
            values[f.id] = [{"id": v} for v in dict.fromkeys(raw)]
        elif f.widget == "date":
            try:
                values[f.id] = date.fromisoformat(raw[0]).isoformat()
            except ValueError:
                errors[f.id] = f"{f.name} must be a date like 2026-12-31"
        elif f.widget == "datetime":
            try:
                values[f.id] = datetime.fromisoformat(raw[0]).isoformat()
            except ValueError:
                errors[f.id] = f"{f.name} must be a date and time"
        elif f.widget == "number":
            try:
                number = float(raw[0])
            except ValueError:
                number = math.nan
            # float() also reads "nan" and "inf", which JSON (and so Jira) cannot carry.
            if math.isfinite(number):
                values[f.id] = number
            else:
                errors[f.id] = f"{f.name} must be a number"
    return values, errors

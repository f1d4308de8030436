"""Request-type fields as form inputs: which widget, validation, and the value JSM expects."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

Widget = Literal["text", "textarea", "select", "multiselect", "date", "datetime", "number"]
_TEXTAREA_TYPES = {"com.atlassian.jira.plugin.system.customfieldtypes:textarea"}


@dataclass(frozen=True, slots=True)
class FormField:
    id: str
    name: str
    description: str
    required: bool
    widget: Widget | None  # None: a kind of field the portal cannot show yet
    options: tuple[tuple[str, str], ...] = ()


def form_fields(raw_fields: list[dict[str, Any]]) -> list[FormField]:
    fields = []
    for raw in raw_fields:
        schema = raw.get("jiraSchema") or {}
        kind, items, system = schema.get("type"), schema.get("items"), schema.get("system")
        widget: Widget | None
        if kind == "string":
            multiline = system == "description" or schema.get("custom") in _TEXTAREA_TYPES
            widget = "textarea" if multiline else "text"
        elif kind in ("option", "priority"):
            widget = "select"
        elif kind == "array" and items == "option":
            widget = "multiselect"
        elif kind in ("date", "datetime", "number"):
            widget = kind
        else:
            widget = None
        options = tuple(
            (str(v.get("value")), str(v.get("label") or v.get("value")))
            for v in raw.get("validValues") or []
            if isinstance(v, dict) and v.get("value") is not None
        )
        fields.append(
            FormField(
                id=str(raw.get("fieldId")),
                name=str(raw.get("name") or raw.get("fieldId")),
                description=str(raw.get("description") or ""),
                required=bool(raw.get("required")),
                widget=widget,
                options=options,
            )
        )
    return fields


def unsupported_required(fields: list[FormField]) -> list[FormField]:
    return [f for f in fields if f.widget is None and f.required]


def field_values(
    fields: list[FormField], form: Mapping[str, list[str]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """(requestFieldValues for JSM, field id -> error message)."""
    values: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for f in fields:
        if f.widget is None:
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

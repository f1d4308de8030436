"""Validation of requests and responses against Atlassian's official JSM Cloud OpenAPI spec
(``tests/data/jsm-servicedesk-openapi.json``, a copy of Atlassian's spec)."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

from jsonschema import Draft7Validator

from tests.conftest import DATA

SPEC_PATH = DATA / "jsm-servicedesk-openapi.json"


@cache
def spec() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    return loaded


@cache
def _templates() -> list[tuple[re.Pattern[str], str]]:
    compiled = []
    for template in spec()["paths"]:
        pattern = re.sub(r"\{[^}]+\}", r"[^/]+", template)
        compiled.append((re.compile(f"^{pattern}$"), template))
    # Literal segments beat parameters: longer literal text first.
    compiled.sort(key=lambda item: -len(re.sub(r"\{[^}]+\}", "", item[1])))
    return compiled


def operation(method: str, path: str) -> dict[str, Any]:
    for pattern, template in _templates():
        if pattern.match(path):
            op = spec()["paths"][template].get(method.lower())
            if op is None:
                raise AssertionError(f"{method} {template} is not in the JSM spec")
            result: dict[str, Any] = op
            return result
    raise AssertionError(f"{path} is not in the JSM spec")


def _validate(schema: dict[str, Any], instance: Any, what: str) -> None:
    validator = Draft7Validator({"components": spec()["components"], **schema})
    errors = sorted(validator.iter_errors(instance), key=lambda e: list(e.path))
    if errors:
        raise AssertionError(
            f"{what} does not match the JSM spec: {errors[0].message} at {list(errors[0].path)}"
        )


def _json_schema(container: dict[str, Any]) -> dict[str, Any] | None:
    content = (container or {}).get("content", {})
    media = content.get("application/json") or next(iter(content.values()), None)
    schema = media.get("schema") if media else None
    return schema if isinstance(schema, dict) else None


def validate_request(method: str, path: str, body: Any) -> None:
    op = operation(method, path)
    schema = _json_schema(op.get("requestBody", {}))
    if schema is None:
        assert body is None, f"{method} {path} takes no body"
        return
    _validate(schema, body, f"request body of {method} {path}")


def validate_response(method: str, path: str, status: int, body: Any) -> None:
    op = operation(method, path)
    responses = op.get("responses", {})
    assert str(status) in responses, f"{method} {path} cannot answer {status} according to the spec"
    schema = _json_schema(responses[str(status)])
    if schema is not None and body is not None:
        _validate(schema, body, f"{status} response of {method} {path}")


def validate_multipart(method: str, path: str, part_names: list[str]) -> None:
    """A multipart body: the operation must take one, in parts named as its docs say."""
    op = operation(method, path)
    content = op.get("requestBody", {}).get("content", {})
    assert "multipart/form-data" in content, f"{method} {path} takes no multipart body"
    assert part_names, f"{method} {path}: no parts"
    assert set(part_names) == {"file"}, f"parts must be named 'file': {part_names}"

"""The customer portal in six languages: every text of a customer page is in the catalog
and translated, the page speaks the customer's choice or their browser's language, and dates
follow it."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from app import i18n
from app.templating import templates
from tests.conftest import ROOT, InstalledTenant

TEMPLATES = ROOT / "app" / "templates"
# The admin's Test connection result is part of the admin's tools, which are in English.
ADMIN_ONLY = {"oidc/test_result.html"}
PLACEHOLDER = re.compile(r"%\((\w+)\)s")


def catalog_ids() -> set[str]:
    """Every message the templates and the code mark, as `make i18n` extracts them."""
    method_map = [("app/**.py", "python"), ("app/templates/**.html", "jinja2")]
    options = {"app/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    return {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(ROOT),
            method_map,
            options_map=options,
            keywords={"_": None, "N_": None, "gettext": None},
        )
        if isinstance(message, str)
    }


@pytest.mark.parametrize("locale", [code for code in i18n.LANGUAGES if code != i18n.DEFAULT])
def test_every_text_is_translated_with_the_same_placeholders(locale: str) -> None:
    path = ROOT / "app" / "locale" / locale / "LC_MESSAGES" / "messages.po"
    with path.open("rb") as source:
        catalog = read_po(source, locale=locale)
    translated = {m.id: m.string for m in catalog if m.id}
    missing = sorted(catalog_ids() - {k for k, v in translated.items() if v})
    assert missing == [], f"untranslated in {locale} (run `make i18n`, then translate): {missing}"
    for message_id, text in translated.items():
        assert set(PLACEHOLDER.findall(message_id)) == set(PLACEHOLDER.findall(str(text))), (
            locale,
            message_id,
        )


def customer_templates() -> list[Path]:
    return [
        path
        for path in sorted(TEMPLATES.rglob("*.html"))
        if str(path.relative_to(TEMPLATES)) not in ADMIN_ONLY
    ]


VISIBLE_ATTRIBUTES = re.compile(r'\b(?:placeholder|aria-label|alt|title)="([^"]*)"')


def untranslated_text(source: str) -> list[str]:
    """Text of a template outside ``{% trans %}`` and ``_()``: its markup without tags,
    expressions and blocks, and the visible attributes (placeholder, aria-label, alt, title)."""
    parts: list[str] = []
    in_trans = False  # inside {% trans %}, or a {% set name %}...{% endset %} (a value, not text)
    block_set = False  # {% set name %} seen, no "=" yet: a block set, if the tag ends so
    after_block_begin = False
    for _line, kind, value in templates.env.lex(source):
        if kind == "whitespace":
            continue
        if kind == "block_begin":
            after_block_begin = True
            parts.append("\x00")
            continue
        if after_block_begin and kind == "name":
            if value == "trans":
                in_trans = True
            elif value in ("endtrans", "endset"):
                in_trans = False
            elif value == "set":
                block_set = True
        elif block_set and kind == "operator" and value == "=":
            block_set = False
        elif block_set and kind == "block_end":
            block_set, in_trans = False, True
        after_block_begin = False
        if kind == "data" and not in_trans:
            parts.append(value)
        elif kind == "variable_begin":
            parts.append("\x00")
    markup = "".join(parts)
    found = [
        v
        for v in VISIBLE_ATTRIBUTES.findall(markup)
        if re.search(r"[^\W\d_]", v.replace("\x00", ""))
    ]
    text = re.sub(r"<!--.*?-->", " ", markup, flags=re.S)
    text = re.sub(r"<[^>]*>", " ", text).replace("\x00", " ")
    found += [word for word in text.split() if re.search(r"[^\W\d_]", word)]
    return found


@pytest.mark.parametrize("path", customer_templates(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_a_customer_page_has_no_text_outside_the_catalog(path: Path) -> None:
    assert untranslated_text(path.read_text(encoding="utf-8")) == []


def test_the_check_finds_text_outside_the_catalog() -> None:
    assert untranslated_text("<p>Hello {{ name }}</p>") == ["Hello"]
    assert untranslated_text('<input placeholder="Search here">') == ["Search here"]
    assert untranslated_text("<p>{% trans %}Hello{% endtrans %} {{ _('World') }} ·</p>") == []


@pytest.mark.parametrize(
    ("accept_language", "cookie", "expected"),
    [
        ("de-DE,de;q=0.9,en;q=0.8", None, "de"),
        ("fr-CA,fr;q=0.9", None, "fr"),
        ("pt-PT", None, "pt_BR"),
        ("ja", None, "ja"),
        ("es-419,es;q=0.8", None, "es"),
        ("xx, tlh;q=0.5", None, "en"),
        ("en;q=0.1, de;q=0.9", None, "de"),
        ("de", "fr", "fr"),
        ("de", "klingon", "de"),
        (None, None, "en"),
    ],
)
def test_the_language_is_the_choice_then_the_browsers(
    accept_language: str | None, cookie: str | None, expected: str
) -> None:
    assert i18n.choose(cookie, accept_language) == expected


def test_dates_and_numbers_follow_the_language() -> None:
    with i18n.speaking("de"):
        assert i18n.local_datetime("2026-11-27T14:05:00+0000") == "27.11.2026 14:05"
        assert i18n.local_number(1234.5) == "1.234,5"
    with i18n.speaking("ja"):
        assert i18n.local_date("2026-11-27") == "2026/11/27"
    with i18n.speaking("en"):
        assert i18n.local_datetime("not a date") == "not a date"


async def test_a_page_speaks_the_browsers_language_and_the_switcher_remembers_another(
    client: httpx.AsyncClient, tenant: InstalledTenant
) -> None:
    signed_out = f"/portal/{tenant.tenant_id}/signed-out"
    german = await client.get(signed_out, headers={"Accept-Language": "de-DE,de;q=0.9"})
    assert '<html lang="de">' in german.text
    assert "Sie haben sich abgemeldet" in german.text
    assert german.headers["content-language"] == "de"
    chosen = await client.get(
        "/portal/language/ja", params={"next": signed_out}, headers={"Accept-Language": "de"}
    )
    assert chosen.status_code == 303
    assert chosen.headers["location"] == signed_out
    japanese = await client.get(signed_out, headers={"Accept-Language": "de"})
    assert '<html lang="ja">' in japanese.text
    assert "サインアウトしました" in japanese.text


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/x", "/admin", "/portal/../admin", ""]
)
async def test_the_switcher_goes_back_only_to_a_portal_page(
    client: httpx.AsyncClient, target: str
) -> None:
    refused = await client.get("/portal/language/de", params={"next": target})
    assert refused.status_code == 400
    assert "set-cookie" not in refused.headers
    assert (
        await client.get("/portal/language/xx", params={"next": "/portal/x"})
    ).status_code == 404

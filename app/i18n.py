"""The customer portal's languages: gettext catalogs (``app/locale/<lang>/LC_MESSAGES/
messages.po``, kept with Babel) and per-locale dates and numbers.

The language of a page is the customer's choice (the ``portal_lang`` cookie the switcher
sets), else the best match of the browser's ``Accept-Language``, else English. It is held in
a context variable while a page renders, so the template's ``_()`` and filters read it
without it being passed through every call. Catalogs are read from the ``.po`` files and
compiled in memory once per process (no compiled ``.mo`` files to keep in step).

What is translated: the text of the customer pages (templates) and the portal's own notices
marked with ``N_``. Request type names, statuses and field labels come from Jira as they are;
messages raised by the code's checks (a refused sign-in, a form error) are English for now.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.dates import format_date, format_time
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DEFAULT = "en"
# The languages offered, each named in itself (the switcher's labels).
LANGUAGES: dict[str, str] = {
    "en": "English",
    "de": "Deutsch",
    "fr": "Français",
    "es": "Español",
    "pt_BR": "Português (Brasil)",
    "ja": "日本語",
}
COOKIE = "portal_lang"

_current: ContextVar[str] = ContextVar("portal_locale", default=DEFAULT)


def N_(message: str) -> str:
    """Marks ``message`` for the catalog; it is translated where it is shown."""
    return message


@cache
def translations(locale: str) -> NullTranslations:
    """The compiled catalog of ``locale`` (English, the source language, has none)."""
    path = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if locale == DEFAULT or not path.exists():
        return NullTranslations()
    with path.open("rb") as source:
        catalog = read_po(source, locale=locale)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled)


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The page's language: the customer's choice, else the browser's, else English."""
    if cookie in LANGUAGES:
        return cookie
    wanted = []
    for part in (accept_language or "").split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        if tag and quality > 0:
            wanted.append((quality, tag.strip().replace("-", "_")))
    for _quality, tag in sorted(wanted, key=lambda item: -item[0]):
        try:
            asked = Locale.parse(tag)
        except (ValueError, UnknownLocaleError):
            continue
        exact = f"{asked.language}_{asked.territory}" if asked.territory else asked.language
        if exact in LANGUAGES:
            return exact
        # A language we have in one variant: any Portuguese reads the Brazilian catalog.
        for offered in LANGUAGES:
            if offered.split("_")[0] == asked.language:
                return offered
    return DEFAULT


@contextmanager
def speaking(locale: str) -> Iterator[None]:
    token = _current.set(locale if locale in LANGUAGES else DEFAULT)
    try:
        yield
    finally:
        _current.reset(token)


def current() -> str:
    return _current.get()


def html_lang() -> str:
    """The page's ``lang`` attribute (BCP 47)."""
    return current().replace("_", "-")


def gettext(message: str) -> str:
    return translations(current()).gettext(message)


def ngettext(singular: str, plural: str, n: int) -> str:
    return translations(current()).ngettext(singular, plural, n)


def local_datetime(iso8601: str | None) -> str:
    """A date and time from Jira (ISO 8601), in the page's language ("27 nov. 2026 12:00"),
    at the offset Jira gave."""
    if not iso8601:
        return ""
    try:
        when = datetime.fromisoformat(iso8601)
    except ValueError:
        return iso8601
    locale = current()
    return (
        f"{format_date(when, 'medium', locale=locale)} {format_time(when, 'short', locale=locale)}"
    )


def local_date(iso8601: str | None) -> str:
    if not iso8601:
        return ""
    try:
        when = datetime.fromisoformat(iso8601)
    except ValueError:
        return iso8601
    return format_date(when, "medium", locale=current())


def local_number(value: float) -> str:
    return format_decimal(value, locale=current())

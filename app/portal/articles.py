"""Knowledge base articles, made safe to show inside the portal.

JSM renders an article's body as HTML written in Confluence by the site's agents. It is
shown on a page of ours, so it goes through nh3 (the Rust ``ammonia`` sanitiser): only text
formatting, lists, tables, headings, code and links survive; no script, style, form, frame
or event attribute. Links to other articles (JSM's article view, or the Confluence page) are
pointed at the portal's own article page, so a customer stays in the portal; links elsewhere
keep their https/mailto target and open with ``rel="noopener noreferrer nofollow"``; any
other link (a relative one, which would resolve against this service) is dropped. Images are
left out: Confluence serves them only to signed-in users, and the portal's CSP loads none
from elsewhere."""

from __future__ import annotations

import re
from collections.abc import Callable

import nh3

_TAGS = {
    "a", "b", "blockquote", "br", "caption", "code", "dd", "del", "div", "dl", "dt", "em",
    "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "kbd", "li", "ol", "p", "pre", "s",
    "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "tr", "u", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "a": {"href", "title"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
}
# Tags whose content goes too: what they hold is code or layout, never article text.
_DROPPED_WITH_CONTENT = {
    "script",
    "style",
    "template",
    "noscript",
    "iframe",
    "object",
    "svg",
    "math",
}

_ARTICLE_LINK = re.compile(
    r"/(?:rest/servicedeskapi/knowledgebase/article/view|wiki/spaces/[^/]+/pages)/([0-9]{1,18})(?:[/?#]|$)"
)


def safe_article(html: str, *, article_url: Callable[[str], str]) -> str:
    """``html`` as it may be put on a portal page; ``article_url(page_id)`` is the portal's
    page for another article."""

    def link(tag: str, attribute: str, value: str) -> str | None:
        if tag != "a" or attribute != "href":
            return value
        found = _ARTICLE_LINK.search(value)
        if found is not None:
            return article_url(found.group(1))
        return value if value.startswith(("https://", "mailto:")) else None

    return nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags=_DROPPED_WITH_CONTENT,
        attributes=_ATTRIBUTES,
        attribute_filter=link,
        url_schemes={"https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        url_relative="pass_through",  # our own /portal/... links; others were dropped above
    )

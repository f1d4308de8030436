"""Files on a customer's request: those of public comments open through the portal, images
inline with a thumbnail and everything else as a download; an internal note's file, another
customer's, or an id out of thin air is "not found"."""

from __future__ import annotations

import httpx
import pytest

from tests.support.fake_jira import FakeJira
from tests.support.login_fixtures import DESK_ID, SignedIn

pytestmark = pytest.mark.usefixtures("fast_jira")

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def request_with_files(signed_in: SignedIn, jira: FakeJira) -> tuple[str, dict[str, str]]:
    key = jira.add_request(DESK_ID, signed_in.account_id, "Screen flickers")
    ids = {
        "shot": jira.add_file("screen.png", "image/png", PNG),
        "log": jira.add_file("boot log.txt", "text/plain", b"line 1\n"),
        "svg": jira.add_file("logo.svg", "image/svg+xml", b"<svg onload='alert(1)'/>"),
        "page": jira.add_file("page.html", "text/html", b"<script>alert(1)</script>"),
        "internal": jira.add_file("notes.txt", "text/plain", b"internal only"),
    }
    jira.requests[key]["comments"] += [
        {
            "id": "1",
            "body": "Here you go",
            "public": True,
            "author": "557058:agent",
            "files": [ids["shot"], ids["log"], ids["svg"], ids["page"]],
        },
        {
            "id": "2",
            "body": "agents only",
            "public": False,
            "author": "557058:agent",
            "files": [ids["internal"]],
        },
    ]
    return key, ids


async def test_the_request_lists_its_public_files_with_image_thumbnails(
    client: httpx.AsyncClient, signed_in: SignedIn, request_with_files: tuple[str, dict[str, str]]
) -> None:
    key, ids = request_with_files
    page = await client.get(f"{signed_in.home}/requests/{key}")
    files = f"{signed_in.home}/requests/{key}/files"
    assert f'<img src="{files}/{ids["shot"]}/thumbnail"' in page.text
    assert f'<a href="{files}/{ids["log"]}" download>boot log.txt</a>' in page.text
    assert "notes.txt" not in page.text


async def test_an_image_opens_inline_and_its_thumbnail_too(
    client: httpx.AsyncClient, signed_in: SignedIn, request_with_files: tuple[str, dict[str, str]]
) -> None:
    key, ids = request_with_files
    files = f"{signed_in.home}/requests/{key}/files"
    image = await client.get(f"{files}/{ids['shot']}")
    assert image.status_code == 200
    assert image.content == PNG
    assert image.headers["content-type"] == "image/png"
    assert image.headers["content-disposition"].startswith("inline;")
    assert "sandbox" in image.headers["content-security-policy"]
    thumbnail = await client.get(f"{files}/{ids['shot']}/thumbnail")
    assert thumbnail.status_code == 200
    assert thumbnail.headers["content-type"] == "image/png"


@pytest.mark.parametrize("name", ["log", "svg", "page"])
async def test_anything_but_an_image_downloads_and_never_renders(
    client: httpx.AsyncClient,
    signed_in: SignedIn,
    request_with_files: tuple[str, dict[str, str]],
    name: str,
) -> None:
    key, ids = request_with_files
    got = await client.get(f"{signed_in.home}/requests/{key}/files/{ids[name]}")
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/octet-stream"
    assert got.headers["content-disposition"].startswith("attachment; filename*=UTF-8''")
    assert got.headers["x-content-type-options"] == "nosniff"
    no_thumbnail = await client.get(f"{signed_in.home}/requests/{key}/files/{ids[name]}/thumbnail")
    assert no_thumbnail.status_code == 404


async def test_an_internal_notes_file_or_a_made_up_id_is_not_found(
    client: httpx.AsyncClient,
    signed_in: SignedIn,
    jira: FakeJira,
    request_with_files: tuple[str, dict[str, str]],
) -> None:
    key, ids = request_with_files
    for attachment_id in (ids["internal"], "999999", "abc"):
        got = await client.get(f"{signed_in.home}/requests/{key}/files/{attachment_id}")
        assert got.status_code == 404, attachment_id
        assert b"internal only" not in got.content
    # Another customer's request, even naming a file that is on it.
    theirs = jira.add_request(DESK_ID, "qm:someone-else", "Theirs")
    jira.requests[theirs]["comments"].append(
        {"id": "1", "body": "x", "public": True, "author": "557058:agent", "files": [ids["log"]]}
    )
    got = await client.get(f"{signed_in.home}/requests/{theirs}/files/{ids['log']}")
    assert got.status_code == 404
    # The file of one request, asked for through another of the customer's requests.
    mine = jira.add_request(DESK_ID, signed_in.account_id, "Another of mine")
    got = await client.get(f"{signed_in.home}/requests/{mine}/files/{ids['log']}")
    assert got.status_code == 404


async def test_a_file_too_large_to_pass_through_says_where_to_get_it(
    client: httpx.AsyncClient,
    signed_in: SignedIn,
    jira: FakeJira,
    request_with_files: tuple[str, dict[str, str]],
) -> None:
    key, ids = request_with_files
    jira.files[ids["log"]] = ("huge.bin", "application/octet-stream", b"x" * (16 * 1024 * 1024 + 1))
    got = await client.get(f"{signed_in.home}/requests/{key}/files/{ids['log']}")
    assert got.status_code == 413
    assert "native portal" in got.text


async def test_files_need_a_session(
    client: httpx.AsyncClient, signed_in: SignedIn, request_with_files: tuple[str, dict[str, str]]
) -> None:
    key, ids = request_with_files
    client.cookies.clear()
    got = await client.get(f"{signed_in.home}/requests/{key}/files/{ids['shot']}")
    assert got.status_code == 303


async def test_request_type_icons_are_passed_through_as_png(
    client: httpx.AsyncClient, signed_in: SignedIn
) -> None:
    home = await client.get(signed_in.home)
    assert f'<img class="icon" src="{signed_in.home}/icons/105' in home.text
    icon = await client.get(f"{signed_in.home}/icons/10510")
    assert icon.status_code == 200
    assert icon.headers["content-type"] == "image/png"
    assert icon.content.startswith(b"\x89PNG")
    assert (await client.get(f"{signed_in.home}/icons/999")).status_code == 404
    assert (await client.get(f"{signed_in.home}/icons/../x")).status_code == 404
    client.cookies.clear()
    assert (await client.get(f"{signed_in.home}/icons/10510")).status_code == 401

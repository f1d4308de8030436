"""Calls to Jira's platform REST API (``/rest/api/3``) about the site and the caller, parsed
into typed answers here, at the edge of ``jsm/``."""

from __future__ import annotations

from app.jsm.client import JiraClient
from app.jsm.schemas import MyselfDTO, ServerInfoDTO, parse


async def myself(jira: JiraClient) -> MyselfDTO:
    """Who Jira takes the caller for (``GET /rest/api/3/myself``)."""
    return parse(MyselfDTO, await jira.get_json("/rest/api/3/myself"), "the caller's account")


async def server_info(jira: JiraClient) -> ServerInfoDTO:
    """The site's own description (``GET /rest/api/3/serverInfo``): its base URL, for one."""
    return parse(ServerInfoDTO, await jira.get_json("/rest/api/3/serverInfo"), "server info")

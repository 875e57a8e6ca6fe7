"""The aiohttp application: ``POST /api`` and ``GET /.well-known/jmap``.

Started by the daemon when ``daemon.api.listen`` is set and keys are declared. Each request is
handled in order: bearer key (wrong ones rate-limited per address), concurrency limit, content
type, size, JSON, request object, then the calls (all synchronous on the event loop, so a /set sees
and leaves one consistent configuration). Errors before the calls are problem details; no
response ever holds a traceback or a secret, and nothing of a request body is logged.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from dnsauto.api.auth import Authenticator, AuthFailure, Client
from dnsauto.api.methods import ApiHost, Context, States, process
from dnsauto.api.protocol import (
    ACCOUNT_ID,
    CORE,
    STALWART,
    ProblemError,
    dumps,
    limit_error,
    parse_json,
    parse_request,
)
from dnsauto.api.tasks import TaskTracker
from dnsauto.config.daemon import ApiSettings, parse_host_port
from dnsauto.errors import DnsautoError
from dnsauto.state import StateStore

__all__ = ["ApiServer"]

log = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"
REALM = 'Bearer realm="dnsauto"'


class ApiServer:
    """The API of one daemon (``host``), its objects kept in ``store``."""

    def __init__(self, host: ApiHost, store: StateStore, *, tasks: TaskTracker | None = None):
        self.host = host
        self.store = store
        self.tasks = tasks if tasks is not None else TaskTracker()
        self.states = States()
        self.auth = Authenticator(self.settings)
        self._in_flight = 0
        self._runner: web.AppRunner | None = None
        self.address: str | None = None

    def settings(self) -> ApiSettings:
        return self.host.config.daemon.api

    # --- life cycle -----------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1 << 62)  # the handler enforces the limit
        app.router.add_post("/api", self.handle_api)
        app.router.add_get("/.well-known/jmap", self.handle_session)
        return app

    async def start(self, listen: str) -> str:
        """Listen on ``host:port`` (port 0: any); the address, with the port chosen."""
        host, port = parse_host_port(listen, default_port=0)
        runner = web.AppRunner(self.app(), access_log=None, handle_signals=False)
        await runner.setup()
        site = web.TCPSite(runner, host, port, reuse_address=True)
        try:
            await site.start()
        except OSError as exc:
            await runner.cleanup()
            raise DnsautoError(
                f"daemon.api.listen {listen}: cannot listen there: {exc.strerror or exc}"
            ) from None
        self._runner = runner
        bound = runner.addresses[0][1] if runner.addresses else port
        self.address = f"[{host}]:{bound}" if ":" in host else f"{host}:{bound}"
        log.info("JMAP API on http://%s/api", self.address)
        return self.address

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # --- handlers -------------------------------------------------------------------------------

    async def handle_api(self, request: web.Request) -> web.StreamResponse:
        try:
            client = self._authenticate(request)
            settings = self.settings()
            if self._in_flight >= settings.max_concurrent_requests:
                raise limit_error(
                    "maxConcurrentRequests",
                    f"at most {settings.max_concurrent_requests} requests at once",
                )
            self._in_flight += 1
            try:
                body = await self._body(request, settings)
                parsed = parse_request(parse_json(body), max_calls=settings.max_calls_in_request)
                ctx = Context(
                    host=self.host,
                    store=self.store,
                    tasks=self.tasks,
                    states=self.states,
                    settings=settings,
                    client=client,
                )
                response = process(parsed, ctx)
            finally:
                self._in_flight -= 1
            response["sessionState"] = self._session_state(client)
            text = dumps(response).encode("utf-8")
        except ProblemError as problem:
            return _problem(problem)
        except Exception as exc:
            log.error("API request failed: %s", type(exc).__name__)
            return _problem(
                ProblemError(500, "about:blank", "Internal Server Error", "the request failed")
            )
        return web.Response(body=text, content_type="application/json", charset="utf-8")

    async def handle_session(self, request: web.Request) -> web.StreamResponse:
        try:
            client = self._authenticate(request)
        except ProblemError as problem:
            return _problem(problem)
        document = self._session(client, f"{request.scheme}://{request.host}")
        return web.Response(text=dumps(document), content_type="application/json")

    # --- steps ----------------------------------------------------------------------------------

    def _authenticate(self, request: web.Request) -> Client:
        address = request.remote or "unknown"
        try:
            return self.auth.authenticate(request.headers.get("Authorization"), address)
        except AuthFailure as failure:
            if failure.retry_after is not None:
                raise ProblemError(
                    429,
                    "about:blank",
                    "Too Many Requests",
                    failure.detail,
                    headers={"Retry-After": str(failure.retry_after)},
                ) from None
            challenge = REALM
            if failure.error is not None:
                challenge += f', error="{failure.error}", error_description="{failure.detail}"'
            raise ProblemError(
                401,
                "about:blank",
                "Unauthorized",
                failure.detail,
                headers={"WWW-Authenticate": challenge},
            ) from None

    async def _body(self, request: web.Request, settings: ApiSettings) -> bytes:
        content_type = request.headers.get("Content-Type", "")
        if content_type.split(";")[0].strip().lower() != "application/json":
            raise ProblemError.jmap("notJSON", "the Content-Type must be application/json")
        limit = settings.max_request_bytes
        too_large = limit_error(
            "maxSizeRequest", f"the request is larger than {limit} bytes", status=413
        )
        if request.content_length is not None and request.content_length > limit:
            raise too_large
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = await request.content.readany()
            if not chunk:
                break
            size += len(chunk)
            if size > limit:
                raise too_large
            chunks.append(chunk)
        return b"".join(chunks)

    def _capabilities(self) -> dict[str, Any]:
        settings = self.settings()
        return {
            CORE: {
                "maxSizeUpload": 0,
                "maxConcurrentUpload": 0,
                "maxSizeRequest": settings.max_request_bytes,
                "maxConcurrentRequests": settings.max_concurrent_requests,
                "maxCallsInRequest": settings.max_calls_in_request,
                "maxObjectsInGet": settings.max_objects,
                "maxObjectsInSet": settings.max_objects,
                "collationAlgorithms": [],
            },
            STALWART: {},
        }

    def _session_state(self, client: Client) -> str:
        content = [client.name, sorted(client.permissions), self._capabilities()]
        return self.states.digest(json.dumps(content, sort_keys=True))

    def _session(self, client: Client, base: str) -> dict[str, Any]:
        return {
            "capabilities": self._capabilities(),
            "accounts": {
                ACCOUNT_ID: {
                    "name": ACCOUNT_ID,
                    "isPersonal": False,
                    "isReadOnly": False,
                    "accountCapabilities": {STALWART: {}},
                }
            },
            "primaryAccounts": {STALWART: ACCOUNT_ID},
            "username": client.name,
            "apiUrl": f"{base}/api",
            "downloadUrl": f"{base}/download/{{accountId}}/{{blobId}}/{{name}}?accept={{type}}",
            "uploadUrl": f"{base}/upload/{{accountId}}/",
            "eventSourceUrl": f"{base}/eventsource/?types={{types}}&closeafter={{closeafter}}"
            "&ping={ping}",
            "state": self._session_state(client),
        }


def _problem(problem: ProblemError) -> web.Response:
    return web.Response(
        status=problem.status,
        text=dumps(problem.document()),
        content_type=PROBLEM_TYPE,
        headers=problem.headers,
    )

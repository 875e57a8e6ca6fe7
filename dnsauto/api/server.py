"""The aiohttp application: ``POST /api`` (also ``/jmap/``, Stalwart's path), the session
(``GET /jmap/session``; ``/.well-known/jmap`` redirects there), ``GET /api/schema`` (what
stalwart-cli reads), the EventSource (``GET /jmap/eventsource/``), and ``OPTIONS`` with CORS
for ``allowedOrigins``. HTTPS when ``[daemon.api.tls]`` is set.

Started by the daemon when ``daemon.api.listen`` is set and keys are declared. Each request is
handled in order: bearer key (wrong ones rate-limited per address), concurrency limit, content
type, size, JSON, request object, then the calls: on the event loop, except that a request
with a /set runs in the one worker thread for /set (so sets run one at a time, each seeing and
leaving one consistent configuration, while other requests are answered); what a /set keeps
and hands to the daemon is done back on the loop. Errors before the calls are problem details; no
response ever holds a traceback or a secret, and nothing of a request body is logged.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ipaddress
import json
import logging
import re
import resource
import ssl
from collections.abc import Callable, Sequence
from typing import Any, cast

from aiohttp import web
from aiohttp.typedefs import Handler as AiohttpHandler

from dnsauto.api import events, schema
from dnsauto.api.auth import Authenticator, AuthFailure, Client
from dnsauto.api.methods import ApiHost, Context, States, process
from dnsauto.api.protocol import (
    ACCOUNT_ID,
    CORE,
    STALWART,
    ProblemError,
    Request,
    dumps,
    limit_error,
    parse_json,
    parse_request,
)
from dnsauto.api.tasks import TaskTracker
from dnsauto.config.daemon import ApiPermission, ApiSettings, parse_host_port
from dnsauto.config.overlay import Kind
from dnsauto.plugin.errors import DnsautoError
from dnsauto.plugin.pieces import dumps_in_pieces
from dnsauto.state.store import StateStore

__all__ = ["ApiServer"]

log = logging.getLogger(__name__)

PROBLEM_TYPE = "application/problem+json"
READ_PERMISSION = {
    "x:Bootstrap": ApiPermission.BOOTSTRAP_GET,
    "x:DnsServer": ApiPermission.DNS_SERVER_GET,
    "x:Domain": ApiPermission.DOMAIN_GET,
    "x:Task": ApiPermission.TASK_GET,
}
KIND = {"x:Bootstrap": Kind.BOOTSTRAP, "x:DnsServer": Kind.DNS_SERVER, "x:Domain": Kind.DOMAIN}
_FORWARDED_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")
REALM = 'Bearer realm="dnsauto"'
BUSY = (
    b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 26\r\n"
    b"Connection: close\r\nRetry-After: 1\r\n\r\ntoo many open connections\n"
)


class _Connection(asyncio.Protocol):
    """One client connection: aiohttp's protocol (``inner``) inside a guard that closes it
    when it holds the server without asking: no complete headers within ``headerTimeout`` of
    its opening or of a request's first byte, nothing within ``keepAliveTimeout`` after a
    response. Connections over ``maxConnections`` get a 503 and are closed at once."""

    def __init__(self, inner: asyncio.Protocol, guard: _Connections) -> None:
        self.inner = inner
        self.guard = guard
        self.transport: asyncio.Transport | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._busy = False
        self._idle = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        if not self.guard.admit(self):
            self.transport.write(BUSY)
            self.transport.close()
            return
        self._arm(self.guard.settings().header_timeout.total_seconds())
        self.inner.connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self._idle:  # the next request begins: its headers have headerTimeout
            self._idle = False
            self._arm(self.guard.settings().header_timeout.total_seconds())
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self.guard.release(self):
            self.inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()

    def request_started(self) -> None:
        self._busy, self._idle = True, False
        self._disarm()

    def request_finished(self) -> None:
        self._busy, self._idle = False, True
        self._arm(self.guard.settings().keep_alive_timeout.total_seconds())

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._timer = asyncio.get_running_loop().call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _expire(self) -> None:
        self._timer = None
        if not self._busy and self.transport is not None:
            self.transport.abort()


class _Connections:
    """The open connections of one API server, at most ``maxConnections`` (and half the
    process's open-files limit, so syncs and reloads always have files to open)."""

    def __init__(self, settings: Callable[[], ApiSettings]) -> None:
        self.settings = settings
        self.open: dict[asyncio.Transport, _Connection] = {}
        self._refusals = 0

    def limit(self) -> int:
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        cap = self.settings().max_connections
        return cap if soft == resource.RLIM_INFINITY else max(1, min(cap, soft // 2))

    def admit(self, connection: _Connection) -> bool:
        assert connection.transport is not None
        if len(self.open) >= self.limit():
            self._refusals += 1
            if self._refusals in (1, 10) or self._refusals % 1000 == 0:
                log.warning(
                    "API: %d connections open, the most allowed; refused %d so far",
                    len(self.open),
                    self._refusals,
                )
            return False
        self.open[connection.transport] = connection
        return True

    def release(self, connection: _Connection) -> bool:
        """Forget ``connection``; whether it had been admitted."""
        return connection.transport is not None and (
            self.open.pop(connection.transport, None) is not None
        )

    def of(self, request: web.BaseRequest) -> _Connection | None:
        transport = request.transport
        return None if transport is None else self.open.get(transport)


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
        self._listener: asyncio.Server | None = None
        self.connections = _Connections(self.settings)
        self._set_worker = concurrent.futures.ThreadPoolExecutor(1, "dnsauto-api-set")
        self.address: str | None = None
        self.events = events.EventHub()
        self.tasks.listeners.append(self.events.notify)

    def settings(self) -> ApiSettings:
        return self.host.config.daemon.api

    # --- life cycle -----------------------------------------------------------------------------

    def app(self) -> web.Application:
        app = web.Application(
            client_max_size=1 << 62,  # the handler enforces the limit
            middlewares=[self._track_request, self._cors],
        )
        router = app.router
        for path in ("/api", "/jmap", "/jmap/"):
            router.add_post(path, self.handle_api)
        router.add_get("/jmap/session", self.handle_session)
        router.add_get("/.well-known/jmap", self.handle_well_known)
        router.add_get("/api/schema", self.handle_schema_redirect)
        router.add_get("/api/schema/{hash}", self.handle_schema)
        router.add_get("/jmap/eventsource", self.handle_event_source)
        router.add_get("/jmap/eventsource/", self.handle_event_source)
        router.add_post("/jmap/upload/{account}/", self.handle_upload)
        router.add_post("/jmap/upload/{account}", self.handle_upload)
        router.add_get("/jmap/download/{tail:.*}", self.handle_download)
        return app

    async def start(self, listen: str) -> str:
        """Listen on ``host:port`` (port 0: any); the address, with the port chosen."""
        host, port = parse_host_port(listen, default_port=0)
        context = self._tls_context()
        # aiohttp's own idle timer only backs up the connection guard's
        runner = web.AppRunner(
            self.app(), access_log=None, handle_signals=False, keepalive_timeout=3600
        )
        await runner.setup()
        server = runner.server
        assert server is not None
        try:
            self._listener = await asyncio.get_running_loop().create_server(
                lambda: _Connection(server(), self.connections),
                host,
                port,
                reuse_address=True,
                ssl=context,
                ssl_handshake_timeout=(
                    self.settings().header_timeout.total_seconds() if context else None
                ),
            )
        except OSError as exc:
            await runner.cleanup()
            raise DnsautoError(
                f"daemon.api.listen {listen}: cannot listen there: {exc.strerror or exc}"
            ) from None
        self._runner = runner
        bound = self._listener.sockets[0].getsockname()[1] if self._listener.sockets else port
        self.address = f"[{host}]:{bound}" if ":" in host else f"{host}:{bound}"
        self.events.bind()
        log.info("JMAP API on %s://%s/api", "https" if context else "http", self.address)
        return self.address

    def _tls_context(self) -> ssl.SSLContext | None:
        tls = self.settings().tls
        if tls is None:
            return None
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(tls.certificate, tls.private_key)
        except (OSError, ssl.SSLError) as exc:
            reason = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
            raise DnsautoError(
                f"daemon.api.tls: cannot use the certificate {tls.certificate} and key "
                f"{tls.private_key}: {reason}"
            ) from None
        return context

    async def close(self) -> None:
        self.events.close()
        if self._listener is not None:
            self._listener.close()
            for transport in list(self.connections.open):
                transport.abort()
            await self._listener.wait_closed()
            self._listener = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._set_worker.shutdown(wait=False)

    @web.middleware
    async def _cors(self, request: web.Request, handler: AiohttpHandler) -> web.StreamResponse:
        """CORS headers on every answer to an origin in ``allowedOrigins``; ``OPTIONS`` on any
        path is a preflight (answered here, so other paths keep their 404 and 405)."""
        if request.method == "OPTIONS":
            return await self.handle_options(request)
        response = await handler(request)
        if not response.prepared:
            response.headers.update(self._cors_headers(request))
        return response

    def _cors_headers(self, request: web.BaseRequest) -> dict[str, str]:
        origin = request.headers.get("Origin")
        allowed = self.settings().allowed_origins
        if origin is None or not (origin in allowed or "*" in allowed):
            return {}
        return {
            "Access-Control-Allow-Origin": "*" if "*" in allowed else origin,
            "Access-Control-Expose-Headers": "Retry-After, WWW-Authenticate",
            "Vary": "Origin",
        }

    @web.middleware
    async def _track_request(
        self, request: web.Request, handler: AiohttpHandler
    ) -> web.StreamResponse:
        """A connection handling a request is not idle; it is again once answered."""
        connection = self.connections.of(request)
        if connection is not None:
            connection.request_started()
        try:
            return await handler(request)
        finally:
            if connection is not None:
                connection.request_finished()

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
                # A large request is parsed, and its answer encoded, in a worker thread: a
                # 16 x 1,000-object /set is megabytes of JSON each way.
                large = len(body) > _LARGE_BODY_BYTES
                document = await asyncio.to_thread(parse_json, body) if large else parse_json(body)
                parsed = parse_request(document, max_calls=settings.max_calls_in_request)
                ctx = Context(
                    host=self.host,
                    store=self.store,
                    tasks=self.tasks,
                    states=self.states,
                    settings=settings,
                    client=client,
                )
                text = await self._answer(parsed, ctx, large=large)
            finally:
                self._in_flight -= 1
        except ProblemError as problem:
            return _problem(problem)
        except Exception as exc:
            log.error("API request failed: %s", type(exc).__name__)
            return _problem(
                ProblemError(500, "about:blank", "Internal Server Error", "the request failed")
            )
        return web.Response(body=text, content_type="application/json", charset="utf-8")

    async def _answer(self, parsed: Request, ctx: Context, *, large: bool) -> bytes:
        """The request's answer, encoded. A request that may change the configuration holds
        the daemon's runs until its answer is made (:meth:`Daemon.holding_runs`): the
        domains it changes sync once it is done, not beside its later calls. A request that
        only reads the configuration, and its many Domains, is answered in a worker thread
        (:func:`_reads_much`)."""
        names = [name for name, _, _ in parsed.method_calls]
        if _reads_much(names, ctx):
            return await asyncio.to_thread(self._answered_here, parsed, ctx)
        changes = any(name.endswith("/set") for name in names)
        with ctx.host.holding_runs() if changes else contextlib.nullcontext():
            response = await self._process(parsed, ctx, changes=changes)
            if changes:
                self.events.notify()
            response["sessionState"] = self._session_state(ctx.client)
            if large:
                return await asyncio.to_thread(_encoded_in_pieces, response)
            return _encoded(response)

    def _answered_here(self, parsed: Request, ctx: Context) -> bytes:
        """A reading request's answer, made and encoded where this is called."""
        response = process(parsed, ctx)
        response["sessionState"] = self._session_state(ctx.client)
        return _encoded_in_pieces(response)

    async def _process(self, parsed: Request, ctx: Context, *, changes: bool) -> dict[str, Any]:
        if not changes:
            return process(parsed, ctx)
        loop = asyncio.get_running_loop()

        def on_loop(function: Callable[[], Any]) -> Any:
            return asyncio.run_coroutine_threadsafe(_call(function), loop).result()

        ctx.on_loop = on_loop
        return await loop.run_in_executor(self._set_worker, process, parsed, ctx)

    async def handle_session(self, request: web.Request) -> web.StreamResponse:
        try:
            client = self._authenticate(request)
        except ProblemError as problem:
            return _problem(problem)
        document = self._session(client, self.base_url(request))
        return web.Response(
            text=dumps(document),
            content_type="application/json",
            headers={"Cache-Control": "no-cache, no-store"},
        )

    async def handle_well_known(self, request: web.Request) -> web.StreamResponse:
        """RFC 8620 §2.2 discovery, as Stalwart answers it: 307 to ``/jmap/session``."""
        return web.Response(
            status=307, headers={"Location": "/jmap/session", "Cache-Control": "no-cache"}
        )

    async def handle_schema_redirect(self, request: web.Request) -> web.StreamResponse:
        """As Stalwart: 307 to ``/api/schema/<hash>``, the hash naming this schema."""
        try:
            self._authenticate(request)
        except ProblemError as problem:
            return _problem(problem)
        _, digest = schema.document(self.host.registry)
        return web.Response(
            status=307, headers={"Location": f"/api/schema/{digest}", "Cache-Control": "no-cache"}
        )

    async def handle_schema(self, request: web.Request) -> web.StreamResponse:
        try:
            self._authenticate(request)
        except ProblemError as problem:
            return _problem(problem)
        body, digest = schema.document(self.host.registry)
        if request.match_info["hash"] != digest:
            return web.Response(
                status=307,
                headers={"Location": f"/api/schema/{digest}", "Cache-Control": "no-cache"},
            )
        return web.Response(
            body=body,
            content_type="application/json",
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    async def handle_event_source(self, request: web.Request) -> web.StreamResponse:
        try:
            client = self._authenticate(request)
            allowed = tuple(t for t, p in READ_PERMISSION.items() if client.may(p))
            try:
                query = events.parse_query(request.query, allowed)
            except ValueError as exc:
                raise ProblemError(400, "about:blank", "Bad Request", str(exc)) from None
        except ProblemError as problem:
            return _problem(problem)
        return await events.stream(
            request,
            query,
            hub=self.events,
            states=self._states,
            account_id=ACCOUNT_ID,
            headers=self._cors_headers(request),
        )

    def _states(self, types: tuple[str, ...]) -> dict[str, str]:
        config = self.host.config
        result: dict[str, str] = {}
        for name in types:
            kind = KIND.get(name)
            result[name] = (
                self.states.state(config, kind)
                if kind is not None
                else self.states.digest(f"task:{self.tasks.version}")
            )
        return result

    async def handle_upload(self, request: web.Request) -> web.StreamResponse:
        """dnsauto holds no blobs: ``maxSizeUpload`` is 0, so every upload is over it."""
        try:
            self._authenticate(request)
        except ProblemError as problem:
            return _problem(problem)
        refusal = limit_error(
            "maxSizeUpload", "this server takes no uploads (maxSizeUpload is 0)", status=413
        )
        refusal.headers["Connection"] = "close"  # the body is not read
        return _problem(refusal)

    async def handle_download(self, request: web.Request) -> web.StreamResponse:
        try:
            self._authenticate(request)
        except ProblemError as problem:
            return _problem(problem)
        return _problem(ProblemError(404, "about:blank", "Not Found", "this server holds no blobs"))

    async def handle_options(self, request: web.Request) -> web.StreamResponse:
        """CORS preflight (and plain OPTIONS): 204, as Stalwart answers."""
        headers = self._cors_headers(request)
        if headers:
            headers.update(
                {
                    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
                    "Access-Control-Allow-Headers": "Authorization, Content-Type, Last-Event-ID",
                    "Access-Control-Max-Age": "86400",
                }
            )
        headers["Allow"] = "GET, POST, OPTIONS"
        return web.Response(status=204, headers=headers)

    # --- steps ----------------------------------------------------------------------------------

    # --- who asks, and where from --------------------------------------------------------------

    def _from_proxy(self, request: web.BaseRequest) -> bool:
        proxies = self.settings().trusted_proxies
        if not proxies or request.remote is None:
            return False
        try:
            peer = ipaddress.ip_address(request.remote)
        except ValueError:
            return False
        return any(peer in ipaddress.ip_network(net) for net in proxies)

    def client_address(self, request: web.BaseRequest) -> str:
        """The peer; behind a trusted proxy, the nearest untrusted address of
        ``X-Forwarded-For`` (the addresses proxies appended, read from the right)."""
        address = request.remote or "unknown"
        if not self._from_proxy(request):
            return address
        proxies = [ipaddress.ip_network(net) for net in self.settings().trusted_proxies]
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
        for hop in reversed([h for h in hops if h]):
            try:
                ip = ipaddress.ip_address(hop)
            except ValueError:
                return address  # a hop that is no address: believe none of what is left
            if not any(ip in net for net in proxies):
                return str(ip)
        return address

    def base_url(self, request: web.BaseRequest) -> str:
        """Where clients reach the API: ``publicUrl``; else, from a trusted proxy, its
        ``X-Forwarded-Proto`` and ``-Host``; else the scheme and address the request came in
        on (never the client's ``Host`` header)."""
        settings = self.settings()
        if settings.public_url:
            return settings.public_url
        scheme = "https" if request.secure else "http"
        sockname = request.transport.get_extra_info("sockname") if request.transport else None
        if isinstance(sockname, tuple) and len(sockname) >= 2:
            ip, port = str(sockname[0]), int(sockname[1])
            host = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        else:
            host = self.address or "127.0.0.1"
        if self._from_proxy(request):
            proto = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
            forwarded = request.headers.get("X-Forwarded-Host", "").split(",")[0].strip()
            if proto in ("http", "https"):
                scheme = proto
            if forwarded and _FORWARDED_HOST.match(forwarded):
                host = forwarded
        return f"{scheme}://{host}"

    def _authenticate(self, request: web.Request) -> Client:
        address = self.client_address(request)
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
        try:
            async with asyncio.timeout(settings.body_timeout.total_seconds()):
                while True:
                    chunk = await request.content.readany()
                    if not chunk:
                        break
                    size += len(chunk)
                    if size > limit:
                        raise too_large
                    chunks.append(chunk)
        except TimeoutError:
            raise ProblemError(
                408,
                "about:blank",
                "Request Timeout",
                f"the request body did not arrive within {settings.body_timeout.total_seconds()}s "
                "(bodyTimeout)",
                headers={"Connection": "close"},
            ) from None
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
            "primaryAccounts": {CORE: ACCOUNT_ID, STALWART: ACCOUNT_ID},
            "username": client.name,
            "apiUrl": f"{base}/api",
            "downloadUrl": f"{base}/jmap/download/{{accountId}}/{{blobId}}/{{name}}"
            "?accept={type}",
            "uploadUrl": f"{base}/jmap/upload/{{accountId}}/",
            "eventSourceUrl": f"{base}/jmap/eventsource/?types={{types}}"
            "&closeafter={closeafter}&ping={ping}",
            "state": self._session_state(client),
        }


async def _call(function: Callable[[], Any]) -> Any:
    return function()


_LARGE_BODY_BYTES = 64 * 1024

_READS = frozenset(
    {"x:Bootstrap/get", "x:DnsServer/get", "x:DnsServer/query", "x:Domain/get", "x:Domain/query"}
)
"""Methods that read only the configuration (an immutable object) and the API's caches of
it, so they need nothing of the event loop. ``x:Task/get`` reads the daemon's runs, which
change on the loop, and stays there."""

_OFF_LOOP_DOMAINS = 1000
"""Domains beyond which a request of :data:`_READS` that reads the Domains is answered in a
worker thread: ``x:Domain/get`` with ``ids: null`` over 16,000 domains (6 MB) held the loop a
second, while for a few domains the hand-over to a thread doubled the latency of small reads
(p50 14 -> 28 ms under 50 clients)."""


def _reads_much(names: Sequence[str], ctx: Context) -> bool:
    """Whether the request only reads the configuration, reads its Domains, and there are
    more than :data:`_OFF_LOOP_DOMAINS` of them."""
    return (
        all(name in _READS or name == "Core/echo" for name in names)
        and any(name.startswith("x:Domain/") for name in names)
        and len(ctx.host.config.domains) > _OFF_LOOP_DOMAINS
    )


def _encoded(response: dict[str, Any]) -> bytes:
    return dumps(response).encode("utf-8")


def _encoded_in_pieces(response: dict[str, Any]) -> bytes:
    """The same text, each method response's arguments' members (a /set's ``created``) one
    piece: encoded in one go, megabytes held the GIL, and so the event loop."""
    return dumps_in_pieces(response, depth=4, ensure_ascii=False).encode("utf-8")


def _problem(problem: ProblemError) -> web.Response:
    response = web.Response(
        status=problem.status,
        text=dumps(problem.document()),
        content_type=PROBLEM_TYPE,
        headers=problem.headers,
    )
    if problem.headers.get("Connection") == "close":
        response.force_close()
    return response

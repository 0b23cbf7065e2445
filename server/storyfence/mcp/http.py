"""`storyfence serve --http`: streamable HTTP on loopback by default, with Host/Origin checks against DNS
rebinding and a bearer token on every request."""

from __future__ import annotations

import errno
import hmac
import ipaddress
import json
import logging
import os
import secrets
import socket
import sys

from mcp.server.mcpserver import MCPServer
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import ASGIApp, Receive, Scope, Send

from storyfence.core.errors import InputError

log = logging.getLogger("storyfence")
TOKEN_ENV = "STORYFENCE_TOKEN"  # noqa: S105 - the variable name, not a secret


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class BearerToken:
    """Refuses every HTTP request without `Authorization: Bearer <token>` (constant-time compare)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = f"Bearer {token}".encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = b""
        for key, value in scope.get("headers", []):
            if key == b"authorization":
                given = value
                break
        if not hmac.compare_digest(given, self.expected):
            body = json.dumps({"error": "unauthorized", "detail": "a valid bearer token is required"}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 401,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"www-authenticate", b'Bearer realm="storyfence"'),
                        (b"content-length", str(len(body)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": body})
            return
        await self.app(scope, receive, send)


def security_settings(host: str, port: int) -> TransportSecuritySettings:
    names = {"127.0.0.1", "localhost", "[::1]"}
    if not is_loopback(host):
        names.add(host)
    return TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=[f"{name}:{port}" for name in sorted(names)],
        allowed_origins=[f"http://{name}:{port}" for name in sorted(names)],
    )


def resolve_token(host: str) -> tuple[str, bool]:
    """The token to require, and whether it was generated (to be shown once)."""
    token = os.environ.get(TOKEN_ENV, "").strip()
    if token:
        if len(token) < 16:
            raise InputError(f"{TOKEN_ENV} is too short: use at least 16 random characters")
        return token, False
    if not is_loopback(host):
        raise InputError(
            f"refusing to bind the non-loopback address {host} without a token: set {TOKEN_ENV} to a long random "
            "secret (clients send it as `Authorization: Bearer <token>`)"
        )
    return secrets.token_urlsafe(32), True


def listen(host: str, port: int) -> socket.socket:
    """A socket bound to host:port and listening, or an InputError that says why not (a port in use)."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(2048)
    except OSError as exc:
        sock.close()
        hint = ": another server is using it; pick another --port" if exc.errno == errno.EADDRINUSE else ""
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror or exc}{hint}") from None
    sock.set_inheritable(True)
    return sock


def serve_http(server: MCPServer, host: str, port: int) -> None:
    import uvicorn

    token, generated = resolve_token(host)
    app = server.streamable_http_app(transport_security=security_settings(host, port), host=host)
    sock = listen(host, port)  # bound before anything is announced: a port in use is a clear error, not a traceback
    if generated:
        # shown once, on stderr; never logged elsewhere
        print(f"storyfence: bearer token for this run: {token}", file=sys.stderr, flush=True)
    print(f"storyfence: listening on http://{host}:{port}/mcp", file=sys.stderr, flush=True)
    config = uvicorn.Config(BearerToken(app, token), host=host, port=port, log_level="warning", lifespan="on")
    uvicorn.Server(config).run(sockets=[sock])

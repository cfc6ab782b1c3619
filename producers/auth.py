"""Bearer-token authentication shared by eventcart's HTTP APIs.

One static token (``EVENTCART_API_TOKEN``) is enough for service-to-service calls
inside one deployment; it lives in its own module so every HTTP API checks it the
same way. The dependency is built on :class:`fastapi.security.HTTPBearer`, so the
bearer scheme appears in the OpenAPI document and the "Authorize" button of
``/docs`` works, but with ``auto_error=False``: FastAPI's own error would not carry
the ``WWW-Authenticate`` header RFC 6750 asks for, and would not distinguish a
missing header from a wrong token in the same words as ours.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import SecretStr

__all__ = ["bearer_scheme", "require_bearer_token"]

#: Declared once so every API's OpenAPI document names the scheme the same way.
bearer_scheme = HTTPBearer(
    auto_error=False,
    scheme_name="bearerAuth",
    description="Static API token: send `Authorization: Bearer <EVENTCART_API_TOKEN>`.",
)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED,
        detail=detail,
        headers={"WWW-Authenticate": "Bearer"},
    )


def require_bearer_token(token: SecretStr) -> Callable[..., Awaitable[None]]:
    """A dependency that lets a request through only with ``Authorization: Bearer <token>``.

    The token is compared with :func:`hmac.compare_digest` (on bytes, so non-ASCII
    input cannot raise) to keep the comparison time independent of how many leading
    characters a guess got right.
    """
    expected = token.get_secret_value().encode()

    async def check(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)],
    ) -> None:
        if credentials is None:
            raise _unauthorized("missing bearer token: send `Authorization: Bearer <token>`")
        if not hmac.compare_digest(credentials.credentials.encode(), expected):
            raise _unauthorized("invalid bearer token")

    return check

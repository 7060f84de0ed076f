"""The `rest` transport: one HTTP request per hook call, on a pooled httpx client shared through Resources.

Variables are substituted into the URL (percent-encoded), the header values and every string of the
body; a JSON body stays valid JSON whatever the values contain. A reply with a Content-Type that is not
JSON is text, kept as sent; any other reply means what the core's `decode_reply` says (one that claims
to be JSON must be JSON).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlsplit

from llmnet_http import connect_reason, header_safe

from llmnet_core import (
    FunctionSpec,
    HookCall,
    Problem,
    Resources,
    Transport,
    TransportError,
    TransportTimeoutError,
    decode_reply,
    excerpt,
    json_escape,
    option_problems,
    parse_options,
    substitute,
    substitute_json,
)

from .options import HINT, RestOptions

if TYPE_CHECKING:  # pragma: no cover
    import httpx

#: with the package's version, `llmnet_rest.__version__` (a test keeps the two equal)
USER_AGENT = "llmnet-rest/0.1.0"
EXCERPT_CHARS = 200
#: methods that carry the hook envelope as their body when the function sets no `body`
BODY_METHODS = ("POST", "PUT", "PATCH")
JSON_TYPE = "application/json"
TEXT_TYPE = "text/plain; charset=utf-8"


def _httpx() -> Any:
    import httpx

    return httpx


def one_line(text: str, limit: int = EXCERPT_CHARS) -> str:
    """The text on one line, cut to `limit` characters (known secrets masked before the cut)."""
    return excerpt(text, limit) or "(empty body)"


def shown_url(url: str) -> str:
    """The URL as error messages show it: without credentials, query string or fragment."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "(invalid URL)"
    host = parts.netloc.rsplit("@", 1)[-1]
    return f"{parts.scheme}://{host}{parts.path}"


def _is_json_type(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == JSON_TYPE or media.endswith("+json")


def _is_json(text: str) -> bool:
    """True when `text` is one JSON value (a reply that says it is JSON must be)."""
    try:
        json.loads(text)
    except (ValueError, RecursionError):
        return False
    return True


class RestTransport(Transport):
    """Calls a hook function over HTTP: `method` `url` with `headers` and a `body` template."""

    description: ClassVar[str] = "HTTP request to a REST endpoint (JSON or text, pooled connections)"

    def __init__(self, spec: FunctionSpec, resources: Resources) -> None:
        super().__init__(spec, resources)
        options = parse_options(
            RestOptions, spec.options, f"functions.{spec.name}", hint=HINT, unknown="warn"
        )
        self.method = options.method
        self.url = options.url
        self.headers = {"User-Agent": USER_AGENT, **options.headers}
        self._dynamic_headers = any("$" in value for value in options.headers.values())
        declared = next((v for k, v in options.headers.items() if k.lower() == "content-type"), None)
        self._declared_type = declared
        self._origin = self._origin_of(self.url) if "$" not in self.url.split("/", 3)[2] else None
        self._body_kind, self._body = self._plan_body(options, declared)

    @classmethod
    def check(cls, spec: FunctionSpec) -> list[Problem]:
        """The problems of the function's fields (the same checks as when it is first used)."""
        return option_problems(
            RestOptions, spec.options, f"functions.{spec.name}", hint=HINT, unknown="warn"
        )[1]

    # -- construction --------------------------------------------------------------------------

    def _plan_body(self, options: Any, declared: str | None) -> tuple[str, Any]:
        """Decide once how the body is built: none, the hook envelope, a JSON value, or a text template."""
        if "body" not in options.model_fields_set:
            return ("envelope", None) if self.method in BODY_METHODS else ("none", None)
        body = options.body
        if body is None:
            return "none", None
        if isinstance(body, str):
            if body.lstrip()[:1] in ("{", "["):
                try:
                    return "json", json.loads(body)
                except ValueError:
                    pass
            return ("json-text" if declared and _is_json_type(declared) else "text"), body
        return "json", body

    @staticmethod
    def _origin_of(url: str) -> str:
        parts = urlsplit(url)
        return f"{parts.scheme.lower()}://{parts.netloc.rsplit('@', 1)[-1].lower()}"

    # -- one call ------------------------------------------------------------------------------

    async def call(self, call: HookCall) -> Any:
        """Send one request built from `call`; return the reply (JSON data, text, or None)."""
        httpx = _httpx()
        variables = call.variables
        url = self.url if "$" not in self.url else substitute(self.url, variables, escape=_url_escape)
        shown = shown_url(url)
        headers = self._headers_for(variables) if self._dynamic_headers else dict(self.headers)
        content, content_type = self._content(call)
        if content_type and self._declared_type is None:
            headers["Content-Type"] = content_type
        client = self._client(self._origin or self._origin_of(url))
        where = f"{self.method} {shown}"
        try:
            reply = await client.request(
                self.method, url, content=content, headers=headers, timeout=self.spec.timeout
            )
        except httpx.TimeoutException:  # connect, write, read or pool: the function's timeout ran out
            raise self._error(
                f"{where}: no answer within {self.spec.timeout:g} s",
                "is the peer slow or stuck? raise the function's timeout if it needs longer",
                kind=TransportTimeoutError,
            ) from None
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise self._error(
                f"{shown!r} is not a usable URL ({one_line(str(exc))})",
                f"check functions.{self.spec.name}.url",
            ) from None
        except httpx.HTTPError as exc:
            raise self._error(
                f"could not reach {shown} ({connect_reason(exc, _failure(exc))})",
                f"is the peer running? check functions.{self.spec.name}.url",
            ) from None
        return self._reply(reply, where)

    def _headers_for(self, variables: Mapping[str, str]) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            if "$" in value:
                value = substitute(value, variables)
                if not header_safe(value):
                    raise self._error(
                        f"header {name}: the value after substitution cannot be sent in an HTTP header "
                        "(line breaks or non-ASCII characters)",
                        "send such values in the body instead of a header",
                    )
            headers[name] = value
        return headers

    def _content(self, call: HookCall) -> tuple[bytes | None, str | None]:
        """The encoded body and its media type."""
        kind = self._body_kind
        if kind == "none":
            return None, None
        if kind == "envelope":
            return json.dumps(call.envelope(), ensure_ascii=False).encode(), JSON_TYPE
        if kind == "json":
            value = substitute_json(self._body, call.variables)
            return json.dumps(value, ensure_ascii=False).encode(), JSON_TYPE
        if kind == "json-text":
            text = substitute(self._body, call.variables, escape=json_escape)
            try:
                json.loads(text)
            except ValueError:
                raise self._error(
                    "the body is not valid JSON after substitution",
                    'put each $VARIABLE inside a JSON string ("$INPUT"), or write body as a JSON object',
                ) from None
            return text.encode(), JSON_TYPE
        return substitute(self._body, call.variables).encode(), TEXT_TYPE

    def _reply(self, reply: httpx.Response, where: str) -> Any:
        status = reply.status_code
        if not 200 <= status < 300:
            raise self._error(
                f"{where} answered HTTP {status}: {one_line(reply.text)}",
                "the peer refused the call; its answer is quoted above",
            )
        text = reply.text
        content_type = reply.headers.get("content-type", "")
        if content_type and not _is_json_type(content_type):
            return text if text.strip() else None  # the peer said it is not JSON: text as sent
        value = decode_reply(text)
        if content_type and value == text and not _is_json(text):
            raise self._error(
                f"{where} answered invalid JSON: {one_line(text)}",
                "the peer said application/json but sent something else",
            )
        return value

    # -- helpers -------------------------------------------------------------------------------

    def _client(self, origin: str) -> httpx.AsyncClient:
        httpx = _httpx()

        def factory() -> httpx.AsyncClient:
            return httpx.AsyncClient(
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30),
                follow_redirects=False,
            )

        return self.resources.get(("llmnet-rest", origin), factory, close=lambda client: client.aclose())

    def _error(
        self, message: str, hint: str | None = None, *, kind: type[TransportError] = TransportError
    ) -> TransportError:
        return kind(f'function "{self.spec.name}": {message}', hint=hint)


def _url_escape(value: str) -> str:
    """A substituted value is one URL component: `/`, `?`, `&`, `#` and spaces are percent-encoded."""
    return quote(value, safe="")


def _failure(exc: BaseException) -> str:
    """The exception's type and message, for a failure with no better-known reason."""
    text = str(exc)
    return f"{type(exc).__name__}: {one_line(text, 80)}" if text else type(exc).__name__

"""The HTTP endpoint: ``POST /plugins/channel/<channel-slug>/saleor.retention/graphql/``.

Body: JSON ``{"query", "variables", "operationName"}``. Checks run cheapest first and
before anything executes: method, body, size, the caller's token (401 when a token was
sent but is invalid or expired), syntax, depth, schema validation, whole numbers in
``Int`` variables, top-level fields and cost. The channel is the plugin instance's, never
the client's: accounts are per channel and an id from another channel finds nothing here.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from django.conf import settings as django_settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.module_loading import import_string
from graphql import parse
from graphql.error import GraphQLError, GraphQLSyntaxError, format_error
from graphql.execution import execute
from graphql.validation import validate

from ..endpoints import route
from . import limits
from .context import LoyaltyContext
from .errors import LocalisedGraphQLError, in_language
from .limits import QueryRejected, check_cost, check_depth, check_nesting, check_size
from .requestor import AuthenticationFailed, Requestor, RequestorResolver
from .schema import schema
from .whole_numbers import non_integer_variables

if TYPE_CHECKING:
    from ..conf import ChannelSettings

logger = logging.getLogger(__name__)

DEFAULT_REQUESTOR_RESOLVER = (
    "saleor_retention_plugin.integrations.saleor.auth.resolve_saleor_requestor"
)
MAX_BODY_BYTES = 100_000

DESCRIPTION = (
    "Loyalty GraphQL API of the saleor.retention plugin. POST a JSON body "
    '{"query": ..., "variables": {...}, "operationName": ...} with your Saleor token in '
    "'Authorization: Bearer <token>'."
)


def requestor_resolver() -> RequestorResolver:
    path = getattr(
        django_settings, "RETENTION_GRAPHQL_REQUESTOR_RESOLVER", DEFAULT_REQUESTOR_RESOLVER
    )
    return import_string(path) if isinstance(path, str) else path


@route("graphql")
def graphql_endpoint(plugin: Any, request: HttpRequest, path: str) -> HttpResponse:
    channel = getattr(plugin, "channel", None)
    if channel is None:
        return _errors(
            "The loyalty API is served per channel: use /plugins/channel/<channel-slug>/"
            "saleor.retention/graphql/.",
            status=404,
        )
    return serve_graphql(
        request,
        channel_slug=channel.slug,
        settings=plugin.settings,
        resolve_requestor=requestor_resolver(),
    )


def serve_graphql(
    request: HttpRequest,
    *,
    channel_slug: str,
    settings: ChannelSettings,
    resolve_requestor: RequestorResolver,
) -> HttpResponse:
    if request.method != "POST":
        response = JsonResponse({"description": DESCRIPTION}, status=405)
        response["Allow"] = "POST, OPTIONS"
        return response
    try:
        operation = _read_operation(request)
        check_size(operation["query"], limits.MAX_QUERY_SIZE)
        check_nesting(operation["query"], limits.MAX_QUERY_DEPTH)
    except (ValueError, QueryRejected) as error:
        return _errors(str(error), status=400)

    language = _preferred_language(request)
    try:
        requestor: Requestor = resolve_requestor(request, channel_slug)
    except AuthenticationFailed as error:
        return _errors(in_language(language, error.message, error.zh), status=401, code=error.code)

    try:
        document = parse(operation["query"])
    except GraphQLSyntaxError as error:
        return JsonResponse({"errors": [format_error(error)]}, status=400)
    try:
        # Before validation: validating a pathologically nested document is itself costly.
        check_depth(document, limits.MAX_QUERY_DEPTH)
    except QueryRejected as error:
        return _errors(str(error), status=400)
    validation_errors = validate(schema, document)
    if validation_errors:
        return JsonResponse({"errors": [format_error(e) for e in validation_errors]}, status=400)

    not_whole = non_integer_variables(
        schema, document, operation["operation_name"], operation["variables"]
    )
    if not_whole:
        return JsonResponse(
            {
                "errors": [
                    {"message": _not_whole_message(path, value, language)}
                    for path, value in not_whole
                ]
            },
            status=400,
        )

    try:
        check_cost(schema, document, operation["operation_name"], operation["variables"])
    except QueryRejected as error:
        return _errors(str(error), status=400)

    context = LoyaltyContext(
        channel_slug=channel_slug,
        settings=settings,
        requestor=requestor,
        request=request,
        language=language,
    )
    try:
        result = execute(
            schema,
            document,
            context_value=context,
            variable_values=operation["variables"],
            operation_name=operation["operation_name"],
        )
    except GraphQLError as error:
        # Variables that do not fit their types, an unknown operationName: nothing ran.
        return JsonResponse({"errors": [format_error(error)]}, status=400)
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [_format_execution_error(error, language) for error in result.errors]
    return JsonResponse(body, status=400 if result.invalid else 200)


def _read_operation(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > MAX_BODY_BYTES:
        raise ValueError(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        payload = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ValueError('Send a JSON body: {"query": ..., "variables": {...}}.') from None
    if not isinstance(payload, dict):
        raise ValueError("Send one operation as a JSON object; batches are not supported.")
    query = payload.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ValueError("The body needs a 'query' string.")
    variables = payload.get("variables") or {}
    if not isinstance(variables, dict):
        raise ValueError("'variables' must be a JSON object.")
    operation_name = payload.get("operationName")
    if operation_name is not None and not isinstance(operation_name, str):
        raise ValueError("'operationName' must be a string.")
    return {"query": query, "variables": variables, "operation_name": operation_name}


def _format_execution_error(error: Any, language: str | None) -> dict[str, Any]:
    original = getattr(error, "original_error", None)
    formatted = format_error(error)
    if isinstance(original, LocalisedGraphQLError):
        formatted["message"] = original.message_for(language)
    elif original is not None and not isinstance(original, GraphQLError):
        # An unexpected exception: log it, show nothing of its internals.
        logger.error("Loyalty API resolver failed", exc_info=original)
        formatted["message"] = in_language(language, "Internal error.", "内部错误。")
    return formatted


def _not_whole_message(path: str, value: Any, language: str | None) -> str:
    shown = json.dumps(value, ensure_ascii=False)
    return in_language(
        language,
        f"Variable {path} got {shown}: send a whole number (no fractions, strings or booleans).",
        f"变量 {path} 的值 {shown} 无效：请发送整数（不能是小数、字符串或布尔值）。",
    )


def _preferred_language(request: HttpRequest) -> str | None:
    header = request.META.get("HTTP_ACCEPT_LANGUAGE", "")
    first = header.split(",")[0].split(";")[0].strip()
    return first or None


def _errors(message: str, *, status: int, code: str | None = None) -> JsonResponse:
    error: dict[str, Any] = {"message": message}
    if code:
        error["extensions"] = {"exception": {"code": code}}
    return JsonResponse({"errors": [error]}, status=status)

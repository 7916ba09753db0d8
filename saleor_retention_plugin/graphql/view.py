"""The HTTP endpoint: ``POST /plugins/channel/<channel-slug>/saleor.retention/graphql/``.

Body: JSON ``{"query", "variables", "operationName"}``. Checks run cheapest first and
before anything executes: method, body, size, the caller's token (401 when a token was
sent but is invalid or expired), syntax, depth, number of fields, text that cannot be
stored, schema validation, every variable against its declared type
(``graphql.inputs``), introspection bounds, top-level fields and cost. Nothing answers
500: whatever fails unexpectedly is logged and answered as a structured 400, as Saleor's
own view does. A query runs in one transaction, rolled back when its answer holds an
error (a first read opens the caller's account): an answer with an error changes nothing.
The channel is the plugin instance's, never the client's: accounts are per channel and an
id from another channel finds nothing here.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from graphql import parse
from graphql.error import GraphQLError, GraphQLSyntaxError, format_error
from graphql.execution import execute
from graphql.validation import validate

from .. import app_settings
from ..domain.languages import first_of_accept_language
from ..endpoints import route
from . import limits
from .context import LoyaltyContext
from .errors import INTERNAL_ERROR, INTERNAL_ERROR_ZH, LocalisedGraphQLError, in_language
from .inputs import (
    MAX_VARIABLE_NESTING,
    InputProblem,
    literal_problems,
    variable_problems,
    variables_too_deep,
)
from .limits import (
    QueryRejected,
    check_cost,
    check_depth,
    check_introspection,
    check_nesting,
    check_selections,
    check_size,
)
from .requestor import AuthenticationFailed, Requestor, RequestorResolver
from .schema import schema

if TYPE_CHECKING:
    from ..conf import ChannelSettings

logger = logging.getLogger(__name__)

DEFAULT_REQUESTOR_RESOLVER = app_settings.DEFAULT_REQUESTOR_RESOLVER
MAX_BODY_BYTES = 100_000

DESCRIPTION = (
    "Loyalty GraphQL API of the saleor.retention plugin. POST a JSON body "
    '{"query": ..., "variables": {...}, "operationName": ...} with your Saleor token in '
    "'Authorization: Bearer <token>'."
)


def requestor_resolver() -> RequestorResolver:
    return app_settings.requestor_resolver  # RETENTION_GRAPHQL_REQUESTOR_RESOLVER


@route("graphql")
def graphql_endpoint(plugin: Any, request: HttpRequest, path: str) -> HttpResponse:
    channel = getattr(plugin, "channel", None)
    if channel is None:
        return _errors(
            "The loyalty API is served per channel: use /plugins/channel/<channel-slug>/"
            "saleor.retention/graphql/.",
            status=404,
        )
    try:
        settings, resolve_requestor = plugin.settings, requestor_resolver()
    except Exception:
        # A broken configuration or seam is a deployment error, still not a bare 500.
        logger.exception("Loyalty API is misconfigured")
        language = _preferred_language(request)
        return _errors(
            in_language(language, INTERNAL_ERROR, INTERNAL_ERROR_ZH), status=400, code="INTERNAL"
        )
    return serve_graphql(
        request,
        channel_slug=channel.slug,
        settings=settings,
        resolve_requestor=resolve_requestor,
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
    language = _preferred_language(request)
    try:
        return _serve(
            request,
            channel_slug=channel_slug,
            settings=settings,
            resolve_requestor=resolve_requestor,
            language=language,
        )
    except Exception:
        # Whatever slipped past the checks: a structured refusal, as Saleor's own view
        # answers (400, invalid), never a bare 500. Mutations run in their own transaction,
        # so nothing half-done stays behind.
        logger.exception("Loyalty API request failed")
        return _errors(
            in_language(language, INTERNAL_ERROR, INTERNAL_ERROR_ZH), status=400, code="INTERNAL"
        )


def _serve(
    request: HttpRequest,
    *,
    channel_slug: str,
    settings: ChannelSettings,
    resolve_requestor: RequestorResolver,
    language: str | None,
) -> HttpResponse:
    try:
        operation = _read_operation(request)
        check_size(operation["query"], limits.MAX_QUERY_SIZE)
        check_nesting(operation["query"], limits.MAX_QUERY_DEPTH)
    except (ValueError, QueryRejected) as error:
        return _errors(str(error), status=400)

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
        check_selections(document, limits.MAX_SELECTIONS)
    except QueryRejected as error:
        return _errors(str(error), status=400)
    problems = literal_problems(document)
    if problems:
        return _input_errors(problems, language)
    validation_errors = validate(schema, document)
    if validation_errors:
        return JsonResponse({"errors": [format_error(e) for e in validation_errors]}, status=400)

    problems = variable_problems(
        schema, document, operation["operation_name"], operation["variables"]
    )
    if problems:
        return _input_errors(problems, language)

    try:
        check_introspection(document, operation["operation_name"])
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
        if _is_query(document, operation["operation_name"]):
            # Reading may open the caller's account on first use. An answer with an
            # error keeps nothing: the read's writes are rolled back with it.
            with transaction.atomic():
                result = _execute(document, context, operation)
                if result.errors:
                    transaction.set_rollback(True)
        else:
            # Each mutation is its own transaction and changes nothing when it answers
            # with errors; mutations that succeeded before a failing one stay done.
            result = _execute(document, context, operation)
    except GraphQLError as error:
        # Variables that do not fit their types, an unknown operationName: nothing ran.
        return JsonResponse({"errors": [format_error(error)]}, status=400)
    body: dict[str, Any] = {"data": result.data}
    if result.errors:
        body["errors"] = [_format_execution_error(error, language) for error in result.errors]
    return JsonResponse(body, status=400 if result.invalid else 200)


def _execute(document: Any, context: LoyaltyContext, operation: dict[str, Any]) -> Any:
    return execute(
        schema,
        document,
        context_value=context,
        variable_values=operation["variables"],
        operation_name=operation["operation_name"],
    )


def _is_query(document: Any, operation_name: str | None) -> bool:
    """True unless the operation to run is a mutation (an unknown name runs nothing)."""
    from graphql.language import ast

    operations = [d for d in document.definitions if isinstance(d, ast.OperationDefinition)]
    chosen = [
        o
        for o in operations
        if operation_name is None or (o.name is not None and o.name.value == operation_name)
    ]
    return all(o.operation != "mutation" for o in chosen)


def _read_operation(request: HttpRequest) -> dict[str, Any]:
    if len(request.body) > MAX_BODY_BYTES:
        raise ValueError(f"The request body is larger than {MAX_BODY_BYTES} bytes.")
    try:
        payload = json.loads(request.body or b"null")
    except (ValueError, UnicodeDecodeError):
        raise ValueError('Send a JSON body: {"query": ..., "variables": {...}}.') from None
    except RecursionError:
        # json's decoder recurses: a few thousand "[" exhaust the stack.
        raise ValueError("The JSON body nests too deeply.") from None
    if not isinstance(payload, dict):
        raise ValueError("Send one operation as a JSON object; batches are not supported.")
    query = payload.get("query")
    if not isinstance(query, str) or not query.strip():
        raise ValueError("The body needs a 'query' string.")
    variables = payload.get("variables") or {}
    if not isinstance(variables, dict):
        raise ValueError("'variables' must be a JSON object.")
    if variables_too_deep(variables):
        raise ValueError(
            f"'variables' nest deeper than {MAX_VARIABLE_NESTING} levels; no input needs that."
        )
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


def _input_errors(problems: list[InputProblem], language: str | None) -> JsonResponse:
    """400 with one error per problem, each naming the input field it is about."""
    return JsonResponse(
        {
            "errors": [
                {
                    "message": problem.message_for(language),
                    "extensions": {
                        "exception": {"code": "GraphQLError"},
                        "field": problem.field,
                        "path": problem.path,
                    },
                }
                for problem in problems
            ]
        },
        status=400,
    )


def _preferred_language(request: HttpRequest) -> str | None:
    return first_of_accept_language(request.META.get("HTTP_ACCEPT_LANGUAGE"))


def _errors(message: str, *, status: int, code: str | None = None) -> JsonResponse:
    error: dict[str, Any] = {"message": message}
    if code:
        error["extensions"] = {"exception": {"code": code}}
    return JsonResponse({"errors": [error]}, status=status)

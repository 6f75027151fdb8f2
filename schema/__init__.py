"""The GraphQL contract: ``create_schema(settings)`` builds the federated schema."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)
from strawberry.extensions.max_aliases import create_validator as aliases_validator
from strawberry.extensions.query_depth_limiter import IgnoreContext
from strawberry.extensions.query_depth_limiter import create_validator as depth_validator
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionContext

from schema.cases import Case
from schema.credit_registry import Credit
from schema.customers import Customer
from schema.execution import TramaExecutionContext
from schema.extensions import PhaseTracker, classify, make_auth_gate
from schema.investors import Investor
from schema.operations import PUBLIC_ROOT_FIELDS, Mutation, Query, Subscription
from schema.partners import Partner
from schema.scalars import SCALAR_MAP

log = logging.getLogger("trama.graphql")


class TramaSchema(strawberry.federation.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log unexpected errors in full, then code and mask every error in place.

        Strawberry hands the result's own list here on every path (pre-execution,
        execution, each subscription event), so rewriting it in place covers them all.
        """
        context = getattr(execution_context, "context", None)
        request_id = getattr(context, "request_id", None)
        phase = getattr(context, "graphql_phase", "execute")
        for index, error in enumerate(errors):
            original = error.original_error
            if original is not None and not _is_expected(original):
                log.error(
                    "unexpected error in %s",
                    ".".join(str(p) for p in (error.path or [])) or "operation",
                    exc_info=(type(original), original, original.__traceback__),
                    extra={"request_id": request_id},
                )
            errors[index] = classify(error, phase=phase, request_id=request_id)


def _is_expected(error: BaseException) -> bool:
    from strawberry.exceptions import StrawberryInputCoercionError

    from domain.shared.errors import DomainError

    if isinstance(error, DomainError | InvalidOperationTypeError | CannotGetOperationTypeError):
        return True  # the client's mistake, answered with a code
    if isinstance(error, StrawberryInputCoercionError):
        return True  # a variable a scalar refused (a bad Date, Decimal…): BAD_USER_INPUT
    return isinstance(error, GraphQLError) and "code" in (error.extensions or {})


def _ignore_introspection(ctx: IgnoreContext) -> bool:
    return ctx.field_name.startswith("__")


def create_schema(
    *,
    max_depth: int = 12,
    max_tokens: int = 3000,
    max_aliases: int = 30,
    introspection: bool = True,
) -> TramaSchema:
    # Validation rules are built once so the validation cache can hit across requests.
    rules: list[Any] = [
        depth_validator(max_depth, _ignore_introspection),
        aliases_validator(max_aliases),
    ]
    public = set(PUBLIC_ROOT_FIELDS)
    if not introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
        public -= {"__schema", "__type"}
    else:
        public.add("_service")
    frozen_rules = list(rules)
    extensions: list[type[SchemaExtension] | Callable[[], SchemaExtension]] = [
        PhaseTracker,
        lambda: MaxTokensLimiter(max_token_count=max_tokens),
        lambda: AddValidationRules(frozen_rules),
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
        make_auth_gate(frozenset(public)),
    ]
    return TramaSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Customer, Partner, Credit, Investor, Case],
        extensions=extensions,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        execution_context_class=TramaExecutionContext,
    )

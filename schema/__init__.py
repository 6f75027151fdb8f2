"""The GraphQL contract: ``create_schema(settings)`` builds the federated schema."""

from __future__ import annotations

import logging
import re
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
from strawberry.federation.schema import FederationAny
from strawberry.schema.config import StrawberryConfig
from strawberry.schema.exceptions import CannotGetOperationTypeError, InvalidOperationTypeError
from strawberry.types import ExecutionContext, Info

from schema import federation
from schema.cases import Case
from schema.cost import CostPolicy, make_cost_limiter
from schema.credit_registry import Credit
from schema.customers import Customer
from schema.execution import TramaExecutionContext
from schema.extensions import PhaseTracker, classify, make_auth_gate
from schema.investors import Investor
from schema.loyalty import LoyaltyAccount, LoyaltyProgram
from schema.operations import PUBLIC_ROOT_FIELDS, Mutation, Query, Subscription
from schema.partners import Partner
from schema.scalars import SCALAR_MAP

log = logging.getLogger("trama.graphql")

#: graphql-core's hints ("Did you mean 'customers'?"): names of the schema, hidden when
#: introspection is off.
_SUGGESTION = re.compile(r" ?Did you mean [^?]*\?")


class TramaSchema(strawberry.federation.Schema):
    #: Strip "Did you mean …?" from error messages (set when introspection is off).
    hide_suggestions = False
    #: Most representations one `_entities` call takes (TRAMA_MAX_PAGE_SIZE, like `nodes`).
    max_entities = 100

    def entities_resolver(
        self, info: Info, representations: list[FederationAny]
    ) -> list[FederationAny]:
        """Strawberry's, bounded, and refusing what names no entity with a coded error
        (instead of a KeyError or TypeError that would come back as INTERNAL)."""
        settings = getattr(info.context, "settings", None)
        federation.check_count(
            representations, getattr(settings, "max_page_size", None) or self.max_entities
        )
        entities = federation.entity_type_names(self._schema)
        results: list[Any] = []
        for index, representation in enumerate(representations):
            problem = federation.representation_problem(representation, entities)
            if problem is not None:
                results.append(federation.representation_error(index, problem))
            else:
                results.extend(super().entities_resolver(info, [representation]))
        return results

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
            if original is not None and not _is_expected(original) and not _is_variable(error):
                log.error(
                    "unexpected error in %s",
                    ".".join(str(p) for p in (error.path or [])) or "operation",
                    exc_info=(type(original), original, original.__traceback__),
                    extra={"request_id": request_id},
                )
            errors[index] = classify(error, phase=phase, request_id=request_id)
            if self.hide_suggestions and "Did you mean" in errors[index].message:
                errors[index].message = _SUGGESTION.sub("", errors[index].message)


def _is_expected(error: BaseException) -> bool:
    from strawberry.exceptions import StrawberryInputCoercionError

    from domain.shared.errors import DomainError

    if isinstance(error, DomainError | InvalidOperationTypeError | CannotGetOperationTypeError):
        return True  # the client's mistake, answered with a code
    if isinstance(error, StrawberryInputCoercionError):
        return True  # a variable a scalar refused (a bad Date, Decimal…): BAD_USER_INPUT
    return isinstance(error, GraphQLError) and "code" in (error.extensions or {})


def _is_variable(error: GraphQLError) -> bool:
    """A variable value that does not coerce (graphql-core wraps the scalar's or the input
    type's complaint): the client's mistake, answered BAD_USER_INPUT by ``classify``."""
    return error.path is None and error.message.startswith("Variable '$")


def _ignore_introspection(ctx: IgnoreContext) -> bool:
    return ctx.field_name.startswith("__")


def create_schema(
    *,
    max_depth: int = 12,
    max_tokens: int = 3000,
    max_aliases: int = 30,
    introspection: bool = True,
    cost: CostPolicy | None = None,
    router_clients: frozenset[str] = frozenset(),
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
        make_cost_limiter(cost or CostPolicy()),
    ]
    if not introspection:
        extensions.append(federation.make_service_gate(router_clients))
    schema = TramaSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        types=[Customer, Partner, Credit, Investor, Case, LoyaltyAccount, LoyaltyProgram],
        extensions=extensions,
        config=StrawberryConfig(scalar_map=SCALAR_MAP),
        execution_context_class=TramaExecutionContext,
    )
    schema.hide_suggestions = not introspection
    schema.max_entities = (cost or CostPolicy()).max_page_size
    return schema

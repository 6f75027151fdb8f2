"""External identity providers whose tokens Trama accepts (``TRAMA_TRUSTED_ISSUERS``).

Written for Microsoft Entra ID (Azure AD) and fit for any OpenID provider. One entry per
application registration, for example the multi-tenant API the partners sign in to::

    {"issuer": ["https://login.microsoftonline.com/{tenantid}/v2.0",
                "https://sts.windows.net/{tenantid}/"],
     "discovery_url": "https://login.microsoftonline.com/organizations/v2.0/.well-known/openid-configuration",
     "audience": ["api://trama", "6f1c…-the-api-client-id"],
     "tenants": {"0b1e…": "BANCO_ANDINO", "7c2d…": "RETAIL_SUR", "e5a4…": null},
     "app_roles": {"Trama.Agent": "agent", "Trama.Supervisor": "supervisor",
                   "Trama.PartnerSystem": "partner_system"},
     "scopes": {"access_as_user": ["*"]}}

- ``issuer``: the ``iss`` of its tokens, one or several forms (Entra's v1 and v2 tokens
  differ). ``{tenantid}`` makes a multi-tenant template: it matches any tenant, and the
  tenant in ``iss`` must then be the token's ``tid``.
- ``jwks_uri`` or ``discovery_url`` (OpenID configuration; its ``issuer`` must be one of
  ours, its ``jwks_uri`` gives the keys). Both must be ``https`` in production.
- ``audience``: the accepted ``aud`` values (v2 tokens carry the API's client id, v1 tokens
  what the client asked for, often the App ID URI). Default: TRAMA_AUDIENCE.
- ``partner``: every user of this issuer acts for that partner. Otherwise ``tenants`` maps
  a tenant id (``tid``) to a partner code, or to ``null`` for a tenant of the network itself
  (no partner); a tenant not there may still be a partner's ``tenant_id``. For a
  multi-tenant issuer, or one with a ``tenants`` map, a token from any other tenant is
  refused.
- ``app_roles``: app role value (``roles`` claim) → Trama role. With a map, roles not in it
  give nothing; without one, ``roles`` must hold Trama's own role names.
- ``scopes``: delegated scope (``scp`` claim) → Trama scopes (``"*"``: all the roles
  allow). With a map, a user token's scopes are the union of its mapped ``scp``; without
  one, ``scp`` must hold Trama's scope names. App-only tokens (no ``scp``) get what their
  roles allow.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator, model_validator

TENANT_PLACEHOLDER = "{tenantid}"
#: Scope map value granting every scope the principal's roles allow.
ALL_SCOPES = "*"
_TENANT_ID = re.compile(r"^[0-9A-Za-z][0-9A-Za-z-]{0,63}$")


class TrustedIssuer(BaseModel):
    """An external identity provider whose tokens Trama accepts (see the module doc)."""

    issuer: str | list[str]
    jwks_uri: str | None = None
    discovery_url: str | None = None
    audience: str | list[str] | None = None  # defaults to TRAMA_AUDIENCE
    #: When every user of this issuer acts for one partner, its code.
    partner: str | None = None
    #: Tenant id (``tid``) → partner code, or None for a tenant of the network itself.
    tenants: dict[str, str | None] = Field(default_factory=dict)
    #: App role value → Trama role name.
    app_roles: dict[str, str] = Field(default_factory=dict)
    #: Delegated scope → Trama scope names ("*": every scope the roles allow).
    scopes: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("issuer")
    @classmethod
    def _check_issuer(cls, value: str | list[str]) -> str | list[str]:
        forms = [value] if isinstance(value, str) else value
        if not forms:
            raise ValueError("give at least one issuer")
        for form in forms:
            if form.count(TENANT_PLACEHOLDER) > 1:
                raise ValueError(f"{form!r}: {TENANT_PLACEHOLDER} may appear once")
            if not urlsplit(form.replace(TENANT_PLACEHOLDER, "t")).hostname:
                raise ValueError(f"{form!r} is not an absolute URL")
        return value

    @field_validator("app_roles")
    @classmethod
    def _check_roles(cls, value: dict[str, str]) -> dict[str, str]:
        from domain.shared.principal import Role

        known = {r.value for r in Role}
        for app_role, role in value.items():
            if role not in known:
                raise ValueError(
                    f"app role {app_role!r} maps to {role!r}, not a Trama role "
                    f"({', '.join(sorted(known))})"
                )
        return value

    @field_validator("scopes")
    @classmethod
    def _check_scopes(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        from domain.shared.principal import Scope

        known = {s.value for s in Scope} | {ALL_SCOPES}
        for scope, names in value.items():
            unknown = [n for n in names if n not in known]
            if unknown:
                raise ValueError(f"scope {scope!r} maps to unknown Trama scopes {unknown}")
        return value

    @field_validator("tenants")
    @classmethod
    def _check_tenants(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        for tenant in value:
            if not _TENANT_ID.match(tenant):
                raise ValueError(f"{tenant!r} is not a tenant id")
        return value

    @model_validator(mode="after")
    def _needs_keys(self) -> TrustedIssuer:
        if not self.jwks_uri and not self.discovery_url:
            raise ValueError(f"issuer {self.issuers[0]!r} needs a jwks_uri or a discovery_url")
        return self

    # derived ---------------------------------------------------------------------------
    @property
    def issuers(self) -> list[str]:
        """Every accepted form, without trailing slashes."""
        forms = [self.issuer] if isinstance(self.issuer, str) else self.issuer
        return [f.rstrip("/") for f in forms]

    @property
    def multi_tenant(self) -> bool:
        return any(TENANT_PLACEHOLDER in f for f in self.issuers)

    @property
    def audiences(self) -> list[str] | None:
        if self.audience is None:
            return None
        return [self.audience] if isinstance(self.audience, str) else list(self.audience)

    @property
    def restricts_tenants(self) -> bool:
        """Whether a token must come from a known tenant."""
        return self.multi_tenant or bool(self.tenants)

    def urls(self) -> list[str]:
        return [u for u in (self.jwks_uri, self.discovery_url) if u]

    def match(self, iss: str) -> tuple[bool, str | None]:
        """Whether ``iss`` (without trailing slash) is one of this issuer's forms, and the
        tenant a template read from it."""
        for form in self.issuers:
            if TENANT_PLACEHOLDER not in form:
                if iss == form:
                    return True, None
                continue
            head, _, tail = form.partition(TENANT_PLACEHOLDER)
            if iss.startswith(head) and iss.endswith(tail) and len(iss) > len(head) + len(tail):
                tenant = iss[len(head) : len(iss) - len(tail)]
                if _TENANT_ID.match(tenant):
                    return True, tenant
        return False, None


__all__ = ["ALL_SCOPES", "TENANT_PLACEHOLDER", "TrustedIssuer"]

"""CRM's expected failures, each with its ``extensions.code``."""

from __future__ import annotations

from domain.shared.errors import Conflict, ValidationFailed


class NoAdvisorAvailable(Conflict):
    """No active advisor of the lender is on shift to take a lead or a task."""

    code = "NO_ADVISOR_AVAILABLE"


class AlreadyConverted(Conflict):
    code = "ALREADY_CONVERTED"


class FormRefused(ValidationFailed):
    """The lead form's token is missing, forged, too old, or the form was sent too fast."""

    code = "FORM_REFUSED"

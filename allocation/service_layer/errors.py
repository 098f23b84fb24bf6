"""The service layer's refusals: what an operator (CLI) or a client (HTTP) is told went wrong.

Each type maps to one documented outcome: invalid input (exit 2, HTTP 400), not found (exit 3,
HTTP 404) or conflict (exit 4, HTTP 409).
"""

from __future__ import annotations


class OperationError(Exception):
    """An operation refused, with a reason an operator can act on."""


class InvalidInput(OperationError):  # noqa: N818 - what the operator is told: invalid input
    """What was entered breaks an input contract (the same rules as an inbox file's rows)."""


class NotFound(OperationError):  # noqa: N818 - what the operator is told: not found
    """The batch, order, allocation or run named does not exist."""


class Conflict(OperationError):  # noqa: N818
    """The operation contradicts what the warehouse already holds."""

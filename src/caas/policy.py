"""Rule tables for policy: each service names its actions and the predicate that allows each;
``Policy`` answers and enforces. An action with no rule is denied, never allowed."""

from __future__ import annotations

from typing import Callable

from caas.errors import Forbidden
from caas.context import AuthContext

Rule = Callable[[AuthContext, dict], bool]


class Policy:
    def __init__(self, rules: dict[str, Rule]) -> None:
        self.rules = rules

    def allowed(self, ctx: AuthContext, action: str, target: dict | None = None) -> bool:
        rule = self.rules.get(action)
        if rule is None:  # an unknown action is a programming error: deny, never allow
            return False
        return rule(ctx, target or {})

    def enforce(self, ctx: AuthContext, action: str, target: dict | None = None) -> None:
        if not self.allowed(ctx, action, target):
            raise Forbidden(f"You are not authorized to perform the requested action: {action}.")

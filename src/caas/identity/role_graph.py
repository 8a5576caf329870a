"""Every role and every implied-role rule, read in one query, and what a set of directly held
roles adds up to (``RoleGraph.effective``).

Roles and rules are few and change rarely, while every token issue and every token validation
that misses its cache asks what its roles imply: ``auth.TokenService`` keeps one graph per
process and reads it again after the identity revision moved (every write of a role or an
inference bumps it in the same transaction, so a graph read after a revision was seen is at
least as new as that revision, in any process sharing the database).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from caas.context import Ref
from caas.identity.models import ImpliedRole, Role

# Each role with each role it implies directly (NULL for none): the whole graph in one scan.
_SCAN = (select(Role.id, Role.name, Role.domain_id, ImpliedRole.implied_role_id)
         .outerjoin(ImpliedRole, ImpliedRole.prior_role_id == Role.id))


def closure(rules: dict[str, list[str]], role_ids: Iterable[str]) -> set[str]:
    """``role_ids`` and every role they imply under ``rules``, transitively (a cycle cannot
    loop: each role is visited once)."""
    seen = set(role_ids)
    todo = list(seen)
    while todo:
        for implied in rules.get(todo.pop(), ()):
            if implied not in seen:
                seen.add(implied)
                todo.append(implied)
    return seen


@dataclass(frozen=True)
class RoleGraph:
    """``names``: role id -> name, for the global roles only (domain-specific roles never show
    in a token, they only lend what they imply); ``rules``: prior role id -> the role ids it
    implies directly."""

    names: dict[str, str]
    rules: dict[str, list[str]]

    @classmethod
    def load(cls, s: Session) -> RoleGraph:
        """The graph as the database holds it now (one query)."""
        names: dict[str, str] = {}
        rules: dict[str, list[str]] = {}
        for rid, name, domain_id, implied in s.connection().execute(_SCAN):
            if domain_id is None:
                names[rid] = name
            if implied is not None:
                rules.setdefault(rid, []).append(implied)
        return cls(names, rules)

    def effective(self, direct: Iterable[str]) -> tuple[Ref, ...]:
        """The roles ``direct`` adds up to, implied ones included, domain-specific and unknown
        ones left out, by name."""
        found = sorted((self.names[r], r) for r in closure(self.rules, direct) if r in self.names)
        return tuple(Ref(rid, name) for name, rid in found)

    def lending(self) -> set[str]:
        """The roles that add up to some global role: the global ones, and the domain-specific
        ones that imply one."""
        return set(self.names) | {r for r in self.rules if closure(self.rules, [r]) & self.names.keys()}

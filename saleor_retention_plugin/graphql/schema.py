"""The loyalty API's schema, assembled from its parts."""

from __future__ import annotations

import graphene

from .federation import FederationQueries, User
from .ledger import LedgerMutations, LedgerQueries

QUERY_PARTS: tuple[type[graphene.ObjectType], ...] = (LedgerQueries, FederationQueries)
MUTATION_PARTS: tuple[type[graphene.ObjectType], ...] = (LedgerMutations,)


class Query(*QUERY_PARTS):  # type: ignore[misc]
    pass


class Mutation(*MUTATION_PARTS):  # type: ignore[misc]
    pass


schema = graphene.Schema(query=Query, mutation=Mutation, types=[User])

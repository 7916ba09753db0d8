"""The loyalty API's schema, assembled from its parts."""

from __future__ import annotations

import graphene

from .analytics import AnalyticsQueries
from .analytics_report import RetentionReportQueries
from .campaigns import CampaignMutations, CampaignQueries
from .care import CareMutations, CareQueries
from .federation import FederationQueries, User
from .ledger import LedgerMutations, LedgerQueries
from .membership import MembershipMutations, MembershipQueries

QUERY_PARTS: tuple[type[graphene.ObjectType], ...] = (
    LedgerQueries,
    MembershipQueries,
    FederationQueries,
    AnalyticsQueries,
    RetentionReportQueries,
    CareQueries,
    CampaignQueries,
)
MUTATION_PARTS: tuple[type[graphene.ObjectType], ...] = (
    LedgerMutations,
    MembershipMutations,
    CareMutations,
    CampaignMutations,
)


class Query(*QUERY_PARTS):  # type: ignore[misc]
    pass


class Mutation(*MUTATION_PARTS):  # type: ignore[misc]
    pass


schema = graphene.Schema(query=Query, mutation=Mutation, types=[User])

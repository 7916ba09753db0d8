"""Print the loyalty API's schema as SDL.

Plain SDL for storefront tooling, or the federation SDL (``--federation``) a gateway
composes with Saleor's.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser


class Command(BaseCommand):
    help = "Print the loyalty GraphQL API schema (SDL)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--federation",
            action="store_true",
            help="Print the Apollo Federation v1 SDL (what _service { sdl } answers).",
        )

    def handle(self, *args: Any, federation: bool = False, **options: Any) -> None:
        from graphql.utils.schema_printer import print_schema

        from ...graphql.federation import federation_sdl
        from ...graphql.schema import schema

        self.stdout.write(federation_sdl(schema) if federation else print_schema(schema))

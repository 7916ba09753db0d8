"""The loyalty API's federation SDL composes with Saleor's schema.

A gateway merges the types of both services by name: a type we define that Saleor also
defines must be the same type (a shared scalar, Relay's ``PageInfo``), or the intended
``extend type User``. Anything else (e.g. our own ``TranslationInput``) breaks composition.
"""

from __future__ import annotations

import re
from pathlib import Path

import saleor

from saleor_retention_plugin.graphql.federation import federation_sdl
from saleor_retention_plugin.graphql.schema import schema

SALEOR_SDL = (Path(saleor.__file__).parent / "graphql" / "schema.graphql").read_text()
# Root types are merged field by field by the gateway; their fields are checked below.
ROOT_TYPES = {"Query", "Mutation"}
DEFINITION = re.compile(
    r"^(?P<extend>extend )?(?P<kind>type|input|enum|scalar|union|interface) (?P<name>\w+)"
    r"(?P<rest>[^\n{]*)(?:\{(?P<body>.*?)^\})?",
    re.M | re.S,
)


def _strip_descriptions(text: str) -> str:
    text = re.sub(r'"""(?:.|\n)*?"""', "", text)
    text = re.sub(r'"(?:[^"\\\n]|\\.)*"', '""', text)
    return re.sub(r"@doc\([^)]*\)", "", text)


def definitions(sdl: str) -> dict[str, dict[str, object]]:
    found: dict[str, dict[str, object]] = {}
    for match in DEFINITION.finditer(_strip_descriptions(sdl)):
        lines = {
            " ".join(line.split()) for line in (match["body"] or "").splitlines() if line.strip()
        }
        found[match["name"]] = {
            "extend": bool(match["extend"]),
            "kind": match["kind"],
            "members": frozenset(lines),
            "fields": frozenset(line.split("(")[0].split(":")[0] for line in lines),
        }
    return found


OURS = definitions(federation_sdl(schema))
SALEORS = definitions(SALEOR_SDL)


def test_saleor_schema_is_read():
    assert {"User", "PageInfo", "Query", "Mutation", "TranslationInput"} <= SALEORS.keys()


def test_only_user_is_extended_and_it_is_saleors_entity():
    extended = {name for name, definition in OURS.items() if definition["extend"]}
    assert extended == {"User"}
    assert SALEORS["User"]["kind"] == "type"


def test_every_shared_type_name_is_the_same_type_in_saleor():
    clashes = {}
    for name, ours in OURS.items():
        if name in ROOT_TYPES or ours["extend"] or name not in SALEORS:
            continue
        theirs = SALEORS[name]
        if (ours["kind"], ours["members"]) != (theirs["kind"], theirs["members"]):
            clashes[name] = (ours, theirs)
    assert clashes == {}


def test_our_root_fields_do_not_shadow_saleors():
    for root in ROOT_TYPES:
        shared = OURS[root]["fields"] & SALEORS[root]["fields"]  # type: ignore[operator]
        assert shared == set(), f"{root} fields also defined by Saleor: {sorted(shared)}"

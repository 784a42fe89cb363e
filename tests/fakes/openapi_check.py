"""Check one HTTP request against an OpenAPI description, for the fake servers.

    problems = check_request("twilio_api_v2010.json", "POST", path, form=form)

finds the operation whose path template matches, then reports: a method the path
does not have, path parameters off their schema, missing required query/header
parameters, unknown query parameters, and for the body: a content type the
operation does not take, missing required or unknown form fields, form values off
their schema (after reading them as the declared type), a JSON body that does not
validate (jsonschema). An empty list means the provider would accept the shape.

Specs are read from ../shared/specs beside the repository, never copied into it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache, cached_property, lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

SPEC_DIR = Path(__file__).resolve().parents[3] / "shared" / "specs"

_NO_BODY = object()
_INTEGER = re.compile(r"^-?\d+$")


def _escape(token: str) -> str:
    return token.replace("~", "~0").replace("/", "~1")


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    pointer: str  # JSON pointer to the operation object inside the spec
    definition: dict[str, Any]


class OpenApiSpec:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        self.uri = f"urn:openapi:{path.name}"
        # Literal paths before templated ones, so /Messages.json never reads as {Sid}.
        self._routes = sorted(
            (
                (re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "([^/]+)", re.escape(t)) + "$"), t)
                for t in self.document.get("paths", {})
            ),
            key=lambda route: route[1].count("{"),
        )

    # ---- lookups ------------------------------------------------------------------------

    def resolve(self, node: Any) -> Any:
        """Follow local $refs until a node that is not one."""
        while isinstance(node, dict) and isinstance(node.get("$ref"), str):
            ref = node["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"external $ref not supported: {ref}")
            node = self.document
            for token in ref[2:].split("/"):
                node = node[token.replace("~1", "/").replace("~0", "~")]
        return node

    def match(self, method: str, path: str) -> tuple[Operation | None, dict[str, str], list[str]]:
        """(operation, path parameters, problems) for a request line."""
        for regex, template in self._routes:
            found = regex.match(path)
            if found is None:
                continue
            names = re.findall(r"\{([^}]+)\}", template)
            values = dict(zip(names, found.groups(), strict=True))
            item = self.document["paths"][template]
            definition = item.get(method.lower())
            if definition is None:
                return None, values, [f"{method} {path}: the API has no {method} on {template}"]
            pointer = f"/paths/{_escape(template)}/{method.lower()}"
            return Operation(method.upper(), template, pointer, definition), values, []
        return None, {}, [f"{method} {path}: no such path in {self.path.name}"]

    @cached_property
    def _validator_class(self) -> Any:
        from jsonschema import Draft7Validator, Draft202012Validator

        version = str(self.document.get("openapi", "3.0"))
        # OpenAPI 3.1 schemas are JSON Schema 2020-12; 3.0's are close to draft 7.
        return Draft202012Validator if version.startswith("3.1") else Draft7Validator

    @cached_property
    def _registry(self) -> Any:
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT7, DRAFT202012

        dialect = DRAFT202012 if str(self.document.get("openapi")).startswith("3.1") else DRAFT7
        resource = Resource.from_contents(self.document, default_specification=dialect)
        return Registry().with_resource(self.uri, resource)

    @lru_cache(maxsize=512)  # noqa: B019 - specs live for the whole test session
    def validator(self, pointer: str) -> Any:
        """A validator for the schema at `pointer`; nested $refs resolve in this spec."""
        schema = {"$ref": f"{self.uri}#{quote(pointer, safe='/~')}"}
        return self._validator_class(schema, registry=self._registry)

    def schema_errors(self, pointer: str, value: Any, where: str) -> list[str]:
        errors = sorted(self.validator(pointer).iter_errors(value), key=lambda e: list(e.path))
        return [
            f"{where}{''.join(f'/{p}' for p in e.absolute_path)}: {e.message[:200]}"
            for e in errors[:5]
        ]

    # ---- the check ----------------------------------------------------------------------

    def check(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, Sequence[str]] | None = None,
        headers: Mapping[str, str] | None = None,
        form: Mapping[str, Sequence[str]] | None = None,
        json_body: Any = _NO_BODY,
        content_type: str | None = None,
    ) -> list[str]:
        operation, path_values, problems = self.match(method, path)
        if operation is None:
            return problems
        label = f"{operation.method} {operation.template}"
        problems += self._check_parameters(operation, label, path_values, query or {}, headers)
        problems += self._check_body(operation, label, form, json_body, content_type)
        return problems

    def _parameters(self, operation: Operation) -> list[tuple[str, dict[str, Any]]]:
        """(pointer, parameter) for the path item's and the operation's parameters."""
        found: dict[tuple[str, str], tuple[str, dict[str, Any]]] = {}
        item_pointer = operation.pointer.rsplit("/", 1)[0]
        item = self.document["paths"][operation.template]
        for base, params in (
            (item_pointer, item.get("parameters", [])),
            (operation.pointer, operation.definition.get("parameters", [])),
        ):
            for index, raw in enumerate(params):
                param = self.resolve(raw)
                pointer = raw["$ref"][1:] if "$ref" in raw else f"{base}/parameters/{index}"
                found[(param["in"], param["name"].lower())] = (pointer, param)
        return list(found.values())

    def _check_parameters(
        self,
        operation: Operation,
        label: str,
        path_values: Mapping[str, str],
        query: Mapping[str, Sequence[str]],
        headers: Mapping[str, str] | None,
    ) -> list[str]:
        problems: list[str] = []
        declared_query = set()
        lower_headers = {k.lower() for k in (headers or {})}
        for pointer, param in self._parameters(operation):
            where, name = param["in"], param["name"]
            if where == "path" and name in path_values and "schema" in param:
                problems += self.schema_errors(
                    f"{pointer}/schema", path_values[name], f"{label}: path {name}"
                )
            elif where == "query":
                declared_query.add(name)
                if param.get("required") and name not in query:
                    problems.append(f"{label}: required query parameter {name} missing")
            elif (
                where == "header"
                and headers is not None
                and param.get("required")
                and name.lower() not in lower_headers
            ):
                problems.append(f"{label}: required header {name} missing")
        for name in query:
            if name not in declared_query:
                problems.append(f"{label}: unknown query parameter {name}")
        return problems

    def _check_body(
        self,
        operation: Operation,
        label: str,
        form: Mapping[str, Sequence[str]] | None,
        json_body: Any,
        content_type: str | None,
    ) -> list[str]:
        raw_body = operation.definition.get("requestBody")
        has_body = form is not None or json_body is not _NO_BODY
        if raw_body is None:
            return [f"{label}: takes no request body"] if has_body and (form or json_body) else []
        body = self.resolve(raw_body)
        body_pointer = (
            raw_body["$ref"][1:] if "$ref" in raw_body else f"{operation.pointer}/requestBody"
        )
        if not has_body:
            return [f"{label}: request body required"] if body.get("required") else []
        media = (content_type or "").split(";")[0].strip().lower()
        if media not in body.get("content", {}):
            return [f"{label}: content type {media!r} not in {sorted(body['content'])}"]
        schema_pointer = f"{body_pointer}/content/{_escape(media)}/schema"
        if form is not None:
            return self._check_form(schema_pointer, label, form)
        return self.schema_errors(schema_pointer, json_body, f"{label}: body")

    def _check_form(
        self, schema_pointer: str, label: str, form: Mapping[str, Sequence[str]]
    ) -> list[str]:
        schema = self.resolve(self._at(schema_pointer))
        properties: dict[str, Any] = schema.get("properties", {})
        problems = [
            f"{label}: required form field {name} missing"
            for name in schema.get("required", [])
            if name not in form
        ]
        for name, values in form.items():
            if name not in properties:
                problems.append(f"{label}: unknown form field {name}")
                continue
            field_schema = self.resolve(properties[name])
            if field_schema.get("type") == "array":
                item_type = self.resolve(field_schema.get("items", {})).get("type")
                value: Any = [_read_form_value(v, item_type) for v in values]
            elif len(values) != 1:
                problems.append(f"{label}: form field {name} sent {len(values)} times")
                continue
            else:
                value = _read_form_value(values[0], field_schema.get("type"))
            problems += self.schema_errors(
                f"{schema_pointer}/properties/{_escape(name)}", value, f"{label}: form {name}"
            )
        return problems

    def _at(self, pointer: str) -> Any:
        node: Any = self.document
        for token in pointer[1:].split("/"):
            node = node[token.replace("~1", "/").replace("~0", "~")]
        return node


def _read_form_value(value: str, declared: Any) -> Any:
    """A form field as the type its schema declares; left a string if it is not one."""
    if declared == "integer" and _INTEGER.match(value):
        return int(value)
    if declared == "number":
        try:
            return float(value)
        except ValueError:
            return value
    if declared == "boolean" and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


@cache
def load_spec(name: str) -> OpenApiSpec:
    path = SPEC_DIR / name
    if not path.is_file():
        raise FileNotFoundError(
            f"API description {name} not found in {SPEC_DIR} (shared/specs beside the repo)"
        )
    return OpenApiSpec(path)


def check_request(spec_name: str, method: str, path: str, **request: Any) -> list[str]:
    """Problems of one request against the named spec (see `OpenApiSpec.check`)."""
    return load_spec(spec_name).check(method, path, **request)

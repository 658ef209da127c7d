"""The JSON schema of a pipeline config and the Markdown reference generated from it.

Both come from the pydantic models (every registered adapter's config included), so they
cannot drift from the code: ``polyvec schema`` prints the JSON schema
(``docs/polyvec.schema.json``), ``polyvec schema --markdown`` the reference
(``docs/reference.md``), and a test fails when either checked-in copy differs. A key's
description is its line in its model's ``Attributes:`` docstring section, so the models'
docstrings are the one place a key is explained.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Union, get_args

from pydantic import BaseModel, Field, create_model
from pydantic_core import to_jsonable_python

from polyvec import registry
from polyvec.config import PipelineConfig

_ATTRIBUTE = re.compile(r"^    (\w+(?:, \w+)*): (.*)$")  # "k: ..." or "k, b: ..."


def attribute_docs(docstring: str) -> dict[str, str]:
    """``{key: description}`` from a Google-style ``Attributes:`` section (continuation
    lines, indented deeper, are joined to their key's line)."""
    docs: dict[str, str] = {}
    section, keys = False, list[str]()
    for line in docstring.splitlines():
        if line.strip() == "Attributes:":
            section = True
        elif section and (match := _ATTRIBUTE.match(line)):
            keys = match.group(1).split(", ")
            for key in keys:
                docs[key] = match.group(2).strip()
        elif section and keys and line.startswith("        ") and line.strip():
            for key in keys:
                docs[key] += " " + line.strip()
        elif section and line.strip() and not line.startswith("    "):
            section, keys = False, []  # the next paragraph ends the section
    return docs


def _describe_properties(model: dict[str, Any], cls: type[BaseModel] | None) -> None:
    """Give each property of one schema model its ``Attributes:`` line, where it has one,
    and the default a ``default_factory`` makes (pydantic's schema leaves it out)."""
    docs = attribute_docs(model.get("description", ""))
    for key, prop in model.get("properties", {}).items():
        if key in docs and "description" not in prop:
            prop["description"] = docs[key]
        if key == "type" and "const" in prop and "description" not in prop:
            prop["description"] = f"`{prop['const']}` selects this kind."
        info = cls.model_fields.get(key) if cls is not None else None
        if info is not None and info.default_factory is not None and "default" not in prop:
            default = info.get_default(call_default_factory=True, validated_data={})
            prop["default"] = to_jsonable_python(default, exclude_none=True)


def _models(root: type[BaseModel]) -> dict[str, type[BaseModel]]:
    """Every pydantic model reachable from ``root``'s fields, by class name (the schema's
    ``$defs`` keys)."""
    found: dict[str, type[BaseModel]] = {}

    def visit(annotation: Any) -> None:
        is_model = isinstance(annotation, type) and issubclass(annotation, BaseModel)
        if is_model and annotation.__name__ not in found:
            found[annotation.__name__] = annotation
            for info in annotation.model_fields.values():
                visit(info.annotation)
        for arg in get_args(annotation):
            visit(arg)

    visit(root)
    return found


def json_schema() -> dict[str, Any]:
    """The JSON schema of a pipeline config (what ``polyvec schema`` prints).

    ``fields`` items are one of the registered adapters' configs, told apart by ``type``
    (the config validates them through the registry, so plugins' adapters appear here too).
    """
    configs = tuple(registry.adapters.resolve(name).Config for name in registry.adapters.names())
    item: Any = Annotated[Union[configs], Field(discriminator="type")]  # noqa: UP007
    shape = create_model(
        "PipelineConfig",
        __base__=PipelineConfig,
        __doc__=PipelineConfig.__doc__,
        fields=(list[item], Field(default_factory=lambda: [{"type": "late_interaction"}])),
    )
    schema: dict[str, Any] = shape.model_json_schema(mode="validation")
    classes = _models(shape)
    _describe_properties(schema, shape)
    for name, model in schema.get("$defs", {}).items():
        _describe_properties(model, classes.get(name))
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "polyvec pipeline config"
    return schema


def _type_of(prop: dict[str, Any]) -> str:
    """A short type for the reference: ``int``, ``"a" | "b"``, ``list of X``, ``X | null``."""
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"  # the heading's anchor
    if "const" in prop:
        return json.dumps(prop["const"])
    if "enum" in prop:
        return " \\| ".join(json.dumps(v) for v in prop["enum"])
    for union in ("anyOf", "oneOf"):
        if union in prop:
            return " \\| ".join(dict.fromkeys(_type_of(p) for p in prop[union]))
    kind = prop.get("type", "any")
    if kind == "array":
        return f"list of {_type_of(prop.get('items', {}))}"
    if kind == "object" and "additionalProperties" in prop:
        extra = prop["additionalProperties"]
        return "mapping" if extra is True else f"mapping to {_type_of(extra)}"
    return {"integer": "int", "number": "float", "string": "str", "boolean": "bool"}.get(
        kind, str(kind)
    )


def _bounds(prop: dict[str, Any]) -> str:
    words = {
        "exclusiveMinimum": "> {}",
        "minimum": ">= {}",
        "exclusiveMaximum": "< {}",
        "maximum": "<= {}",
        "minLength": "at least {} characters",
    }
    return ", ".join(text.format(prop[key]) for key, text in words.items() if key in prop)


def _cell(text: str) -> str:
    """One table cell: docstring literals (````x````) as Markdown code, no bare ``|``."""
    return text.replace("``", "`").replace("|", "\\|").replace("\n", " ")


def _model_section(title: str, model: dict[str, Any], required: set[str]) -> list[str]:
    summary = _cell(model.get("description", "").split("\n\n")[0])
    lines = [f"## {title}", "", summary, "", "| key | type | default | description |"]
    lines.append("|---|---|---|---|")
    for key, prop in model.get("properties", {}).items():
        if key in required:
            default = "required"
        elif "$ref" in prop or "oneOf" in prop:  # a model: its own table has the defaults
            kind = prop.get("default", {}).get("type")
            default = f"`type: {kind}`, its defaults" if kind else "its defaults"
        elif "default" in prop:
            default = f"`{json.dumps(prop['default'])}`"
        else:
            default = ""
        kind = _type_of(prop)
        if bounds := _bounds(prop):
            kind += f" ({bounds})"
        lines.append(
            f"| `{key}` | {kind} | {_cell(default)} | {_cell(prop.get('description', ''))} |"
        )
    return [*lines, ""]


def reference_markdown(schema: dict[str, Any] | None = None) -> str:
    """The configuration reference (``polyvec schema --markdown``): one table per model."""
    schema = schema or json_schema()
    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated by `polyvec schema --markdown > docs/reference.md`; "
        "a test fails when it differs from the code. Do not edit by hand. -->",
        "",
        "Every key of a pipeline config, generated from the pydantic models (the same ones "
        "that validate a config, so a key missing here does not exist). The guide with "
        "examples is [configuration](configuration.md); the JSON schema for editors is "
        "[polyvec.schema.json](polyvec.schema.json). A `fields` item is one of the field "
        "models, chosen by its `type`; `store` is one of the store models.",
        "",
    ]
    lines += _model_section("Pipeline (the top level)", schema, set(schema.get("required", [])))
    for title, model in sorted(schema.get("$defs", {}).items()):
        lines += _model_section(title, model, set(model.get("required", [])))
    return "\n".join(lines).rstrip() + "\n"

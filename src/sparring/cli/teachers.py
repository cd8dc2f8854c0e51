"""``--teacher URL --teacher-model NAME`` (repeatable): LLM teachers for the CFT recipes.

They become the recipe option ``teachers`` (a list of ``{"url", "model"}``), the same
option a lab spec or ``--set recipe_options=...`` sets; the API key is read from the
environment variable ``SPARRING_TEACHER_API_KEY`` (docs/teachers.md).
"""

from __future__ import annotations

from typing import Optional

import typer

TEACHER = typer.Option(
    None,
    "--teacher",
    help="OpenAI-compatible base URL of an LLM teacher, e.g. http://127.0.0.1:8000/v1 (repeatable; "
    "critique recipes; key from $SPARRING_TEACHER_API_KEY).",
)
TEACHER_MODEL = typer.Option(
    None, "--teacher-model", help="The model name each --teacher serves (repeatable, in the same order; one for all)."
)
TEACHING_RECIPES = ("critique", "one_shot_critique")


def teachers(urls: Optional[list[str]], models: Optional[list[str]]) -> list[dict[str, str]]:
    """The ``teachers`` option from the flags: pairs in order; one URL or one model is
    shared by all. ``ValueError`` naming the flag when they do not pair up."""
    urls, models = list(urls or []), list(models or [])
    if not urls and not models:
        return []
    if not urls or not models:
        raise ValueError("--teacher and --teacher-model: give both (the server's URL and the model it serves)")
    if len(urls) != len(models) and 1 not in (len(urls), len(models)):
        raise ValueError(
            f"--teacher-model: {len(models)} model names for {len(urls)} --teacher URLs; "
            "give one per URL, or one URL or one model for all"
        )
    n = max(len(urls), len(models))
    return [{"url": urls[i if len(urls) > 1 else 0], "model": models[i if len(models) > 1 else 0]} for i in range(n)]


def with_teachers(recipe: object, options: dict, urls: Optional[list[str]], models: Optional[list[str]]) -> dict:
    """``options`` with ``teachers`` set from the flags (which win over an options file)."""
    found = teachers(urls, models)
    if not found:
        return options
    if recipe not in TEACHING_RECIPES:
        raise ValueError(f"--teacher: recipe {recipe!r} takes no teachers; the ones that do: {list(TEACHING_RECIPES)}")
    return {**options, "teachers": found}

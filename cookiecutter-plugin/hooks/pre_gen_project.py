"""Checks the answers before anything is written, so a bad name fails here and not at install time."""

import json
import keyword
import re
import sys

# the answers, as JSON inside a raw string: valid Python before and after rendering
ANSWERS = json.loads(
    r"""{{ {
        "project_slug": cookiecutter.project_slug,
        "package_name": cookiecutter.package_name,
        "short_name": cookiecutter.short_name,
        "ident": cookiecutter.__ident,
        "version": cookiecutter.version,
        "description": cookiecutter.description,
        "author": cookiecutter.author,
    }|tojson }}"""
)
PROJECT_SLUG = ANSWERS["project_slug"]
PACKAGE_NAME = ANSWERS["package_name"]
SHORT_NAME = ANSWERS["short_name"]
IDENT = ANSWERS["ident"]
VERSION = ANSWERS["version"]
TEXTS = {"description": ANSWERS["description"], "author": ANSWERS["author"]}

problems = []
if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", PROJECT_SLUG):
    problems.append(
        f"project_slug {PROJECT_SLUG!r}: use lower-case letters, digits and single hyphens (llmnet-acme)"
    )
if not PACKAGE_NAME.isidentifier() or keyword.iskeyword(PACKAGE_NAME):
    problems.append(f"package_name {PACKAGE_NAME!r} is not a valid Python import name (llmnet_acme)")
if not re.fullmatch(r"[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*", SHORT_NAME):
    problems.append(
        f"short_name {SHORT_NAME!r}: start with a letter; then lower-case letters, digits, - or _ (acme)"
    )
if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", IDENT):
    problems.append(f"short_name {SHORT_NAME!r} does not give a valid condition function name ({IDENT!r})")
if not re.fullmatch(r"\d+(?:\.\d+)*(?:(?:a|b|rc)\d+)?(?:\.post\d+)?(?:\.dev\d+)?", VERSION):
    problems.append(f"version {VERSION!r} is not a PEP 440 version (0.1.0)")
for key, text in TEXTS.items():
    if not text.strip() or any(c in text for c in '"\\') or not text.isprintable():
        problems.append(f"{key} {text!r}: one line of text, without double quotes or backslashes")

if problems:
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    sys.exit(1)

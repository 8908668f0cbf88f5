"""MkDocs hook: pages that show what the code defines, rendered from the code at build time.

A page asks for a generated part with a marker on a line of its own,
``<!-- generated: NAME -->``; an unknown name fails the build. The parts:

- ``cli``: every `automl` subcommand's help, from the argparse parsers of `automl.cli`.
- ``layer-types``: each layer type and its arguments, from `search_spaces._schema.LAYERS`.
- ``parameter-types``: the keys of each parameter type, from the parameter classes.
- ``stack-keys``: the keys of ``type: stack`` and ``type: repeat``.
- ``training-settings``: the config keys the trainer reads, from `trainers._settings`.
- ``samplers`` / ``schedulers``: the names and settings accepted, from `automl.planning._choices`.

It also makes the links that leave docs/ absolute (`repo_links`).
"""

from __future__ import annotations

import argparse
import dataclasses
import posixpath
import re
from collections.abc import Callable, Iterable
from typing import Any

MARKER = re.compile(r"^<!-- generated: ([a-z-]+) -->$", re.M)
HELP_WIDTH = 100  # argparse wraps at the terminal's width otherwise; the page must not depend on it


def _code(value: Any) -> str:
    return f"`{value!r}`" if isinstance(value, str) else f"`{value}`"


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> str:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().splitlines()[0].rstrip(".") if doc else ""


def _rst_to_md(text: str) -> str:
    """Docstrings write code as ``x``; Markdown as `x`."""
    return text.replace("``", "`")


# --- the command line -----------------------------------------------------------------------


def _help(parser: argparse.ArgumentParser) -> str:
    parser.formatter_class = lambda prog: argparse.RawDescriptionHelpFormatter(prog, width=HELP_WIDTH)
    return parser.format_help().rstrip()


def cli() -> str:
    from automl.cli import _parsers

    main, commands = _parsers()
    parts = ["## `automl`", "", "```text", _help(main), "```"]
    for name, sub in commands.items():
        parts += ["", f"## `automl {name}`", "", "```text", _help(sub), "```"]
    return "\n".join(parts)


# --- the search-space language --------------------------------------------------------------


def _default(arg: Any) -> str:
    from search_spaces._schema import REQUIRED

    if arg.default is REQUIRED:
        return "required"
    return "unset (`None`)" if arg.default is None else _code(arg.default)


def _when(arg: Any) -> str:
    if arg.when is None:
        return ""
    other, values = arg.when
    return f"only when `{other}` is " + " or ".join(_code(v) for v in values)


def layer_types() -> str:
    from search_spaces._layers import TEMPLATES
    from search_spaces._schema import FIRST_ONLY, LAYERS, PREPROCESSING

    rows = []
    for kind, args in LAYERS.items():
        template = TEMPLATES[kind]
        what = _rst_to_md(_first_line(template.__doc__))
        if kind in FIRST_ONLY:
            what += " (first layer of the model only, after image preprocessing)"
        elif kind in PREPROCESSING:
            what += " (at the start of the model only, on images)"
        head = [f"`{kind}`", f"`{template.__name__}`"]
        if not args:
            rows.append([*head, "", "", "", what])
            continue
        for i, (name, arg) in enumerate(args.items()):
            accepted = arg.rule.accepted() + (f"; {_when(arg)}" if arg.when else "")
            rows.append(
                [
                    *(head if i == 0 else ["", ""]),
                    f"`{name}`",
                    _default(arg),
                    accepted,
                    what if i == 0 else "",
                ]
            )
    return _table(["`type:`", "Python", "argument", "default", "accepts", "layer"], rows)


def _fields(cls: type, skip: Iterable[str] = ()) -> str:
    out = []
    for field in dataclasses.fields(cls):
        if field.name in skip:
            continue
        if field.default is not dataclasses.MISSING:
            out.append(f"`{field.name}` (default {_code(field.default)})")
        elif field.default_factory is not dataclasses.MISSING:
            out.append(f"`{field.name}` (default {_code(field.default_factory())})")
        else:
            out.append(f"`{field.name}` (required)")
    return ", ".join(out)


def parameter_types() -> str:
    from search_spaces._params import _KINDS

    rows = [
        [f"`{kind}`", f"`{cls.__name__}`", _fields(cls), _rst_to_md(_first_line(cls.__doc__))]
        for kind, cls in _KINDS.items()
    ]
    return _table(["`type:`", "Python", "keys", "samples"], rows)


def stack_keys() -> str:
    from search_spaces._stack import _RepeatFields, _StackFields

    rows = [
        ["`stack`", "`LayerStack`", _fields(_StackFields, skip=["type"])],
        ["`repeat`", "`Repeat`", _fields(_RepeatFields, skip=["type"])],
    ]
    return _table(["`type:`", "Python", "keys"], rows)


def training_settings() -> str:
    from trainers._settings import _SETTINGS

    rows = [[f"`{name}`", _default(arg), arg.rule.accepted(), _when(arg)] for name, arg in _SETTINGS.items()]
    return _table(["key", "when unset", "accepts", "applies"], rows)


# --- samplers and schedulers ----------------------------------------------------------------


OBJECTIVES = {False: "one", True: "several", None: "one or several"}


def _settings(kind: Any) -> str:
    listed = (f"`{key}` ({' or '.join(t.__name__ for t in types)})" for key, types in kind.settings.items())
    return ", ".join(listed) or "none"


def samplers() -> str:
    from automl.planning._choices import SAMPLERS

    rows = [
        [
            f"`{name}`",
            _settings(kind),
            OBJECTIVES[kind.multi_objective],
            f"`{kind.needs}`" if kind.needs else "",
        ]
        for name, kind in SAMPLERS.items()
    ]
    return _table(["name", "settings", "objectives", "needs"], rows)


def schedulers() -> str:
    from automl.planning._choices import SCHEDULERS

    return _table(["name", "settings"], ([f"`{name}`", _settings(kind)] for name, kind in SCHEDULERS.items()))


PARTS: dict[str, Callable[[], str]] = {
    "cli": cli,
    "layer-types": layer_types,
    "parameter-types": parameter_types,
    "stack-keys": stack_keys,
    "training-settings": training_settings,
    "samplers": samplers,
    "schedulers": schedulers,
}


def render(markdown: str, where: str) -> str:
    """``markdown`` with each marker replaced by its part."""

    def part(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in PARTS:
            raise ValueError(f"{where}: unknown generated part {name!r}; known: {sorted(PARTS)}")
        return PARTS[name]()

    return MARKER.sub(part, markdown)


# --- links to the repository's files beside docs/ ----------------------------------------------

LINK = re.compile(r"\]\((\.\./[^)\s#]+)(#[^)\s]*)?\)")


def repo_links(markdown: str, src_uri: str, repo_url: str | None) -> str:
    """Relative links that leave docs/ (``../../benchmarks/README.md``), made absolute.

    On GitHub such a link works as written; on the site it would point past the site's
    root, and MkDocs would report it as a missing page. It becomes ``{repo_url}/blob/HEAD/path``,
    or the repository path ``/path`` without a ``repo_url``. Links between pages stay
    relative, and MkDocs checks them.
    """

    def absolute(match: re.Match[str]) -> str:
        target, anchor = match.group(1), match.group(2) or ""
        path = posixpath.normpath(posixpath.join("docs", posixpath.dirname(src_uri), target))
        if path.startswith("docs/"):
            return match.group(0)
        if path.startswith("../"):
            raise ValueError(f"{src_uri}: the link {target!r} leaves the repository")
        url = f"{repo_url.rstrip('/')}/blob/HEAD/{path}" if repo_url else f"/{path}"
        return f"]({url}{anchor})"

    return LINK.sub(absolute, markdown)


def on_page_markdown(markdown: str, page: Any, config: Any, **kwargs: Any) -> str:
    markdown = repo_links(markdown, page.file.src_uri, config.get("repo_url"))
    return render(markdown, page.file.src_uri)

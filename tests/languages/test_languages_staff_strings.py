"""Staff pages go through the catalogue: no English text is left outside `_()`.

Issue 20: pages for handlers, admins and reviewers may stay in English for now, but every
string on them goes through the catalogue, so a translation can be added without touching
a template. Two checks prove it, each one failing on a single string left unwrapped:

- templates: each staff template is parsed by Jinja (with the i18n extension, as the app
  does) and every piece of text it would print as written — static text between tags,
  the words of attributes a reader sees or hears (aria-label, title, placeholder, alt),
  string constants printed by `{{ ... }}` or handed to a macro — must be inside `_()`,
  `ngettext()` or `{% trans %}`;
- Python: in the staff views and forms, the text of every `flash()` and of every form
  field's label, description and validator message must be a call to a catalogue marker,
  never a bare string.

Staff-only messages need no Welsh yet; the messages reporters and respondents also read
must still be translated (test_languages_catalogue).
"""

from __future__ import annotations

import ast
import re

import pytest
from conftest import REPO
from jinja2 import Environment, FileSystemLoader, nodes
from staff_sources import (
    STAFF_MODULES,
    STAFF_TEMPLATES,
    TEMPLATES,
    staff_only,
)

# Calls whose string arguments are translated, or are not text a reader sees.
MARKERS = {"_", "gettext", "ngettext", "pgettext", "N_", "Nn_", "_l", "lazy_gettext",
           "lazy_ngettext"}
NOT_TEXT = {"url_for", "csrf_token", "get", "append", "startswith", "endswith", "split",
            "format", "replace", "join", "strftime", "items", "pop", "setdefault"}
# Attributes whose words are read or heard.
READ_ATTRIBUTES = re.compile(
    r"""\b(aria-label|title|placeholder|alt)\s*=\s*(["'])([^"'\x00]*)\2""")
TAG = re.compile(r"<[^>]*>", re.S)
ENTITY = re.compile(r"&#?\w+;")
WORD = re.compile(r"[A-Za-z]{2,}")
# Form-field keywords whose text is shown (label, hint, error).
FIELD_TEXT = {"label", "description", "message"}
VALIDATORS = {"DataRequired", "InputRequired", "Length", "NumberRange", "Optional",
              "ValidationError", "Email", "Regexp", "EqualTo", "AnyOf", "NoneOf"}


def environment() -> Environment:
    # Parsed only, never rendered: autoescape does not matter here.
    env = Environment(loader=FileSystemLoader(TEMPLATES),  # noqa: S701
                      extensions=["jinja2.ext.i18n"])
    env.policies["ext.i18n.trimmed"] = True  # as speakup.i18n sets it
    return env


def _prose(text: str) -> bool:
    """A constant that reads as words: several words, or one capitalised word."""
    words = WORD.findall(text)
    return len(words) >= 2 and " " in text.strip() or bool(re.fullmatch(r"\s*[A-Z][a-z]+\W*", text))


def _callee(call: nodes.Call) -> str:
    node = call.node
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return node.attr
    return ""


def unwrapped_in_template(source: str) -> list[str]:
    """The English a template prints without passing it through the catalogue."""
    env = environment()
    found, printed = _unwrapped_text(env, source)
    for expression in printed:
        found += _printed_constants(env.parse(expression))
    tree = env.parse(source)
    # Any other constant that reads as words is text too (a macro's caption, a menu's
    # labels), unless it is compared with, looked up, filtered by or is a URL's part.
    left_alone = _translated_constants(tree)
    for node in tree.find_all((nodes.Compare, nodes.Test, nodes.Getitem, nodes.Filter,
                               nodes.Call)):
        if isinstance(node, nodes.Call) and _callee(node) not in NOT_TEXT:
            continue
        parts = [node] if not isinstance(node, nodes.Filter | nodes.Getitem) else [
            *node.args, *(kw.value for kw in node.kwargs)] if isinstance(
                node, nodes.Filter) else [node.arg]
        for part in parts:
            left_alone |= {id(c) for c in part.find_all(nodes.Const)} | (
                {id(part)} if isinstance(part, nodes.Const) else set())
    found += [const.value for const in tree.find_all(nodes.Const)
              if id(const) not in left_alone and isinstance(const.value, str)
              and _prose(const.value)]
    return sorted(set(found))


def _unwrapped_text(env: Environment, source: str) -> tuple[list[str], list[str]]:
    """Static text outside `{% trans %}`: what is left once tags and expressions are gone.

    The template is lexed, not parsed, so a tag cut by an expression (`<a href="{{ u }}">`)
    is still seen as one tag: every expression or statement becomes a blank mark.
    """
    skeleton, in_trans, previous = [], False, ""
    printed: list[str] = []  # each {{ expression }} printed between tags, as source
    expression: list[str] | None = None
    for _, kind, value in env.lex(source):
        if kind == "name" and previous == "block_begin" and value in {"trans", "endtrans"}:
            in_trans = value == "trans"
        if kind == "data" and not in_trans:
            skeleton.append(value)
        elif kind in {"block_begin", "variable_begin"}:
            so_far = "".join(skeleton)
            if kind == "variable_begin" and not in_trans and so_far.rfind("<") <= so_far.rfind(">"):
                expression = []
            skeleton.append("\x00")
        elif kind == "variable_end" and expression is not None:
            printed.append("{{ " + " ".join(expression) + " }}")
            expression = None
        elif expression is not None and kind != "whitespace":
            expression.append(value)
        if kind != "whitespace":
            previous = kind
    text = "".join(skeleton)
    found = []
    for tag in TAG.findall(text):
        found += [said for _, _, said in READ_ATTRIBUTES.findall(tag) if WORD.search(said)]
    for run in ENTITY.sub(" ", TAG.sub("\x00", text)).split("\x00"):
        if WORD.search(run):
            found.append(" ".join(run.split()))
    return found, printed


def _translated_constants(tree: nodes.Node) -> set[int]:
    return {id(c) for call in tree.find_all(nodes.Call) if _callee(call) in MARKERS
            for c in call.find_all(nodes.Const)}


def _printed_constants(tree: nodes.Node) -> list[str]:
    """Words an expression prints as written (`{{ "yes" if x else "no" }}`)."""
    translated = _translated_constants(tree)
    found = []
    for output in tree.find_all(nodes.Output):
        for child in output.nodes:
            consts = [child] if isinstance(child, nodes.Const) else list(
                child.find_all(nodes.Const))
            found += [const.value for const in consts
                      if id(const) not in translated and isinstance(const.value, str)
                      and WORD.search(const.value) and _printed(child, const)]
    return found


def _printed(expression: nodes.Node, const: nodes.Const) -> bool:
    """Whether `const` is what an output expression prints, not a test, key or argument."""
    if expression is const:
        return True
    if isinstance(expression, nodes.CondExpr):
        return any(_printed(branch, const) for branch in (expression.expr1, expression.expr2)
                   if branch is not None)
    if isinstance(expression, nodes.Concat):
        return any(_printed(part, const) for part in expression.nodes)
    if isinstance(expression, nodes.Filter) and expression.node is not None:
        return _printed(expression.node, const)
    return False


def _marked(node: ast.expr) -> bool:
    """Not English written out: a catalogue marker's call, a name or another call (its text
    is checked where it is made: a marked constant, a lambda below, a service's error)."""
    if isinstance(node, ast.IfExp):
        return _marked(node.body) and _marked(node.orelse)
    if isinstance(node, ast.Constant):
        return not (isinstance(node.value, str) and WORD.search(node.value))
    if isinstance(node, ast.JoinedStr):
        return False
    if isinstance(node, ast.BinOp):
        return _marked(node.left) and _marked(node.right)
    return True


def unwrapped_in_python(source: str) -> list[str]:
    """Bare English in flash() calls and in form fields' labels, hints and messages."""
    found = []
    for call in ast.walk(ast.parse(source)):
        if not isinstance(call, ast.Call):
            continue
        func = call.func
        name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
        shown: list[ast.expr] = []
        if (name == "flash" or name.endswith("Field")) and call.args:
            shown.append(call.args[0])
        if name.endswith("Field") or name in VALIDATORS:
            shown += [kw.value for kw in call.keywords if kw.arg in FIELD_TEXT]
        if name in VALIDATORS:
            shown += call.args  # a validator's message may be positional
        if name == "SelectChoice" and len(call.args) > 1:
            shown.append(call.args[1])  # the label of a choice
        if name == "render_template":
            shown += [kw.value for kw in call.keywords if kw.arg in {"error", "title", "message"}]
        found += [ast.unparse(node) for node in shown if not _marked(node)]
    for node in ast.walk(ast.parse(source)):
        # Errors put next to a field, and lambdas that word a flash message.
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Attribute) and t.attr == "errors" for t in node.targets
        ) and isinstance(node.value, ast.List):
            found += [ast.unparse(e) for e in node.value.elts if not _marked(e)]
        if isinstance(node, ast.Lambda) and not _marked(node.body):
            found.append(ast.unparse(node.body))
    return found


@pytest.mark.parametrize("name", STAFF_TEMPLATES)
def test_every_string_of_a_staff_template_goes_through_the_catalogue(name: str) -> None:
    assert unwrapped_in_template((TEMPLATES / name).read_text()) == []


@pytest.mark.parametrize("path", STAFF_MODULES)
def test_every_flash_and_form_text_of_staff_code_goes_through_the_catalogue(path: str) -> None:
    assert unwrapped_in_python((REPO / path).read_text()) == []


def test_the_template_check_finds_each_kind_of_unwrapped_text() -> None:
    assert unwrapped_in_template('<h1>{{ _("Inbox") }}</h1>') == []
    assert unwrapped_in_template("<p>{% trans n=3 %}{{ n }} open{% endtrans %}</p>") == []
    assert unwrapped_in_template('<a href="{{ url_for(\'x\') }}" class="button">{{ n }}</a>') == []
    assert unwrapped_in_template("<h1>Inbox</h1>") == ["Inbox"]
    assert unwrapped_in_template('<td>{{ n }} open</td>') == ["open"]
    assert unwrapped_in_template('<nav aria-label="Pages">{{ _("x") }}</nav>') == ["Pages"]
    assert unwrapped_in_template('{{ "Open" if shown else _("Closed") }}') == ["Open"]
    assert unwrapped_in_template('{{ r.table(rows, "Scores by team") }}') == ["Scores by team"]
    assert unwrapped_in_template('{% set heading = "Your goals" %}') == ["Your goals"]
    assert unwrapped_in_template('{% for u, label in [("a.b", "Overview")] %}{% endfor %}'
                                 ) == ["Overview"]
    assert unwrapped_in_template('{% macro t(what="these tables") %}{% endmacro %}'
                                 ) == ["these tables"]
    assert unwrapped_in_template('{% if g.status == "not measurable" %}{{ x|join(", ") }}'
                                 '{{ url_for("static", filename="Big file") }}{% endif %}') == []


def test_the_python_check_finds_bare_flash_and_label_text() -> None:
    assert unwrapped_in_python('flash(_("Saved."), "info")') == []
    assert unwrapped_in_python('flash(said(n), "info")') == []
    assert unwrapped_in_python('flash("Saved.", "info")') == ["'Saved.'"]
    assert unwrapped_in_python('flash(f"Saved {x}.", "info")') == ["f'Saved {x}.'"]
    assert unwrapped_in_python('x = StringField("Name", [Length(max=9, message="Too long")])'
                               ) == ["'Name'", "'Too long'"]
    assert unwrapped_in_python('x = StringField(_l("Name"), description=_l("Hint"))') == []
    assert unwrapped_in_python('v = [InputRequired("Enter a name."), NumberRange(0, 9, "Big")]'
                               ) == ["'Enter a name.'", "'Big'"]
    assert unwrapped_in_python('c = SelectChoice("on", "On")') == ["'On'"]
    assert unwrapped_in_python('form.x.errors = ["Tick the box."]') == ["'Tick the box.'"]
    assert unwrapped_in_python('save(lambda goal: f"Goal {goal.label} saved.")'
                               ) == ["f'Goal {goal.label} saved.'"]
    assert unwrapped_in_python('render_template("a.html", error="Choose a quarter.")'
                               ) == ["'Choose a quarter.'"]


def test_the_staff_lists_name_files_that_exist() -> None:
    assert all((TEMPLATES / name).is_file() for name in STAFF_TEMPLATES)
    assert all((REPO / path).is_file() for path in STAFF_MODULES)
    assert len(STAFF_TEMPLATES) > 35 and "review/goal_views.py" in STAFF_MODULES
    assert "review/results_views.py" not in STAFF_MODULES  # public: /results/


def test_only_messages_of_staff_sources_count_as_staff_only() -> None:
    assert staff_only([("templates/review/round.html", None),
                       ("concerns/handler_views.py", None)])
    assert not staff_only([("templates/review/round.html", None),
                           ("templates/concerns/new.html", None)])
    assert not staff_only([])
    forms = (REPO / "concerns/forms.py").read_text().splitlines()
    reporter = next(i for i, line in enumerate(forms, 1) if "class ConcernForm" in line)
    handler = next(i for i, line in enumerate(forms, 1) if "class StatusForm" in line)
    assert staff_only([("concerns/forms.py", handler + 2)])
    assert not staff_only([("concerns/forms.py", reporter + 2)])

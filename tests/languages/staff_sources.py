"""Which sources make the pages of handlers, admins and reviewers (issue 20).

Their text goes through the catalogue, but may stay in English for now: a message found
only in these places needs no Welsh yet. Anything reporters, respondents or the public
read must be translated (test_languages_catalogue).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from conftest import REPO

TEMPLATES = REPO / "templates"
# Every template a handler, admin or reviewer reads.
STAFF_TEMPLATES = sorted(
    [*(f"admin/{p.name}" for p in (TEMPLATES / "admin").glob("*.html")),
     *(f"auth/{p.name}" for p in (TEMPLATES / "auth").glob("*.html")),
     *(f"review/{p.name}" for p in (TEMPLATES / "review").glob("*.html")),
     "main/staff.html",
     *(f"surveys/{name}.html" for name in (
         "index", "edit", "teams", "publication", "detail", "audience", "confirm")),
     *(f"concerns/{name}.html" for name in (
         "categories", "category_edit", "concern", "guardian_return", "handler_names",
         "handler_settings", "inbox", "professional_group_edit", "professional_groups",
         "readers", "theme_edit", "theme_return", "themes"))])
# Views and forms staff use: their flash messages and form texts. Not the public results
# page's view: everyone reads /results/, so its words need Welsh (issue 20).
PUBLIC_VIEWS = {"review/results_views.py"}
STAFF_MODULES = ["concerns/handler_views.py", "concerns/admin_views.py",
                 "speakup/admin_views.py", *sorted(
                     str(p.relative_to(REPO)) for p in (REPO / "review").glob("*_views.py")
                     if str(p.relative_to(REPO)) not in PUBLIC_VIEWS),
                 "review/forms.py", "review/views.py", "speakup/forms.py", "surveys/forms.py",
                 "surveys/views.py",
                 "speakup/auth_views.py", "speakup/oidc_views.py", "speakup/passkey_views.py"]
# Services whose own messages (their errors, said by the views above) only staff read.
STAFF_SERVICES = ["speakup/accounts.py", "speakup/passkeys.py", "surveys/schedule.py",
                  "surveys/protection.py", "surveys/rounds.py", "surveys/publish.py",
                  "surveys/publication_jobs.py", "concerns/handling.py", "concerns/sharing.py",
                  "concerns/categories.py", "concerns/labelled_lists.py", "concerns/themes.py",
                  "concerns/conflicts.py", "surveys/confirm.py"]
# Modules reporters' text shares with staff text: the staff parts, by class or by call.
MIXED = {
    "concerns/forms.py": {"ThemesForm", "HandlerMessageForm", "StatusForm", "ReopenForm",
                          "ExcludeForm", "ShareForm", "UnlockForm", "InboxFilterForm",
                          "CategoryForm", "CategoryEditForm", "ThemeEditForm", "DigestForm",
                          "RecuseForm", "DisplayNameForm"},
    # The links on the admin and staff home pages.
    "concerns/wiring.py": {"admin_links", "staff_links"},
    "surveys/wiring.py": {"admin_links"},
    "review/wiring.py": {"admin_links", "staff_links"},
    # Checking a survey's definition and the team list (the default questions are public).
    "surveys/admin_services.py": {"check_spec", "_said", "_text", "_whole", "_items",
                                  "_chosen", "_demographics", "_options", "_check_windows",
                                  "_translations", "_group_translations", "_option_translations",
                                  "update_survey", "set_teams"},
    # Naming a professional group (the group question itself is public).
    "concerns/professional_groups.py": {"_group_label", "GROUPS"},
    # Finding a concern for a handler.
    "concerns/messages.py": {"get_concern", "require_access"},
}


@functools.cache
def _staff_lines(path: str) -> frozenset[int]:
    """The lines of a mixed module that belong to the staff parts named in MIXED."""
    names = MIXED[path]
    lines: set[int] = set()
    for node in ast.walk(ast.parse((REPO / path).read_text())):
        if isinstance(node, ast.ClassDef | ast.FunctionDef) and node.name in names or isinstance(
                node, ast.Assign | ast.Expr) and names & {
                    n.id if isinstance(n, ast.Name) else n.value
                    for n in ast.walk(node)
                    if isinstance(n, ast.Name) or isinstance(n, ast.Constant)
                    and isinstance(n.value, str)}:
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return frozenset(lines)


def staff_only(locations: list[tuple[str, int | None]]) -> bool:
    """Whether every place a message comes from is a staff page's source."""
    return bool(locations) and all(_is_staff(path, line) for path, line in locations)


def _is_staff(path: str, line: int | None) -> bool:
    path = Path(path).as_posix()
    if path.startswith("templates/") and path.removeprefix("templates/") in STAFF_TEMPLATES:
        return True
    if path in STAFF_MODULES or path in STAFF_SERVICES:
        return True
    return path in MIXED and line is not None and line in _staff_lines(path)

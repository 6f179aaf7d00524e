"""The deployment files say what the README says: app.json's variables, the Procfile's command."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _readme_variables() -> dict[str, str]:
    """Each variable of the README's table and its "required" column."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("### Environment variables", 1)[1].split("\n\n", 2)[1]
    out: dict[str, str] = {}
    for row in table.splitlines()[2:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0]):
            out[name] = cells[1]
    return out


def test_app_json_describes_every_variable_an_operator_sets() -> None:
    # The Heroku button's form listed 13 of the README's 29 variables: no DATABASE_URL, no question-log switch,
    # no GRACEFUL_TIMEOUT or REPLY_BUDGET.
    documented = _readme_variables()
    assert len(documented) > 20 and documented["LINE_CHANNEL_SECRET"] == "yes"
    env = json.loads((ROOT / "app.json").read_text(encoding="utf-8"))["env"]
    wanted = {n for n, required in documented.items() if "tests only" not in required and n != "PORT"}
    assert sorted(wanted - set(env)) == []
    assert sorted(set(env) - set(documented)) == []
    for name, spec in env.items():
        assert spec["description"].strip(), name
        assert spec["required"] is (documented[name] == "yes"), name


def test_procfile_runs_what_the_readme_says() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    web = [ln for ln in (ROOT / "Procfile").read_text().splitlines() if ln.startswith("web:")]
    assert web == ["web: gunicorn wsgi:app"]
    assert "`web: gunicorn wsgi:app`" in readme

"""The README's development commands, run as typed: after `make run`, a second terminal runs the
`flask` commands without a `SECRET_KEY`, while a production start without one still stops."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.support import PROJECT_ROOT, copy_sqlite

README = PROJECT_ROOT / "README.md"
DEVELOPMENT_BLOCK_START = ". .venv/bin/activate"


def development_commands() -> list[str]:
    """The README's `sh` block that starts by activating the virtualenv, line by line."""
    blocks = re.findall(r"```sh\n(.*?)```", README.read_text(), flags=re.S)
    block = next(block for block in blocks if block.startswith(DEVELOPMENT_BLOCK_START))
    return [line.strip() for line in block.splitlines() if line.strip()]


def run_script(lines: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """The lines in one bash, from the project root, on this interpreter's virtualenv and a
    throwaway database (the test must not touch a developer's `instance/` file)."""
    activate = Path(sys.executable).parent / "activate"
    script = "\n".join(["set -e", *lines]).replace(".venv/bin/activate", str(activate))
    environment = {key: value for key, value in os.environ.items()
                   if key not in {"SECRET_KEY", "FLASK_DEBUG", "VIRTUAL_ENV"}}
    environment.update(env)
    return subprocess.run(["bash", "-c", script], cwd=PROJECT_ROOT, env=environment,
                          capture_output=True, text=True, timeout=120, check=False)


def test_the_readme_development_commands_work_as_typed(sqlite_template, tmp_path):
    products = tmp_path / "products.csv"
    products.write_text("sku,name,price,stock,description\nR-1,Readme Tea,3.50,12,Typed\n")
    database = copy_sqlite(sqlite_template, tmp_path)
    lines = [line.replace("products.csv", str(products)) for line in development_commands()]
    assert any(line.endswith("flask --app wsgi report") for line in lines)

    result = run_script(lines, tmp_path, DATABASE_URL=database.url)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "registration success rate" in result.stdout
    assert "All accounts are whole." in result.stdout
    assert "Would remove 0 line(s) of inactive products." in result.stdout
    assert "1 created, 0 updated" in result.stdout


def test_a_production_start_without_a_secret_key_still_stops(sqlite_template, tmp_path):
    database = copy_sqlite(sqlite_template, tmp_path)
    lines = [line for line in development_commands() if "FLASK_DEBUG" not in line]

    result = run_script(lines, tmp_path, DATABASE_URL=database.url)

    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr

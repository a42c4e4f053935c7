"""docs/deploy.md, run as written: a non-superuser owner role, migrations with row-level
security, gunicorn from gunicorn.conf.py, the scheduled jobs, and a backup restored."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.support import PASSWORD, PROJECT_ROOT, TEST_DATABASE_URL, Mailbox, free_port

GUIDE = PROJECT_ROOT / "docs" / "deploy.md"
# Run by `make install` / `make test` before any test, so not again here.
RUN_BY_MAKE = {"python3 -m venv .venv", ".venv/bin/pip install -e ."}
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def guide_commands() -> list[str]:
    """Every line of the guide's `sh` blocks, in order."""
    blocks = re.findall(r"```sh\n(.*?)```", GUIDE.read_text(), flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


class Guide:
    """Runs the guide's lines with this test's names: a unique role and database, a free
    port, a temporary products file, this interpreter's virtualenv."""

    def __init__(self, tmp_path: Path, mail_url: str = "") -> None:
        self.mail_url = mail_url
        self.role = f"shop_{uuid.uuid4().hex[:8]}"
        self.port = free_port()
        self.tmp_path = tmp_path
        self.products = tmp_path / "products.csv"
        self.products.write_text(
            "sku,name,price,stock,description\nG-1,Guide Tea,3.50,12,Brewed by the guide\n"
        )
        self.exports = [line for line in guide_commands() if line.startswith("export ")]

    def adapt(self, line: str) -> str:
        line = re.sub(r"\bshop\b", self.role, line)
        line = line.replace("127.0.0.1:8000", f"127.0.0.1:{self.port}")
        line = line.replace("products.csv", str(self.products))
        if self.mail_url:  # the host's mail relay: a real SMTP server of the test's own
            line = line.replace("smtp://127.0.0.1:25", self.mail_url)
        line = line.replace(".venv/bin/", str(Path(sys.executable).parent) + "/")
        redis = os.environ.get("TEST_REDIS_URL")
        return line.replace("redis://127.0.0.1:6379/0", redis) if redis else line

    def script(self, line: str, prefix: str = "") -> str:
        exports = "\n".join(self.adapt(export) for export in self.exports)
        return f"set -e\n{exports}\n{prefix}{self.adapt(line)}"

    def cwd(self, line: str) -> Path:
        # The flask commands need wsgi.py; backups are written beside the test, not the code.
        return PROJECT_ROOT if ".venv/bin/" in line else self.tmp_path

    def run(self, line: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            ["bash", "-c", self.script(line)], cwd=self.cwd(line), capture_output=True,
            text=True, timeout=120, check=False,
        )
        if check:
            assert result.returncode == 0, f"{line}\n{result.stdout}\n{result.stderr}"
        return result

    def start(self, line: str) -> subprocess.Popen:
        log = (self.tmp_path / "gunicorn.log").open("w")
        return subprocess.Popen(["bash", "-c", self.script(line, prefix="exec ")],
                                cwd=self.cwd(line), stdout=log, stderr=subprocess.STDOUT)

    def drop(self) -> None:
        for sql in (f'DROP DATABASE IF EXISTS "{self.role}" WITH (FORCE)', f'DROP ROLE IF EXISTS "{self.role}"'):
            subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-c", sql],
                           capture_output=True, check=False)


def shop_over_https(base: str) -> None:
    """A shopper behind the TLS proxy: registers and fills the cart (Secure cookies kept by hand,
    as the proxy terminates TLS)."""
    http = requests.Session()
    # What the proxy adds, and the Referer a browser on the https page sends.
    proxy = {"X-Forwarded-Proto": "https", "Referer": base.replace("http:", "https:") + "/"}
    cookies: dict[str, str] = {}

    def call(method: str, path: str, **kwargs) -> requests.Response:  # noqa: ANN003
        headers = {**proxy, "Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())}
        response = http.request(method, base + path, headers=headers, allow_redirects=False,
                                timeout=30, **kwargs)
        for name, value in re.findall(r"(session)=([^;]*)", response.headers.get("Set-Cookie", "")):
            cookies[name] = value
        return response

    token = CSRF_META.search(call("GET", "/").text).group(1)
    registered = call("POST", "/auth/register", data={
        "csrf_token": token, "email": "guide@example.com", "password": PASSWORD,
        "confirm_password": PASSWORD, "first_name": "Guide", "last_name": "Reader"})
    assert registered.status_code == 303, registered.text[:500]
    assert "Secure" in registered.headers["Set-Cookie"]
    assert registered.headers["Strict-Transport-Security"]
    page = call("GET", "/?q=guide").text
    product_id = re.search(r'data-product-id="(\d+)"', page).group(1)
    token = CSRF_META.search(page).group(1)
    assert call("POST", "/cart/add", data={"csrf_token": token, "product_id": product_id,
                                           "quantity": "2"}).status_code == 303
    assert f'data-product-id="{product_id}" data-quantity="2"' in call("GET", "/cart").text


@pytest.mark.live
def test_the_deployment_guide_works_as_written(tmp_path):
    if not TEST_DATABASE_URL:
        pytest.skip("needs TEST_DATABASE_URL (PostgreSQL)")
    mailbox = Mailbox().start()
    guide = Guide(tmp_path, mailbox.url)
    commands = guide_commands()
    assert any(line.startswith(".venv/bin/gunicorn") for line in commands)
    try:
        for line in commands:
            if line in RUN_BY_MAKE or line.startswith("export "):
                continue
            if line.startswith("psql") and "CREATE ROLE storefront_app" in line:
                guide.run(line, check=False)  # cluster-wide: earlier runs may have made it
            elif line.startswith(".venv/bin/gunicorn"):
                server = guide.start(line)
                try:
                    base = f"http://127.0.0.1:{guide.port}"
                    deadline = time.monotonic() + 30
                    while time.monotonic() < deadline:
                        try:
                            if requests.get(base + "/healthz", timeout=5).status_code == 200:
                                break
                        except requests.RequestException:  # still booting
                            time.sleep(0.2)
                    shop_over_https(base)
                finally:
                    server.terminate()
                    server.wait(timeout=30)
                log = (tmp_path / "gunicorn.log").read_text()
                assert "request_id=" in log and "duration_ms=" in log
            else:
                result = guide.run(line)
                if "accounts check" in line:
                    assert "All accounts are whole." in result.stdout or "--fix" in line
                if "report" in line:
                    assert "registration success rate" in result.stdout
                if "mail deliver" in line:  # the shopper's verification mail went out
                    assert [m.recipients for m in mailbox.received] == [["guide@example.com"]]
                    assert "/auth/verify/" in mailbox.received[0].text
        # After the restore the shop's data is still there and whole.
        restored = guide.run(".venv/bin/flask --app wsgi report --days 7")
        assert "1 accounts created / 1 valid registration attempts" in restored.stdout
    finally:
        mailbox.stop()
        guide.drop()

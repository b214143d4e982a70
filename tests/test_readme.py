"""The README's quickstart, run as a newcomer would: against a real `wagw run`, with bash and curl.

Every `curl` goes through a wrapper that records the HTTP status; the statuses must be exactly the `# → NNN` lines
of the README, in order.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import kill_workers
from tests.support.server import running_server

README = Path(__file__).resolve().parents[1] / "README.md"

CURL_RECORDING_STATUS = r"""
curl() {
  local out
  out=$(command curl -sS -w '\n%{http_code}' "$@") || return $?
  printf '%s\n' "${out##*$'\n'}" >> "$STATUS_LOG"
  printf '%s' "${out%$'\n'*}"
}
"""


def quickstart_script() -> str:
    text = README.read_text()
    block = text.split("<!-- quickstart:start -->", 1)[1].split("<!-- quickstart:end -->", 1)[0]
    return block.strip().removeprefix("```bash").removesuffix("```")


def test_readme_starts_with_the_two_commands() -> None:
    head = README.read_text().splitlines()[:5]
    assert any(line.startswith("make run") for line in head)
    assert any(line.startswith("make test") for line in head)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_quickstart_works_as_written(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    script = quickstart_script()
    expected = [int(code) for code in re.findall(r"^# → (\d{3})", script, flags=re.MULTILINE)]
    assert len(expected) >= 8
    status_log = tmp_path / "statuses"
    request.addfinalizer(lambda: kill_workers(tmp_path / "data"))
    with running_server(tmp_path / "data") as server:
        assert script.count("GW=http://localhost:3000") == 1
        runnable = script.replace("GW=http://localhost:3000", f"GW={server.base_url}")
        result = subprocess.run(
            ["bash", "-c", f"set -euo pipefail\n{CURL_RECORDING_STATUS}\n{runnable}"],
            cwd=tmp_path,  # the quickstart reads data/operator-key relative to where `make run` ran
            env={"PATH": "/usr/bin:/bin:/usr/local/bin", "STATUS_LOG": str(status_log)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        statuses = [int(line) for line in status_log.read_text().split()]
        assert statuses == expected, result.stdout
        assert '"phone":"14155550100"' in result.stdout
        assert '"code":"phone_already_registered"' in result.stdout
        assert '"connection_state":"connected"' in result.stdout
        assert '"text":"Thanks!"' in result.stdout
        assert (tmp_path / "qr.png").read_bytes().startswith(b"\x89PNG")

        key = (tmp_path / "data" / "operator-key").read_text().strip()
        tenants = httpx.get(server.base_url + "/api/tenants", headers={"Authorization": f"Bearer {key}"}).json()
        assert [t["name"] for t in tenants["data"]] == ["Acme Support"]

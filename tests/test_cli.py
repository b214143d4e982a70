"""`wagw run` and `wagw migrate` as real processes, as a newcomer or an operator starts them."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import httpx

from tests.support.server import WAGW, running_server, server_env


def test_run_on_the_embedded_default_generates_and_prints_the_operator_key(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    with running_server(data_dir) as server:
        key_file = data_dir / "operator-key"
        key = key_file.read_text().strip()
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        output = server.output()
        assert f"{server.base_url.replace('127.0.0.1', '127.0.0.1')}/docs" in output
        assert key in output
        assert (data_dir / "gateway.db").exists()
        assert httpx.get(server.base_url + "/docs").status_code == 200
        assert httpx.get(server.base_url + "/readyz").json() == {"status": "ready"}
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.get(server.base_url + "/api/tenants", headers=headers).status_code == 200

    # A second start keeps the same key and the data.
    with running_server(data_dir) as server:
        assert key_file.read_text().strip() == key
        assert "kept in" in server.output()
        assert httpx.get(server.base_url + "/api/tenants", headers=headers).status_code == 200


def test_api_secret_replaces_the_generated_key(tmp_path: Path) -> None:
    secret = "s" * 40
    with running_server(tmp_path / "data", API_SECRET=secret) as server:
        assert not (tmp_path / "data" / "operator-key").exists()
        assert secret not in server.output()
        ok = httpx.get(server.base_url + "/api/tenants", headers={"Authorization": f"Bearer {secret}"})
        assert ok.status_code == 200


def test_production_refuses_to_start_without_a_strong_api_secret(tmp_path: Path) -> None:
    for extra in ({"ENV": "production"}, {"ENV": "production", "API_SECRET": "short"}):
        result = subprocess.run(
            [WAGW, "run"], env=server_env(tmp_path, **extra), capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2
        assert "API_SECRET" in result.stderr
    assert not (tmp_path / "operator-key").exists()


def test_migrate_command_upgrades_and_downgrades(tmp_path: Path) -> None:
    env = server_env(tmp_path / "data")
    up = subprocess.run([WAGW, "migrate"], env=env, capture_output=True, text=True, timeout=60)
    assert up.returncode == 0, up.stderr
    down = subprocess.run([WAGW, "migrate", "--downgrade", "base"], env=env, capture_output=True, text=True, timeout=60)
    assert down.returncode == 0, down.stderr
    assert "Done." in down.stderr

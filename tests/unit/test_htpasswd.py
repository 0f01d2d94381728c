"""Basic-auth hashes: a random salt made once, kept while the password verifies, replaced when not."""

from __future__ import annotations

from typing import Any

import bcrypt

from components.resources.htpasswd import HtpasswdProvider, hash_password, verifies


def _props(password: str, scheme: str = "bcrypt", user: str = "alice") -> dict[str, Any]:
    return {"user": user, "password": password, "scheme": scheme}


def test_create_hashes_with_a_random_salt() -> None:
    provider = HtpasswdProvider()
    first = provider.create(_props("wonderland")).outs or {}
    second = provider.create(_props("wonderland")).outs or {}
    assert first["hash"] != second["hash"], "each user gets its own random salt"
    assert first["line"] == f"alice:{first['hash']}" and first["hash"].startswith("$2b$")
    assert bcrypt.checkpw(b"wonderland", first["hash"].encode())
    assert "password" not in first


def test_a_rerun_with_the_same_password_shows_no_diff() -> None:
    provider = HtpasswdProvider()
    outs = provider.create(_props("wonderland")).outs or {}
    assert not provider.diff("id", outs, _props("wonderland")).changes


def test_a_changed_password_user_or_format_is_a_diff() -> None:
    provider = HtpasswdProvider()
    outs = provider.create(_props("wonderland")).outs or {}
    assert provider.diff("id", outs, _props("looking-glass")).changes
    assert provider.diff("id", outs, _props("wonderland", user="bob")).changes
    assert provider.diff("id", outs, _props("wonderland", scheme="sha")).changes
    updated = provider.update("id", outs, _props("looking-glass")).outs or {}
    assert verifies("looking-glass", updated["hash"], "bcrypt") and not verifies(
        "wonderland", updated["hash"], "bcrypt"
    )


def test_sha_is_apaches_format() -> None:
    # htpasswd -nbs user password (Apache's documented {SHA} example value).
    assert hash_password("password", "sha") == "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g="
    assert verifies("password", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "sha")
    assert not verifies("password", "{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=", "bcrypt")

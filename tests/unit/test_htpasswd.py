"""Basic-auth hashes: a random salt made once, kept while the password verifies, replaced when not."""

from __future__ import annotations

from typing import Any

import bcrypt

from components.resources.htpasswd import BCRYPT_COST, HtpasswdProvider, bcrypt_cost, hash_password, verifies


def _props(password: str, scheme: str = "bcrypt", user: str = "alice") -> dict[str, Any]:
    return {"user": user, "password": password, "scheme": scheme}


def test_create_hashes_with_a_random_salt() -> None:
    provider = HtpasswdProvider()
    first = provider.create(_props("wonderland")).outs or {}
    second = provider.create(_props("wonderland")).outs or {}
    assert first["hash"] != second["hash"], "each user gets its own random salt"
    assert first["line"] == f"alice:{first['hash']}" and first["hash"].startswith(f"$2b${BCRYPT_COST:02d}$")
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


def test_bcrypt_is_cheap_enough_to_check_on_every_request() -> None:
    # The router checks the hash on each request: cost 12 cost about 245 ms a request.
    assert 4 <= BCRYPT_COST <= 6
    assert bcrypt_cost(hash_password("wonderland", "bcrypt")) == BCRYPT_COST
    assert bcrypt_cost("$2y$12$" + "a" * 53) == 12
    assert bcrypt_cost("{SHA}W6ph5Mm5Pz8GgiULbPgzG37mj9g=") is None


def test_a_hash_of_another_cost_is_rehashed_once_for_the_same_password() -> None:
    provider = HtpasswdProvider()
    old_hash = bcrypt.hashpw(b"wonderland", bcrypt.gensalt(12)).decode()
    olds = {"user": "alice", "scheme": "bcrypt", "hash": old_hash, "line": f"alice:{old_hash}"}
    diff = provider.diff("id", olds, _props("wonderland"))
    assert diff.changes and not diff.replaces, "an in-place update, so the Secret is updated in place too"
    updated = provider.update("id", olds, _props("wonderland")).outs or {}
    assert bcrypt_cost(updated["hash"]) == BCRYPT_COST and verifies("wonderland", updated["hash"], "bcrypt")
    assert not provider.diff("id", updated, _props("wonderland")).changes, "re-hashed once, then kept"


def test_sha_hashes_have_no_cost_to_renew() -> None:
    provider = HtpasswdProvider()
    outs = provider.create(_props("wonderland", scheme="sha")).outs or {}
    assert not provider.diff("id", outs, _props("wonderland", scheme="sha")).changes

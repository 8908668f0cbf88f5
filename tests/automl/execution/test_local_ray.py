"""Ray's token file: made private when a run created it, named in a warning when others can read it."""

from __future__ import annotations

from automl.execution._local_ray import keep_token_private


def test_a_token_the_run_created_becomes_readable_by_its_owner_only(tmp_path, capsys):
    token = tmp_path / "auth_token"
    token.write_text("t")
    token.chmod(0o644)
    keep_token_private(token, created=True)
    assert token.stat().st_mode & 0o777 == 0o600
    assert capsys.readouterr().err == ""


def test_a_shared_token_that_was_there_before_is_named_not_changed(tmp_path, capsys):
    token = tmp_path / "auth_token"
    token.write_text("t")
    token.chmod(0o640)
    keep_token_private(token, created=False)
    assert token.stat().st_mode & 0o777 == 0o640
    err = capsys.readouterr().err
    assert err.startswith(f"[automl] warning: {token} ") and f"chmod 600 {token}" in err


def test_a_private_or_missing_token_says_nothing(tmp_path, capsys):
    token = tmp_path / "auth_token"
    keep_token_private(token, created=True)
    token.write_text("t")
    token.chmod(0o600)
    keep_token_private(token, created=False)
    assert capsys.readouterr().err == ""

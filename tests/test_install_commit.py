"""An install that fails or dies partway: one injected failure each, then the next install's recovery."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import List

import pytest

from dograh_installer import install as install_module
from dograh_installer.envfile import read_env
from dograh_installer.errors import DograhError, ExistingInstallError
from dograh_installer.install import InstallSettings, run_install
from dograh_installer.install_commit import JOURNAL_NAME
from tests.conftest import EXAMPLE_IP
from tests.support.install_checks import assert_complete_install, tree_snapshot


class SimulatedKill(BaseException):
    """Stands for SIGKILL: as a BaseException subclass it passes every ``except Exception`` handler."""


def settings(target: Path, force: bool = False, workers: int = 2) -> InstallSettings:
    return InstallSettings(directory=target, server_ip=EXAMPLE_IP, public_host=EXAMPLE_IP, turn_secret=None,
                           workers=workers, enable_telemetry=True, force_turn_relay=False, force_overwrite=force)


def kill_at_rename_to(monkeypatch, final_name: str) -> None:
    """Make the rename whose target is ``final_name`` raise SimulatedKill; every other rename runs."""
    real_rename = os.rename

    def rename(source, target, *args, **kwargs):
        if os.path.basename(target) == final_name:
            raise SimulatedKill(f"killed before renaming to {final_name}")
        return real_rename(source, target, *args, **kwargs)

    monkeypatch.setattr(os, "rename", rename)


def test_failed_staging_leaves_previous_install(tmp_path, monkeypatch):
    target = tmp_path / "dograh"
    run_install(settings(target), {}, lambda note: None)
    before = tree_snapshot(target)

    def full_disk(parent, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(parent / ".certs.tmp"))

    monkeypatch.setattr(install_module, "stage_pair", full_disk)
    with pytest.raises(DograhError) as failure:
        run_install(settings(target, force=True, workers=3), {}, lambda note: None)

    assert "No space left on device" in str(failure.value)
    assert "nothing was changed" in str(failure.value)
    assert tree_snapshot(target) == before


def test_overwrite_killed_during_renames_is_finished(tmp_path, monkeypatch):
    target = tmp_path / "dograh"
    run_install(settings(target), {}, lambda note: None)
    old_values = read_env(target / ".env").values()
    old_certificate = (target / "certs" / "local.crt").read_bytes()

    kill_at_rename_to(monkeypatch, "certs")
    with pytest.raises(SimulatedKill):
        run_install(settings(target, force=True, workers=3), {}, lambda note: None)
    monkeypatch.undo()
    # The kill left the old .env beside the new turnserver.conf and no certs directory.
    assert (target / JOURNAL_NAME).exists()
    assert not (target / "certs").exists()
    assert read_env(target / ".env").values() == old_values

    notes: List[str] = []
    with pytest.raises(ExistingInstallError):
        run_install(settings(target), {}, notes.append)

    assert any("Finished replacing the install" in note for note in notes), notes
    assert not (target / JOURNAL_NAME).exists()
    values = assert_complete_install(target)
    assert values["FASTAPI_WORKERS"] == "3"
    assert values["POSTGRES_PASSWORD"] == old_values["POSTGRES_PASSWORD"]
    assert values["TURN_SECRET"] != old_values["TURN_SECRET"]
    certificate_backups = list(target.glob("certs.bak.*"))
    assert len(certificate_backups) == 1
    assert (certificate_backups[0] / "local.crt").read_bytes() == old_certificate


def test_fresh_install_killed_during_renames_is_dropped(tmp_path, monkeypatch):
    target = tmp_path / "dograh"

    kill_at_rename_to(monkeypatch, ".env")
    with pytest.raises(SimulatedKill):
        run_install(settings(target, workers=3), {}, lambda note: None)
    monkeypatch.undo()
    assert (target / JOURNAL_NAME).exists()
    assert not (target / ".env").exists()

    notes: List[str] = []
    run_install(settings(target), {}, notes.append)

    assert any("Dropped the files of an earlier install" in note for note in notes), notes
    assert not (target / JOURNAL_NAME).exists()
    values = assert_complete_install(target)
    assert values["FASTAPI_WORKERS"] == "2"


def test_journal_after_last_rename_is_removed(tmp_path, monkeypatch):
    target = tmp_path / "dograh"
    run_install(settings(target), {}, lambda note: None)
    before = read_env(target / ".env").values()
    # A journal whose renames all happened: the install was killed just before deleting it.
    (target / JOURNAL_NAME).write_text(
        '{"replaces_install": false, "entries": [{"staged": ".env.gone.tmp", "final": ".env", "backup": null}]}',
        encoding="utf-8",
    )

    notes: List[str] = []
    with pytest.raises(ExistingInstallError):
        run_install(settings(target), {}, notes.append)

    assert notes == []
    assert not (target / JOURNAL_NAME).exists()
    assert read_env(target / ".env").values() == before

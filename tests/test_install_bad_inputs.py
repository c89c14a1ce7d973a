"""Bad install inputs: exit 2, a message naming the variable, no secret echoed, nothing created."""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLE_IP, base_env, run_pyz

# A valid secret with one bad character spliced in; long enough that only the
# spliced character breaks a rule, and distinctive enough to search for.
SECRET_BASE = "Kq7Zr2Vb9Lm4Xw8T"

BAD_ENVIRONMENT = [
    ("SERVER_IP", "256.1.1.1"),
    ("SERVER_IP", "1.2.3"),
    ("SERVER_IP", "1.2.3.4.5"),
    ("SERVER_IP", " 1.2.3.4"),
    ("SERVER_IP", "1.2.3.4 "),
    ("SERVER_IP", "1.2.3.4\n"),
    ("SERVER_IP", "2001:db8::10"),
    ("SERVER_IP", "::ffff:203.0.113.10"),
    ("SERVER_IP", "01.2.3.4"),
    ("SERVER_IP", ""),
    ("SERVER_IP", "0.0.0.0"),
    ("SERVER_IP", "255.255.255.255"),
    ("SERVER_IP", "224.0.0.1"),
    ("SERVER_IP", "a.b.c.d"),
    ("SERVER_IP", "203.0.113.10/24"),
    ("SERVER_IP", "203.0.113.10:443"),
    ("FASTAPI_WORKERS", "0"),
    ("FASTAPI_WORKERS", "-1"),
    ("FASTAPI_WORKERS", "4.5"),
    ("FASTAPI_WORKERS", "abc"),
    ("FASTAPI_WORKERS", "65"),
    ("FASTAPI_WORKERS", "1000000000000000000000"),
    ("FASTAPI_WORKERS", ""),
    ("FASTAPI_WORKERS", " 4"),
    ("FASTAPI_WORKERS", "4 "),
    ("FASTAPI_WORKERS", "+4"),
    ("FASTAPI_WORKERS", "0x4"),
    ("FASTAPI_WORKERS", "\u0664"),  # ARABIC-INDIC DIGIT FOUR: str.isdigit() accepts it
    ("TURN_SECRET", SECRET_BASE + "$HOME"),
    ("TURN_SECRET", SECRET_BASE + " tail"),
    ("TURN_SECRET", SECRET_BASE + "\ttail"),
    ("TURN_SECRET", SECRET_BASE + "\ntail"),
    ("TURN_SECRET", SECRET_BASE + "'tail"),
    ("TURN_SECRET", SECRET_BASE + '"tail'),
    ("TURN_SECRET", SECRET_BASE + "`tail"),
    ("TURN_SECRET", SECRET_BASE + "\\tail"),
    ("TURN_SECRET", SECRET_BASE + "#tail"),
    ("TURN_SECRET", SECRET_BASE + "\x01tail"),
    ("TURN_SECRET", SECRET_BASE + "\u00e9tail"),
    ("TURN_SECRET", "Short-Secret-15"),
    ("PUBLIC_HOST", "https://x"),
    ("PUBLIC_HOST", "bad_host"),
    ("PUBLIC_HOST", "dograh.example.com:443"),
    ("PUBLIC_HOST", "dograh.example.com/path"),
    ("PUBLIC_HOST", "-dograh.example.com"),
    ("PUBLIC_HOST", " dograh.example.com"),
    ("PUBLIC_HOST", "1.2.3.999"),
    ("ENABLE_TELEMETRY", "maybe"),
    ("FORCE_TURN_RELAY", "2"),
    ("DOGRAH_FORCE_OVERWRITE", "please"),
    ("DOGRAH_START", "later"),
]

BAD_FLAGS = [
    ("SERVER_IP", ["--server-ip", "256.1.1.1"]),
    ("SERVER_IP", ["--server-ip", "2001:db8::10"]),
    ("FASTAPI_WORKERS", ["--workers", "0"]),
    ("FASTAPI_WORKERS", ["--workers", "65"]),
    ("TURN_SECRET", ["--turn-secret", SECRET_BASE + "$x"]),
    ("TURN_SECRET", ["--turn-secret", "Short-Secret-15"]),
    ("PUBLIC_HOST", ["--public-host", "https://x"]),
    ("ENABLE_TELEMETRY", ["--enable-telemetry", "maybe"]),
    ("FORCE_TURN_RELAY", ["--force-turn-relay", "maybe"]),
]


def assert_rejected(result, variable: str, workdir, secret=None) -> None:
    assert result.returncode == 2, result.stdout + result.stderr
    assert f"dograh: error: {variable}:" in result.stderr
    assert "Traceback" not in result.stderr
    if secret is not None:
        assert secret not in result.stdout + result.stderr, "the rejected secret was echoed"
        assert SECRET_BASE not in result.stdout + result.stderr, "part of the rejected secret was echoed"
    assert list(workdir.iterdir()) == [], "a rejected install created files"


@pytest.mark.parametrize(("variable", "value"), BAD_ENVIRONMENT, ids=lambda item: repr(item))
def test_bad_environment_value(variable, value, pyz, shiv_root, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = base_env(shiv_root, SERVER_IP=EXAMPLE_IP, DOGRAH_DIR=str(workdir / "dograh"))
    env[variable] = value
    result = run_pyz(pyz, ["install"], env, cwd=workdir)

    assert_rejected(result, variable, workdir, secret=value if variable == "TURN_SECRET" else None)


@pytest.mark.parametrize(("variable", "args"), BAD_FLAGS, ids=lambda item: repr(item))
def test_bad_flag_value(variable, args, pyz, shiv_root, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = base_env(shiv_root, SERVER_IP=EXAMPLE_IP)
    result = run_pyz(pyz, ["install", "--dir", str(workdir / "dograh"), *args], env, cwd=workdir)

    assert_rejected(result, variable, workdir, secret=args[1] if variable == "TURN_SECRET" else None)


def test_bad_flag_beats_good_environment(pyz, shiv_root, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = base_env(shiv_root, SERVER_IP=EXAMPLE_IP, FASTAPI_WORKERS="4", DOGRAH_DIR=str(workdir / "dograh"))
    result = run_pyz(pyz, ["install", "--workers", "abc"], env, cwd=workdir)

    assert_rejected(result, "FASTAPI_WORKERS", workdir)


def test_missing_server_ip_without_tty(pyz, shiv_root, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    result = run_pyz(pyz, ["install"], base_env(shiv_root), cwd=workdir)

    assert_rejected(result, "SERVER_IP", workdir)
    assert "--server-ip" in result.stderr


def test_install_dir_is_a_file(pyz, shiv_root, tmp_path):
    workdir = tmp_path / "work"
    workdir.mkdir()
    blocker = workdir / "dograh"
    blocker.write_text("not a directory\n", encoding="utf-8")
    result = run_pyz(pyz, ["install"], base_env(shiv_root, SERVER_IP=EXAMPLE_IP, DOGRAH_DIR=str(blocker)), cwd=workdir)

    assert result.returncode == 2, result.stderr
    assert f"{blocker} exists and is not a directory" in result.stderr
    assert [entry.name for entry in workdir.iterdir()] == ["dograh"]
    assert blocker.read_text(encoding="utf-8") == "not a directory\n"

"""The prompt path, driven through a pseudo-terminal, against the environment path."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pexpect

from dograh_installer.envfile import SECRET_KEYS, read_env
from tests.conftest import EXAMPLE_IP, base_env, run_pyz
from tests.support.install_checks import assert_complete_install

TYPED_SECRET = "Typed-At-Hidden-Prompt-7f3a9c"
PROMPT_TIMEOUT = 60

SERVER_IP_PROMPT = r"Public IPv4 address of this server \(SERVER_IP\): "
SECRET_PROMPT = r"TURN shared secret \(TURN_SECRET; leave empty to generate one\): "
WORKERS_PROMPT = r"\(FASTAPI_WORKERS\) \[4\]: "


def spawn_install(pyz: Path, shiv_root: Path, target: Path, transcript: io.StringIO) -> pexpect.spawn:
    env = base_env(shiv_root, DOGRAH_DIR=str(target), TERM="dumb")
    child = pexpect.spawn(sys.executable, [str(pyz), "install"], env=env, cwd=str(target.parent),
                          encoding="utf-8", timeout=PROMPT_TIMEOUT)
    child.logfile_read = transcript
    return child


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus


def masked_env_text(path: Path) -> str:
    """Return the .env text with each generated secret replaced by its key name."""
    text = path.read_text(encoding="utf-8")
    values = read_env(path).values()
    for key in sorted(SECRET_KEYS - {"TURN_SECRET"}) + ["MINIO_ROOT_USER"]:
        text = text.replace(values[key], f"<{key}>")
    return text


def test_prompts_match_environment_install(pyz, shiv_root, tmp_path):
    prompted = tmp_path / "prompted" / "dograh"
    prompted.parent.mkdir()
    transcript = io.StringIO()
    child = spawn_install(pyz, shiv_root, prompted, transcript)
    child.expect(SERVER_IP_PROMPT)
    child.sendline(EXAMPLE_IP)
    child.expect(SECRET_PROMPT)
    child.sendline(TYPED_SECRET)
    child.expect(WORKERS_PROMPT)
    child.sendline("3")
    child.expect("Dograh install written to")
    assert finish(child) == 0, transcript.getvalue()

    from_env = tmp_path / "from-env" / "dograh"
    from_env.parent.mkdir()
    env = base_env(shiv_root, DOGRAH_DIR=str(from_env), SERVER_IP=EXAMPLE_IP, TURN_SECRET=TYPED_SECRET,
                   FASTAPI_WORKERS="3")
    result = run_pyz(pyz, ["install"], env, cwd=from_env.parent)
    assert result.returncode == 0, result.stderr

    prompted_values = assert_complete_install(prompted)
    env_values = assert_complete_install(from_env)
    assert list(prompted_values) == list(env_values)
    for key in env_values:
        if key not in SECRET_KEYS | {"MINIO_ROOT_USER"}:
            assert prompted_values[key] == env_values[key], key
    assert prompted_values["TURN_SECRET"] == TYPED_SECRET
    assert env_values["TURN_SECRET"] == TYPED_SECRET
    assert masked_env_text(prompted / ".env") == masked_env_text(from_env / ".env")
    for name in ("nginx.conf", "docker-compose.yaml", "turnserver.conf"):
        assert (prompted / name).read_bytes() == (from_env / name).read_bytes(), name
    assert f"static-auth-secret={TYPED_SECRET}\n" in (prompted / "turnserver.conf").read_text(encoding="utf-8")

    assert TYPED_SECRET not in transcript.getvalue(), "the hidden prompt echoed the TURN secret"
    for key in SECRET_KEYS:
        assert prompted_values[key] not in transcript.getvalue(), f"{key} appears on the terminal"


def test_prompt_asks_again_after_bad_answer(pyz, shiv_root, tmp_path):
    target = tmp_path / "dograh"
    transcript = io.StringIO()
    child = spawn_install(pyz, shiv_root, target, transcript)
    child.expect(SERVER_IP_PROMPT)
    child.sendline("256.1.1.1")
    child.expect(r"error: SERVER_IP: '256\.1\.1\.1' has the octet 256")
    child.expect(SERVER_IP_PROMPT)
    child.sendline(EXAMPLE_IP)
    child.expect(SECRET_PROMPT)
    child.sendline("short$secret")
    child.expect(r"error: TURN_SECRET: the given secret contains '\$'")
    child.expect(SECRET_PROMPT)
    child.sendline("")
    child.expect(WORKERS_PROMPT)
    child.sendline("65")
    child.expect("error: FASTAPI_WORKERS: 65 is out of range")
    child.expect(WORKERS_PROMPT)
    child.sendline("")
    assert finish(child) == 0, transcript.getvalue()

    values = assert_complete_install(target)
    assert values["SERVER_IP"] == EXAMPLE_IP
    assert values["FASTAPI_WORKERS"] == "4"
    assert len(values["TURN_SECRET"]) == 64
    assert "short$secret" not in transcript.getvalue()
    assert "generated, hidden" in transcript.getvalue()


def test_end_of_input_at_prompt_aborts(pyz, shiv_root, tmp_path):
    target = tmp_path / "dograh"
    transcript = io.StringIO()
    child = spawn_install(pyz, shiv_root, target, transcript)
    child.expect(SERVER_IP_PROMPT)
    child.sendeof()

    assert finish(child) == 130, transcript.getvalue()
    assert "Aborted." in transcript.getvalue()
    assert not target.exists()


def test_no_tty_and_no_server_ip(pyz, shiv_root, tmp_path):
    result = run_pyz(pyz, ["install"], base_env(shiv_root), cwd=tmp_path)

    assert result.returncode == 2
    assert "SERVER_IP" in result.stderr
    assert "no prompt without a terminal" in result.stderr
    assert list(tmp_path.iterdir()) == []

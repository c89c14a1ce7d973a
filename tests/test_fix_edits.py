"""The line editors behind doctor --fix and dograh workers, on hand-edited text."""

from __future__ import annotations

import pytest

from dograh_installer.doctor import edit_env
from dograh_installer.doctor.edit_nginx import (
    add_probe_header,
    add_upstream_settings,
    adoptable_worker_count,
    set_upstream_workers,
)
from dograh_installer.doctor.edit_text import EditError
from dograh_installer.doctor.edit_turn import plan_turn_edits
from dograh_installer.doctor.fix_diff import MASK, render_diff
from dograh_installer.doctor.fix_plan import FileChange
from dograh_installer.envfile import parse_env_text
from dograh_installer.nginx_conf import parse_nginx_text, render_nginx_conf
from tests.conftest import EXAMPLE_IP

HAND_EDITED_UPSTREAM = """\
# operator notes stay
upstream dograh_api {
\tzone dograh_api 64k;
    least_conn;
      server api:8000   fail_timeout=10s max_fails=3;   # first
    server   api:8001 max_fails=3 fail_timeout=10s;
    # server api:8002 max_fails=3 fail_timeout=10s;
    server api:8001 max_fails=3 fail_timeout=10s;  # duplicate
    server 10.0.0.5:8003;
    server api:9000;
    keepalive 32;
}
"""


def upstream_ports(text):
    upstream = parse_nginx_text(text).upstream()
    return [(server.host, server.port) for server in upstream.servers]


def test_upstream_grows_keeping_hand_edits():
    result, _ = set_upstream_workers(HAND_EDITED_UPSTREAM, 5)
    lines = result.splitlines()

    assert upstream_ports(result) == [("api", 8000), ("api", 8001), ("api", 8002), ("api", 8003), ("api", 8004)]
    assert "      server api:8000   fail_timeout=10s max_fails=3;   # first" in lines
    assert "    # server api:8002 max_fails=3 fail_timeout=10s;" in lines
    # New lines copy the first server line's indentation and parameter order.
    assert "      server api:8002 fail_timeout=10s max_fails=3;" in lines
    assert "\tzone dograh_api 64k;" in lines
    assert "# operator notes stay" in lines


def test_upstream_shrinks_to_one():
    result, notes = set_upstream_workers(HAND_EDITED_UPSTREAM, 1)

    assert upstream_ports(result) == [("api", 8000)]
    assert len([note for note in notes if "removed" in note]) == 4


def test_upstream_without_servers_gets_them():
    text = "upstream dograh_api {\n    least_conn;\n    keepalive 32;\n}\n"
    result, _ = set_upstream_workers(text, 2)

    assert result == (
        "upstream dograh_api {\n    least_conn;\n"
        "    server api:8000 max_fails=3 fail_timeout=10s;\n"
        "    server api:8001 max_fails=3 fail_timeout=10s;\n"
        "    keepalive 32;\n}\n"
    )


def test_upstream_crlf_lines_stay_crlf():
    text = render_nginx_conf(2, EXAMPLE_IP).replace("\n", "\r\n")
    result, _ = set_upstream_workers(text, 3)

    assert "\r\n    server api:8002 max_fails=3 fail_timeout=10s;\r\n" in result
    assert result.count("\n") == result.count("\r\n")


def test_upstream_split_over_lines():
    text = "upstream dograh_api {\n    least_conn;\n    server\n        api:8007\n        max_fails=3;\n}\n"
    result, _ = set_upstream_workers(text, 1)

    assert upstream_ports(result) == [("api", 8000)]
    assert "api:8007" not in result


def test_upstream_shared_line_is_rejected():
    text = "upstream dograh_api { least_conn; server api:8000; }\n"
    with pytest.raises(EditError, match="own line"):
        set_upstream_workers(text, 2)


def test_upstream_missing_is_added_before_servers():
    text = "# top\nserver { listen 80; }\n"
    result, notes = set_upstream_workers(text, 2)

    assert result == (
        "# top\n"
        "upstream dograh_api {\n"
        "    zone dograh_api 64k;\n"
        "    least_conn;\n"
        "    server api:8000 max_fails=3 fail_timeout=10s;\n"
        "    server api:8001 max_fails=3 fail_timeout=10s;\n"
        "    keepalive 32;\n"
        "}\n"
        "\n"
        "server { listen 80; }\n"
    )
    assert notes == ["nginx.conf: added upstream dograh_api"]


def test_upstream_missing_in_file_without_servers():
    result, _ = set_upstream_workers("# only a comment", 1)

    assert result.startswith("# only a comment\nupstream dograh_api {\n")
    assert upstream_ports(result) == [("api", 8000)]


def test_upstream_unchanged_when_correct():
    text = render_nginx_conf(4, EXAMPLE_IP)
    result, notes = set_upstream_workers(text, 4)

    assert result == text
    assert notes == []


@pytest.mark.parametrize("ports, expected", [
    ([8000, 8001, 8002, 8003], 4),
    ([8000, 8001, 8001, 8003], 3),
    ([8000, 8002, 8004], 3),
    ([8000, 9000], 1),
    ([9000], 0),
])
def test_adoptable_worker_count(ports, expected):
    servers = "".join(f"    server api:{port};\n" for port in ports)
    upstream = parse_nginx_text(f"upstream dograh_api {{\n{servers}}}\n").upstream()

    assert adoptable_worker_count(upstream) == expected


def test_probe_header_added_with_map():
    template = render_nginx_conf(2, EXAMPLE_IP)
    header_line = "        add_header X-Dograh-Upstream $dograh_probe_upstream always;\n"
    map_start = template.index("# A request that carries X-Dograh-Probe")
    map_end = template.index("# WebSocket upgrades")
    stripped = template.replace(header_line, "")
    stripped = stripped[:map_start] + stripped[map_end:]

    result, notes = add_probe_header(stripped)

    assert header_line in result
    assert "map $http_x_dograh_probe $dograh_probe_upstream {" in result
    assert len(notes) == 2
    # Every line of the input is still there, in order.
    remaining = iter(result.splitlines())
    assert all(line in remaining for line in stripped.splitlines())
    # A second run adds nothing.
    assert add_probe_header(result) == (result, [])


def test_probe_header_keeps_existing_map():
    template = render_nginx_conf(2, EXAMPLE_IP)
    stripped = template.replace("        add_header X-Dograh-Upstream $dograh_probe_upstream always;\n", "")

    result, notes = add_probe_header(stripped)

    assert result.count("map $http_x_dograh_probe") == 1
    assert len(notes) == 1


ENV_TEXT = (
    "# comment stays\n"
    "FASTAPI_WORKERS=4\n"
    "TURN_SECRET=first\n"
    "\n"
    "export FASTAPI_WORKERS = \"8\"   # inline comment\n"
    "POSTGRES_PASSWORD=pa$word\n"
    "MINIO_ROOT_USER=dograh$\n"
    "OSS_JWT_SECRET=abc$HOME\n"
    "TURN_SECRET=second\n"
)


def test_env_set_value_touches_effective_line_only():
    result = edit_env.set_value(ENV_TEXT, "FASTAPI_WORKERS", "6")

    assert result == ENV_TEXT.replace('export FASTAPI_WORKERS = "8"', "export FASTAPI_WORKERS = 6")
    assert parse_env_text(result).values()["FASTAPI_WORKERS"] == "6"


def test_env_set_value_keeps_bom_and_crlf():
    text = "\ufeffA=1\r\nFASTAPI_WORKERS=4\r\nB=2"
    result = edit_env.set_value(text, "FASTAPI_WORKERS", "12")

    assert result == "\ufeffA=1\r\nFASTAPI_WORKERS=12\r\nB=2"


def test_env_set_value_appends_missing_key():
    assert edit_env.set_value("A=1", "FASTAPI_WORKERS", "2") == "A=1\nFASTAPI_WORKERS=2\n"


def test_env_set_value_rejects_postgres_password():
    with pytest.raises(ValueError):
        edit_env.set_value(ENV_TEXT, "POSTGRES_PASSWORD", "new")


def test_env_normalise_bom_crlf_duplicates():
    text = "\ufeff" + ENV_TEXT.replace("\n", "\r\n")
    edit = edit_env.normalise_env(text)
    values = parse_env_text(edit.text).values()

    assert not edit.text.startswith("\ufeff")
    assert "\r" not in edit.text
    assert edit.text.count("FASTAPI_WORKERS") == 1
    assert edit.text.count("TURN_SECRET") == 1
    assert values["FASTAPI_WORKERS"] == "8"
    assert values["TURN_SECRET"] == "second"
    assert "# comment stays\n" in edit.text


def test_env_normalise_dollar_rules():
    edit = edit_env.normalise_env(ENV_TEXT)

    # POSTGRES_PASSWORD is never rewritten, whatever it contains.
    assert "POSTGRES_PASSWORD=pa$word\n" in edit.text
    # A trailing '$' cannot be expanded, so quoting keeps the value.
    assert "MINIO_ROOT_USER='dograh$'\n" in edit.text
    # '$HOME' was expanded when the stack started: left for the person.
    assert "OSS_JWT_SECRET=abc$HOME\n" in edit.text
    assert any("OSS_JWT_SECRET" in item for item in edit.skipped)


def test_env_normalise_is_idempotent():
    once = edit_env.normalise_env("\ufeff" + ENV_TEXT.replace("\n", "\r\n")).text
    twice = edit_env.normalise_env(once)

    assert twice.text == once
    assert twice.notes == []


TURN_TEXT = (
    "# coturn\n"
    "listening-port=3478\n"
    "external-ip=198.51.100.7/10.0.0.4\n"
    "static-auth-secret = oldsecretvalue0000\n"
    "no-cli\n"
)


def test_turn_edits_keep_other_lines():
    result, notes = plan_turn_edits(TURN_TEXT, "newsecretvalue1111", EXAMPLE_IP)

    assert result == (
        "# coturn\n"
        "listening-port=3478\n"
        f"external-ip={EXAMPLE_IP}/10.0.0.4\n"
        "use-auth-secret\n"
        "static-auth-secret =newsecretvalue1111\n"
        "no-cli\n"
    )
    assert len(notes) == 3
    assert plan_turn_edits(result, "newsecretvalue1111", EXAMPLE_IP) == (result, [])


def test_turn_edits_append_missing_options():
    result, _ = plan_turn_edits("no-cli", "newsecretvalue1111", EXAMPLE_IP)

    assert result == f"no-cli\nuse-auth-secret\nstatic-auth-secret=newsecretvalue1111\nexternal-ip={EXAMPLE_IP}\n"


def test_diff_masks_secrets():
    old = "A=1\nTURN_SECRET=oldsecret\nexport REDIS_PASSWORD=\"multi\nline-secret\"\n"
    new = "A=2\nTURN_SECRET=newsecret\n#OSS_JWT_SECRET=commented\n"
    change = FileChange(path=None, name=".env", old=old.encode(), new=new.encode(), old_mode=0o600, new_mode=0o600)
    output = "\n".join(render_diff(change))

    for secret in ("oldsecret", "newsecret", "multi", "line-secret", "commented"):
        assert secret not in output
    assert f"-TURN_SECRET={MASK}" in output
    assert f"+TURN_SECRET={MASK}" in output
    assert "+A=2" in output


def test_diff_masks_turn_secret():
    change = FileChange(path=None, name="turnserver.conf", old=b"static-auth-secret=aaaa\n",
                        new=b"static-auth-secret=bbbb\n", old_mode=0o640, new_mode=0o640)
    output = "\n".join(render_diff(change))

    assert "aaaa" not in output
    assert "bbbb" not in output
    assert f"+static-auth-secret={MASK}" in output


def test_probe_header_for_everyone_is_narrowed():
    template = render_nginx_conf(2, EXAMPLE_IP)
    leaking = template.replace("add_header X-Dograh-Upstream $dograh_probe_upstream always;",
                               "add_header X-Dograh-Upstream $upstream_addr;   # debugging")

    result, notes = add_probe_header(leaking)

    assert result == template
    assert len(notes) == 1


def test_upstream_settings_added():
    text = "upstream dograh_api {  # workers\n\tserver api:8000;\n}\n"
    result, notes = add_upstream_settings(text)

    assert result == (
        "upstream dograh_api {  # workers\n"
        "\tzone dograh_api 64k;\n"
        "\tleast_conn;\n"
        "\tserver api:8000;\n"
        "\tkeepalive 32;\n"
        "}\n"
    )
    assert len(notes) == 3
    assert add_upstream_settings(result) == (result, [])


def test_probe_header_gets_always():
    template = render_nginx_conf(2, EXAMPLE_IP)
    without_always = template.replace("$dograh_probe_upstream always;", "$dograh_probe_upstream;")

    result, _ = add_probe_header(without_always)

    assert result == template


def test_env_set_value_on_bare_key_line():
    assert edit_env.set_value("A=1\nFASTAPI_WORKERS\nB=2\n", "FASTAPI_WORKERS", "3") == "A=1\nFASTAPI_WORKERS=3\nB=2\n"

"""Property: --fix on any hand-decorated nginx.conf rewrites only the upstream's server lines.

Each example renders nginx.conf, decorates it the ways people edit it
(comments, blank lines, tabs, trailing comments, extra locations and
servers, a custom server_name, Let's Encrypt certificate paths, server
parameters in any order, a wrong number of server lines), runs the fix and
compares the file with every upstream server line removed, before and
after. The result must pass a real ``nginx -t``.
"""

from __future__ import annotations

import contextlib
import io
import re
import shutil

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from dograh_installer.doctor.fix import run_fix
from dograh_installer.envfile import read_env
from dograh_installer.nginx_conf import parse_nginx_text, render_nginx_conf, worker_ports
from dograh_installer.nginx_runtime import check_config_text, find_nginx
from tests.conftest import EXAMPLE_IP
from tests.support.fresh_install import make_install

pytestmark = pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed, so nginx -t cannot run")

CUSTOM_HOST = "voice.example.org"
WHITESPACE = st.sampled_from([" ", "  ", "\t", " \t"])
INDENT = st.sampled_from(["", " ", "    ", "\t", "\t\t", "  \t "])
COMMENT = st.sampled_from(["# note", "#", "# server api:8009 max_fails=3;", "# TODO: more workers", "## {;}"])
EXTRA_LOCATIONS = [
    "    location /healthz {\n        return 200 \"ok\";\n    }\n",
    "    location = /robots.txt {\n        return 200 \"User-agent: *\";\n    }\n",
    "    location /static/ {\n        root /var/www;   # assets\n        expires 1h;\n    }\n",
]
EXTRA_SERVER = "server {\n    listen 127.0.0.1:8081;\n    server_name extra.example.org;\n    return 404;\n}\n"


@st.composite
def server_lines(draw):
    indent = draw(INDENT)
    host = draw(st.sampled_from(["api", "api", "api", "127.0.0.1"]))
    port = draw(st.integers(8000, 8009))
    parameters = draw(st.permutations(["max_fails=3", "fail_timeout=10s", "weight=2"]))
    parameters = parameters[:draw(st.integers(0, 3))]
    words = ["server", f"{host}:{port}", *parameters]
    line = indent + "".join(word + draw(WHITESPACE) for word in words[:-1]) + words[-1] + ";"
    if draw(st.booleans()):
        line += draw(WHITESPACE) + draw(COMMENT)
    return line


@st.composite
def upstream_blocks(draw):
    body = [draw(INDENT) + "zone dograh_api 64k;", draw(INDENT) + "least_conn;"]
    for line in draw(st.lists(server_lines(), max_size=10)):
        body.append(line)
        if draw(st.integers(0, 4)) == 0:
            body.append(draw(st.sampled_from(["", draw(INDENT) + draw(COMMENT)])))
    body.append(draw(INDENT) + "keepalive 32;")
    return "upstream dograh_api {" + draw(st.sampled_from(["", "  # api workers"])) + "\n" + "\n".join(body) + "\n}"


@st.composite
def decorated_configs(draw):
    text = render_nginx_conf(draw(st.integers(1, 8)), EXAMPLE_IP)
    text = re.sub(r"upstream dograh_api \{.*?\n\}", lambda _: draw(upstream_blocks()), text, flags=re.S)
    if draw(st.booleans()):
        text = text.replace(f"server_name {EXAMPLE_IP};", f"server_name {CUSTOM_HOST};")
    if draw(st.booleans()):
        text = text.replace("/etc/nginx/certs/local.crt", "@@letsencrypt@@/live/voice/fullchain.pem")
        text = text.replace("/etc/nginx/certs/local.key", "@@letsencrypt@@/live/voice/privkey.pem")
    for location in draw(st.lists(st.sampled_from(EXTRA_LOCATIONS), max_size=2, unique=True)):
        head, sep, tail = text.rpartition("    location / {")
        text = head + location + sep + tail
    if draw(st.booleans()):
        text += "\n" + EXTRA_SERVER

    lines = text.split("\n")
    decorated = []
    for line in lines:
        if line.strip() and draw(st.integers(0, 5)) == 0:
            line = draw(INDENT) + line.lstrip(" ")
        if line.rstrip().endswith((";", "{")) and draw(st.integers(0, 6)) == 0:
            line += draw(WHITESPACE) + draw(COMMENT)
        decorated.append(line)
        if draw(st.integers(0, 8)) == 0:
            decorated.append(draw(st.sampled_from(["", "\t", draw(COMMENT)])))
    return "\n".join(decorated)


def without_server_lines(text):
    upstream = parse_nginx_text(text).upstream()
    drop = {number for server in upstream.servers for number in range(server.line, server.end_line + 1)}
    return [line for number, line in enumerate(text.splitlines(keepends=True), start=1) if number not in drop]


@pytest.fixture(scope="module")
def install(tmp_path_factory):
    directory = make_install(tmp_path_factory.mktemp("property") / "dograh")
    letsencrypt = directory.parent / "letsencrypt" / "live" / "voice"
    letsencrypt.mkdir(parents=True)
    shutil.copy(directory / "certs" / "local.crt", letsencrypt / "fullchain.pem")
    shutil.copy(directory / "certs" / "local.key", letsencrypt / "privkey.pem")
    return directory


# Shrinking runs nginx -t hundreds of times (minutes on a busy machine), so a
# failure is reported as generated, without shrinking.
@settings(max_examples=40, deadline=None, phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(config=decorated_configs(), workers=st.integers(1, 8))
def test_fix_rewrites_only_server_lines(install, config, workers):
    config = config.replace("@@letsencrypt@@", str(install.parent / "letsencrypt"))
    env_path = install / ".env"
    env_path.write_text(re.sub(r"(?m)^FASTAPI_WORKERS=.*$", f"FASTAPI_WORKERS={workers}", env_path.read_text()))
    nginx_path = install / "nginx.conf"
    nginx_path.write_text(config)

    with contextlib.redirect_stdout(io.StringIO()):
        run_fix(install, from_nginx=False, yes=True, restart=False, interactive=False, as_json=True)
    for backup in install.glob("*.bak.*"):
        backup.unlink()
    result = nginx_path.read_text()

    assert without_server_lines(result) == without_server_lines(config)
    upstream = parse_nginx_text(result).upstream()
    assert sorted(upstream.ports()) == worker_ports(workers)
    assert {server.host for server in upstream.servers} == {"api"}
    assert read_env(env_path).values()["FASTAPI_WORKERS"] == str(workers)
    syntax = check_config_text(result, install / "certs")
    assert syntax.returncode == 0, syntax.stderr

"""nginx.conf: rendering from the template, and reading it back with crossplane.

crossplane is NGINX's own Python parser. It keeps comments and line numbers,
which lets the doctor report hand edits by line and lets ``--fix`` rewrite
the upstream's server lines while leaving every other byte alone.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

import crossplane
import crossplane.errors

from dograh_installer import __version__
from dograh_installer.templates import render_template

UPSTREAM_NAME = "dograh_api"
FIRST_WORKER_PORT = 8000
DEFAULT_UPSTREAM_HOST = "api"
DEFAULT_CERT_DIR = "/etc/nginx/certs"
SERVER_PARAMETERS = "max_fails=3 fail_timeout=10s"
SERVER_INDENT = "    "


def worker_ports(workers: int) -> List[int]:
    return list(range(FIRST_WORKER_PORT, FIRST_WORKER_PORT + workers))


def render_server_lines(workers: int, upstream_host: str = DEFAULT_UPSTREAM_HOST, indent: str = SERVER_INDENT) -> str:
    """Return one ``server host:port ...;`` line per worker, joined with newlines."""
    return "\n".join(f"{indent}server {upstream_host}:{port} {SERVER_PARAMETERS};" for port in worker_ports(workers))


def render_nginx_conf(
    workers: int,
    public_host: str,
    upstream_host: Optional[str] = None,
    cert_dir: str = DEFAULT_CERT_DIR,
    http_listen: str = "80",
    https_listen: str = "443",
) -> str:
    """Render nginx.conf for ``workers`` API workers.

    ``upstream_host`` replaces the compose service names (api, ui, minio)
    and ``cert_dir`` the mounted certificate directory, so tests can serve
    the same file from a real nginx on loopback with the install's
    certificate. The listen options do the same for ports 80 and 443.
    """
    return render_template(
        "nginx/nginx.conf.template",
        {
            "version": __version__,
            "upstream_servers": render_server_lines(workers, upstream_host or DEFAULT_UPSTREAM_HOST),
            "server_name": public_host,
            "cert_dir": cert_dir.rstrip("/") or "/",
            "http_listen": http_listen,
            "https_listen": https_listen,
            "minio_host": upstream_host or "minio",
            "ui_host": upstream_host or "ui",
        },
    )


@dataclass
class Directive:
    name: str
    args: List[str]
    line: int
    block: Optional[List["Directive"]] = None
    comment: Optional[str] = None

    def find(self, name: str) -> List["Directive"]:
        return [child for child in self.block or [] if child.name == name]


@dataclass
class UpstreamServer:
    address: str
    host: str
    port: Optional[int]
    parameters: Dict[str, str]
    flags: List[str]
    line: int
    end_line: int


@dataclass
class Upstream:
    name: str
    line: int
    end_line: int
    servers: List[UpstreamServer] = field(default_factory=list)
    directives: List[Directive] = field(default_factory=list)
    # (line, comment text) of comments that look like commented-out server lines.
    commented_servers: List[Any] = field(default_factory=list)

    def has(self, name: str) -> bool:
        return any(d.name == name for d in self.directives)

    def ports(self) -> List[Optional[int]]:
        return [server.port for server in self.servers]


@dataclass
class NginxConfig:
    text: str
    directives: List[Directive]
    # (token, line) pairs from crossplane's lexer, comments included.
    tokens: List[Any]

    def walk(self):
        stack = list(reversed(self.directives))
        while stack:
            directive = stack.pop()
            yield directive
            stack.extend(reversed(directive.block or []))

    def upstream(self, name: str = UPSTREAM_NAME) -> Optional[Upstream]:
        for directive in self.directives:
            if directive.name == "upstream" and directive.args[:1] == [name]:
                return _upstream_from(directive, self.tokens)
        return None


class NginxParseError(ValueError):
    def __init__(self, message: str, line: Optional[int]) -> None:
        super().__init__(message)
        self.line = line


def _convert(items: List[Dict[str, Any]]) -> List[Directive]:
    return [
        Directive(
            name=item["directive"],
            args=item.get("args", []),
            line=item["line"],
            block=_convert(item["block"]) if "block" in item else None,
            comment=item.get("comment"),
        )
        for item in items
    ]


def parse_nginx_text(text: str) -> NginxConfig:
    """Parse the text of a conf.d file (http-context blocks, no includes followed)."""
    # crossplane reads files only; a private temp file keeps this a pure function.
    fd, name = tempfile.mkstemp(suffix=".conf")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        payload = crossplane.parse(
            name, check_ctx=False, check_args=False, comments=True, single=True, catch_errors=True
        )
        lexed = list(crossplane.lex(name))
    except crossplane.errors.NgxParserBaseException as exc:
        raise NginxParseError(f"{exc.strerror} in nginx.conf:{exc.lineno}", exc.lineno) from None
    finally:
        os.unlink(name)
    config = payload["config"][0]
    if config["errors"]:
        error = config["errors"][0]
        # crossplane 0.5.8 reports a file that ends inside a directive with an empty message.
        message = error["error"].replace(name, "nginx.conf") or 'unexpected end of file, expecting ";" or "}"'
        raise NginxParseError(message, error.get("line"))
    _check_structure(lexed)
    tokens = [(token, line) for token, line, _quoted in lexed]
    return NginxConfig(text=text, directives=_convert(config["parsed"]), tokens=tokens)


def _check_structure(lexed: List[Any]) -> None:
    """Raise NginxParseError where nginx would reject the block structure.

    crossplane 0.5.8 accepts a directive ended by ``}`` instead of ``;``
    and a block left open at the end of the file, and nests what follows
    inside it, so those two mistakes are checked here on the lexed tokens.
    """
    depth = 0
    pending = False  # words seen since the last ';', '{' or '}'
    last_line = 1
    for token, line, quoted in lexed:
        last_line = line
        if quoted:
            pending = True
        elif token.startswith("#"):
            continue
        elif token == "{":
            depth += 1
            pending = False
        elif token == ";":
            pending = False
        elif token == "}":
            if pending or depth == 0:
                raise NginxParseError(f'unexpected "}}" in nginx.conf:{line}', line)
            depth -= 1
        else:
            pending = True
    if pending or depth:
        raise NginxParseError(
            f'unexpected end of file, expecting ";" or "}}" in nginx.conf:{last_line}', last_line)


def parse_nginx(path: Path) -> NginxConfig:
    return parse_nginx_text(path.read_text(encoding="utf-8"))


_SERVER_COMMENT = re.compile(r"\s*server\s+\S+:\d+")


def _directive_end_line(tokens: List[Any], start_line: int, name: str) -> int:
    """Return the line of the ``;`` that ends the directive starting on ``start_line``."""
    for index, (token, line) in enumerate(tokens):
        if line == start_line and token == name:
            for token_after, line_after in tokens[index + 1:]:
                if token_after == ";":
                    return line_after
    return start_line


def block_end_line(tokens: List[Any], start_line: int, name: str) -> Optional[int]:
    """Return the line of the ``}`` that closes the ``name`` block opened on ``start_line``, or None."""
    depth = 0
    started = False
    for token, line in tokens:
        if not started:
            if line == start_line and token == name:
                started = True
            continue
        if token == "{":
            depth += 1
        elif token == "}":
            depth -= 1
            if depth == 0:
                return line
    return None


def split_address(address: str) -> Any:
    """Split ``host:port`` into (host, port); the port is None when absent or not numeric."""
    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        return address, None
    return host, int(port)


def _upstream_from(directive: Directive, tokens: List[Any]) -> Upstream:
    upstream = Upstream(
        name=directive.args[0],
        line=directive.line,
        end_line=block_end_line(tokens, directive.line, "upstream") or directive.line,
    )
    for child in directive.block or []:
        if child.name == "#":
            if child.comment and _SERVER_COMMENT.match(child.comment):
                upstream.commented_servers.append((child.line, child.comment.strip()))
            continue
        upstream.directives.append(child)
        if child.name != "server" or not child.args:
            continue
        address = child.args[0]
        host, port = split_address(address)
        parameters: Dict[str, str] = {}
        flags: List[str] = []
        for arg in child.args[1:]:
            key, sep, value = arg.partition("=")
            if sep:
                parameters[key] = value
            else:
                flags.append(arg)
        upstream.servers.append(
            UpstreamServer(address, host, port, parameters, flags, child.line,
                           _directive_end_line(tokens, child.line, "server"))
        )
    return upstream

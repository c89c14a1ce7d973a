"""Edits of nginx.conf that touch only the lines they must.

crossplane gives each directive's first line and, through its lexer, the
line of every token, so an edit can check that a line contains nothing but
the directive it replaces before replacing the line.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Dict, List, Optional, Tuple

from dograh_installer.doctor.edit_text import (
    EditError,
    LineEdit,
    apply_line_edits,
    dominant_line_ending,
    indentation,
    line_ending,
)
from dograh_installer.inputs import MAX_WORKERS
from dograh_installer.nginx_conf import (
    DEFAULT_UPSTREAM_HOST,
    FIRST_WORKER_PORT,
    SERVER_PARAMETERS,
    SERVER_INDENT,
    UPSTREAM_NAME,
    Directive,
    NginxConfig,
    Upstream,
    UpstreamServer,
    block_end_line,
    parse_nginx_text,
    render_server_lines,
)

# Parameters copied from an existing server line to the lines added next
# to it. Flags such as ``down`` or ``backup`` are not copied: a new worker
# marked down would get no traffic.
COPIED_PARAMETERS = ("max_fails", "fail_timeout", "max_conns", "slow_start")
# Flags that keep a worker out of least_conn's even spread, as does a weight.
# The fix removes them from kept server lines. The doctor reports them as
# upstream.down, upstream.backup and upstream.weight.
UNEVEN_FLAGS = ("down", "backup")
PROBE_HEADER = "X-Dograh-Upstream"
PROBE_VARIABLE = "$dograh_probe_upstream"
PROBE_MAP = [
    "# A request that carries X-Dograh-Probe gets the upstream address(es) nginx",
    "# tried in X-Dograh-Upstream; any other request maps to \"\", and add_header",
    "# omits a header whose value is empty, so clients never see internal addresses.",
    "map $http_x_dograh_probe $dograh_probe_upstream {",
    "    default \"\";",
    "    \"~.\"    $upstream_addr;",
    "}",
    "",
]


def _tokens_by_line(config: NginxConfig) -> Dict[int, List[str]]:
    lines: Dict[int, List[str]] = defaultdict(list)
    for token, line in config.tokens:
        lines[line].append(token)
    return lines


def _is_comment(token: str) -> bool:
    return token.startswith("#")


def _owns_lines(directive: Directive, end_line: int, tokens: Dict[int, List[str]]) -> bool:
    """Return True when lines directive.line..end_line contain this directive and comments only."""
    found = [
        token
        for number in range(directive.line, end_line + 1)
        for token in tokens.get(number, [])
        if not _is_comment(token)
    ]
    return found == [directive.name, *directive.args, ";"]


def _line_starts_with(tokens: Dict[int, List[str]], number: int, name: str) -> bool:
    return tokens.get(number, [])[:1] == [name]


def adoptable_worker_count(upstream: Upstream) -> int:
    """Return the worker count an upstream implies: the number of its distinct worker ports.

    A worker port is 8000..8063 (``dograh`` runs at most 64 workers),
    whatever the host. Duplicates count once and a gap does not count, so
    ``8000, 8001, 8001, 8003`` means 3 workers, and the upstream is then
    rewritten to 8000..8002.
    """
    last_port = FIRST_WORKER_PORT + MAX_WORKERS - 1
    return len({port for port in upstream.ports() if port is not None and FIRST_WORKER_PORT <= port <= last_port})


def _server_directives(config: NginxConfig) -> List[Directive]:
    for directive in config.directives:
        if directive.name == "upstream" and directive.args[:1] == [UPSTREAM_NAME]:
            return [child for child in directive.block or [] if child.name == "server" and child.args]
    return []


def _new_server_line(indent: str, port: int, parameters: List[str], eol: str) -> str:
    words = ["server", f"{DEFAULT_UPSTREAM_HOST}:{port}", *parameters]
    return indent + " ".join(words) + ";" + eol


def _style_from(reference: Optional[UpstreamServer]) -> List[str]:
    if reference is None:
        return SERVER_PARAMETERS.split()
    return [f"{key}={value}" for key, value in reference.parameters.items() if key in COPIED_PARAMETERS]


def _even_server_line(server: UpstreamServer, lines: List[str]) -> Optional[Tuple[str, str]]:
    """Return ``server``'s line without down, backup and weight, and a note; None when it has none of them.

    The other parameters and a comment after the ``;`` stay. A server
    directive spread over several lines becomes one line.
    """
    dropped = [flag for flag in server.flags if flag in UNEVEN_FLAGS]
    weight = server.parameters.get("weight", "1")
    if weight != "1":
        dropped.append(f"weight={weight}")
    if not dropped:
        return None
    words = ["server", server.address]
    words += [f"{key}={value}" for key, value in server.parameters.items() if key != "weight" or value == "1"]
    words += [flag for flag in server.flags if flag not in UNEVEN_FLAGS]
    first = lines[server.line - 1]
    last = lines[server.end_line - 1]
    tail = last[last.index(";") + 1:] if server.line == server.end_line and ";" in last else line_ending(last)
    note = (f"nginx.conf: removed {', '.join(repr(word) for word in dropped)} from 'server {server.address}' "
            f"(line {server.line}), so least_conn spreads connections evenly over it")
    return indentation(first) + " ".join(words) + ";" + tail, note


def upstream_server_edits(config: NginxConfig, workers: int) -> Tuple[List[LineEdit], List[str]]:
    """Plan the line edits that make the upstream list ``api:8000``..``api:8000+workers-1``.

    Server lines that already name an expected port on host ``api`` stay as
    they are, trailing comments included. Duplicates, other ports and other
    hosts are removed. Missing ports are added after the last kept line,
    with the indentation of the first server line and the parameters of the
    existing lines.
    """
    upstream = config.upstream()
    if upstream is None:
        return [_missing_upstream_edit(config, workers)], [f"nginx.conf: added upstream {UPSTREAM_NAME}"]
    tokens = _tokens_by_line(config)
    lines = config.text.splitlines(keepends=True)
    servers = upstream.servers
    for server, directive in zip(servers, _server_directives(config)):
        if not _owns_lines(directive, server.end_line, tokens):
            raise EditError(
                f"nginx.conf line {server.line}: the server line shares its line with other directives; "
                "put each 'server' directive of the upstream on its own line, then run the command again"
            )

    expected_ports = list(range(FIRST_WORKER_PORT, FIRST_WORKER_PORT + workers))
    kept: List[UpstreamServer] = []
    removed: List[UpstreamServer] = []
    kept_ports = set()
    for server in servers:
        if server.host == DEFAULT_UPSTREAM_HOST and server.port in expected_ports and server.port not in kept_ports:
            kept.append(server)
            kept_ports.add(server.port)
        else:
            removed.append(server)
    missing = [port for port in expected_ports if port not in kept_ports]

    edits = [LineEdit(server.line, server.end_line, []) for server in removed]
    notes = [f"nginx.conf: removed 'server {server.address}' (line {server.line})" for server in removed]
    for server in kept:
        rewrite = _even_server_line(server, lines)
        if rewrite is not None:
            edits.append(LineEdit(server.line, server.end_line, [rewrite[0]]))
            notes.append(rewrite[1])
    if not missing:
        return edits, notes

    # New lines copy a kept line's parameters, or any server line's.
    reference = None
    if kept:
        reference = kept[0]
    elif servers:
        reference = servers[0]
    if servers:
        indent = indentation(lines[servers[0].line - 1])
    else:
        first_child = next(iter(upstream.directives), None)
        indent = indentation(lines[first_child.line - 1]) if first_child else SERVER_INDENT
    eol = line_ending(lines[reference.line - 1] if reference else lines[upstream.line - 1])
    new_lines = [_new_server_line(indent, port, _style_from(reference), eol) for port in missing]
    notes.append("nginx.conf: added " + ", ".join(f"'server api:{port}'" for port in missing))

    if kept:
        after = max(server.end_line for server in kept)
        edits.append(LineEdit(after + 1, after, new_lines))
    elif servers:
        # Put the new lines where the first (removed) server line was.
        first = servers[0]
        edits = [edit for edit in edits if edit.start != first.line]
        edits.append(LineEdit(first.line, first.end_line, new_lines))
    else:
        keepalive = next((d for d in upstream.directives if d.name == "keepalive"), None)
        anchor = keepalive.line if keepalive else upstream.end_line
        expected = "keepalive" if keepalive else "}"
        if not _line_starts_with(tokens, anchor, expected):
            raise EditError(
                f"nginx.conf line {anchor}: cannot add server lines before '{expected}' because other "
                f"directives share its line; put '{expected}' on its own line, then run the command again"
            )
        edits.append(LineEdit(anchor, anchor - 1, new_lines))
    return edits, notes


def add_upstream_settings(text: str) -> Tuple[str, List[str]]:
    """Add ``zone``, ``least_conn`` and ``keepalive`` to the upstream where missing, each on a new line.

    ``zone`` and ``least_conn`` go right after the line that opens the block,
    because nginx requires the balancing method before ``keepalive``.
    ``keepalive`` goes before the closing ``}``. Returns the text unchanged
    when there is no upstream.
    """
    config = parse_nginx_text(text)
    upstream = config.upstream()
    if upstream is None:
        return text, []
    tokens = _tokens_by_line(config)
    lines = text.splitlines(keepends=True)
    children = [directive for directive in upstream.directives if directive.name != "#"]
    if children:
        indent = indentation(lines[children[0].line - 1])
    else:
        indent = indentation(lines[upstream.line - 1]) + SERVER_INDENT
    eol = line_ending(lines[upstream.line - 1])

    top = []
    if not upstream.has("zone"):
        top.append(f"zone {UPSTREAM_NAME} 64k;")
    if not upstream.has("least_conn"):
        top.append("least_conn;")
    edits = []
    if top:
        opening = [token for token in tokens.get(upstream.line, []) if not _is_comment(token)]
        if opening != ["upstream", UPSTREAM_NAME, "{"]:
            raise EditError(
                f"nginx.conf line {upstream.line}: the line that opens upstream {UPSTREAM_NAME} contains more than "
                f"'upstream {UPSTREAM_NAME} {{'; add {' '.join(repr(line) for line in top)} by hand"
            )
        edits.append(LineEdit(upstream.line + 1, upstream.line, [indent + line + eol for line in top]))
    if not upstream.has("keepalive"):
        if not _line_starts_with(tokens, upstream.end_line, "}"):
            raise EditError(
                f"nginx.conf line {upstream.end_line}: upstream {UPSTREAM_NAME} ends on a line with other "
                "directives; add 'keepalive 32;' by hand"
            )
        edits.append(LineEdit(upstream.end_line, upstream.end_line - 1, [indent + "keepalive 32;" + eol]))
    notes = [f"nginx.conf: added '{line}' to upstream {UPSTREAM_NAME}" for line in top]
    if not upstream.has("keepalive"):
        notes.append(f"nginx.conf: added 'keepalive 32;' to upstream {UPSTREAM_NAME}")
    return apply_line_edits(text, edits), notes


def _missing_upstream_edit(config: NginxConfig, workers: int) -> LineEdit:
    """Insert the upstream block as a fresh install writes it, before the first top-level server block."""
    tokens = _tokens_by_line(config)
    lines = config.text.splitlines(keepends=True)
    first_server = next((d for d in config.directives if d.name == "server"), None)
    block = [
        f"upstream {UPSTREAM_NAME} {{",
        f"{SERVER_INDENT}zone {UPSTREAM_NAME} 64k;",
        f"{SERVER_INDENT}least_conn;",
        *render_server_lines(workers).split("\n"),
        f"{SERVER_INDENT}keepalive 32;",
        "}",
        "",
    ]
    if first_server is None:
        eol = dominant_line_ending(config.text)
        prefix = [] if not lines or lines[-1].endswith("\n") else [eol]
        return LineEdit(len(lines) + 1, len(lines), prefix + [line + eol for line in block])
    if not _line_starts_with(tokens, first_server.line, "server"):
        raise EditError(
            f"nginx.conf line {first_server.line}: cannot add upstream {UPSTREAM_NAME} before this server block "
            "because other directives share its line; copy the upstream block from a fresh install's nginx.conf"
        )
    eol = line_ending(lines[first_server.line - 1])
    return LineEdit(first_server.line, first_server.line - 1, [line + eol for line in block])


def set_upstream_workers(text: str, workers: int) -> Tuple[str, List[str]]:
    config = parse_nginx_text(text)
    edits, notes = upstream_server_edits(config, workers)
    return apply_line_edits(text, edits), notes


def _block_end_line(config: NginxConfig, directive: Directive) -> int:
    """Return the line of the ``}`` closing ``directive``'s block."""
    line = block_end_line(config.tokens, directive.line, directive.name)
    if line is None:
        raise EditError(f"nginx.conf line {directive.line}: cannot find the end of the '{directive.name}' block")
    return line


def _api_locations(config: NginxConfig) -> List[Directive]:
    found = []
    for directive in config.walk():
        if directive.name != "location" or not directive.args:
            continue
        if not directive.args[-1].startswith("/api/v1"):
            continue
        if any(UPSTREAM_NAME in " ".join(child.args) for child in directive.find("proxy_pass")):
            found.append(directive)
    return found


def _has_probe_map(config: NginxConfig) -> bool:
    return any(
        directive.name == "map" and len(directive.args) >= 2 and directive.args[1] == PROBE_VARIABLE
        for directive in config.directives
    )


def _directive_end_line(config: NginxConfig, directive: Directive) -> int:
    """Return the line of the ``;`` that ends a simple directive."""
    started = False
    for token, line in config.tokens:
        if not started:
            started = line == directive.line and token == directive.name
        elif token == ";":
            return line
    raise EditError(f"nginx.conf line {directive.line}: cannot find the end of '{directive.name}'")


def add_probe_header(text: str) -> Tuple[str, List[str]]:
    """Make each /api/v1/ location send X-Dograh-Upstream to probe requests only.

    A location without the header gets ``add_header ... always;`` as its
    last line. A header with any other value (``$upstream_addr`` shows
    internal addresses to every client) has its line rewritten. The ``map``
    that empties the header for requests without X-Dograh-Probe is added
    before the upstream block, at http level, when it is missing. Nothing
    else changes.
    """
    config = parse_nginx_text(text)
    tokens = _tokens_by_line(config)
    lines = text.splitlines(keepends=True)
    edits: List[LineEdit] = []
    notes: List[str] = []
    header_line = f"add_header {PROBE_HEADER} {PROBE_VARIABLE} always;"

    for location in _api_locations(config):
        where = f"location {location.args[-1]}"
        headers = [child for child in location.find("add_header") if child.args[:1]]
        probe_headers = [child for child in headers if child.args[0].lower() == PROBE_HEADER.lower()]
        for header in probe_headers:
            # Without "always", nginx drops the header from WebSocket 101 responses.
            if header.args[1:] == [PROBE_VARIABLE, "always"]:
                continue
            end_line = _directive_end_line(config, header)
            if not _owns_lines(header, end_line, tokens):
                raise EditError(
                    f"nginx.conf line {header.line}: the {PROBE_HEADER} header shares its line with other "
                    f"directives; change it to '{header_line}' by hand"
                )
            indent = indentation(lines[header.line - 1])
            edits.append(LineEdit(header.line, end_line, [indent + header_line + line_ending(lines[end_line - 1])]))
            notes.append(f"nginx.conf: {where} now sends {PROBE_HEADER} to probe requests only "
                         f"(line {header.line})")
        if probe_headers:
            continue

        closing = _block_end_line(config, location)
        if not _line_starts_with(tokens, closing, "}"):
            raise EditError(
                f"nginx.conf line {closing}: {where} ends on a line with other directives; "
                f"add '{header_line}' to it by hand"
            )
        children = [child for child in location.block or [] if child.name != "#"]
        if children:
            indent = indentation(lines[children[0].line - 1])
        else:
            indent = indentation(lines[location.line - 1]) + SERVER_INDENT
        eol = line_ending(lines[closing - 1])
        edits.append(LineEdit(closing, closing - 1, [indent + header_line + eol]))
        notes.append(f"nginx.conf: added the probe-only {PROBE_HEADER} header to {where}")

    if edits and not _has_probe_map(config):
        upstream = config.upstream()
        anchor = upstream.line if upstream is not None else 1
        if upstream is not None and not _line_starts_with(tokens, anchor, "upstream"):
            raise EditError(
                f"nginx.conf line {anchor}: the upstream block shares its line with other directives; "
                f"add the map for {PROBE_VARIABLE} by hand (see a fresh install's nginx.conf)"
            )
        eol = line_ending(lines[anchor - 1] if lines else "\n")
        edits.append(LineEdit(anchor, anchor - 1, [line + eol if line else eol for line in PROBE_MAP]))
        notes.append(f"nginx.conf: added the map that sets {PROBE_VARIABLE} only for probe requests")
    return apply_line_edits(text, edits), notes

"""Names: nginx's server_name and PUBLIC_BASE_URL against PUBLIC_HOST."""

from __future__ import annotations

from typing import Dict, List, Tuple

from dograh_installer.doctor.install_files import InstallFiles
from dograh_installer.doctor.nginx_query import server_blocks
from dograh_installer.findings import ERROR, OK, Finding

GROUP = "names"


def check_names(files: InstallFiles) -> List[Finding]:
    findings: List[Finding] = []
    host = files.values.get("PUBLIC_HOST")
    if not host:
        return findings  # env.keys reports it

    if files.nginx is not None:
        wrong: List[Tuple[int, List[str]]] = []
        for server in server_blocks(files.nginx):
            names = [arg for directive in server.find("server_name") for arg in directive.args]
            if host not in names:
                wrong.append((server.line, names))
        if wrong:
            findings.append(_server_name_finding(host, wrong))
        else:
            findings.append(Finding("names.server_name", OK, f"every server block answers as {host}", group=GROUP))

    base_url = files.values.get("PUBLIC_BASE_URL")
    expected = f"https://{host}"
    if base_url is not None and base_url != expected:
        findings.append(Finding(
            "names.base_url", ERROR,
            f"PUBLIC_BASE_URL={base_url}, not {expected}: links and webhook URLs the API builds point elsewhere",
            f"set PUBLIC_BASE_URL={expected} in .env", GROUP))
    elif base_url is not None:
        findings.append(Finding("names.base_url", OK, f"PUBLIC_BASE_URL={expected}", group=GROUP))
    return findings


def _joined(items: List[str]) -> str:
    return " and ".join([", ".join(items[:-1]), items[-1]]) if len(items) > 1 else items[0]


def _blocks_on(lines: List[int]) -> str:
    plural = "s" if len(lines) > 1 else ""
    return f"the server block{plural} on line{plural} {_joined([str(line) for line in lines])}"


def _server_name_finding(host: str, wrong: List[Tuple[int, List[str]]]) -> Finding:
    """Name every server block whose server_name lacks ``host``, and both ways to make them agree."""
    by_names: Dict[str, List[int]] = {}
    for line, names in wrong:
        by_names.setdefault(" ".join(names) or "(none)", []).append(line)
    blocks = "; ".join(f"{names} in {_blocks_on(lines)}" for names, lines in by_names.items())
    where = _blocks_on([line for line, _ in wrong])
    fix = f"set 'server_name {host};' in {where} of nginx.conf"
    # When every wrong block serves the same name, .env may be what is out of date.
    served = {names[0] for _, names in wrong if names}
    if len(served) == 1 and len(wrong) == len([names for _, names in wrong if names]):
        name = served.pop()
        if name != "_" and "*" not in name and "~" not in name:
            fix += (f", or, if nginx serves the right name, set PUBLIC_HOST={name} and "
                    f"PUBLIC_BASE_URL=https://{name} in .env")
    return Finding(
        "names.server_name", ERROR,
        f"server_name is {blocks}, but PUBLIC_HOST={host}: the stack builds URLs for a host that nginx does "
        "not answer as",
        fix, GROUP, data={"lines": [line for line, _ in wrong]})

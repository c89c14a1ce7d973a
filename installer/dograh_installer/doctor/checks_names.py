"""Names: nginx's server_name and PUBLIC_BASE_URL against PUBLIC_HOST."""

from __future__ import annotations

from typing import List

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
        wrong = []
        for server in server_blocks(files.nginx):
            names = [arg for directive in server.find("server_name") for arg in directive.args]
            if host not in names:
                wrong.append((server.line, " ".join(names) or "(none)"))
        if wrong:
            line, names = wrong[0]
            findings.append(Finding(
                "names.server_name", ERROR,
                f"server_name of the server block on line {line} is {names}, but PUBLIC_HOST={host}: the stack "
                "builds URLs for a host that nginx does not answer as",
                f"set PUBLIC_HOST and PUBLIC_BASE_URL in .env to the name nginx serves, or set 'server_name {host};'",
                GROUP, data={"lines": [item[0] for item in wrong]}))
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

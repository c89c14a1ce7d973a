"""Running a real nginx on a generated config: ``nginx -t`` and loopback serving.

The install's nginx.conf names compose services (api, ui, minio) and the
container's certificate path, which do not exist outside the stack. The
loopback substitution rewrites those to 127.0.0.1 and a local certificate
directory so the same file can be syntax-checked or served on this machine.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Optional

from dograh_installer.nginx_conf import DEFAULT_CERT_DIR

_SEARCH_PATH = "/usr/sbin:/usr/local/sbin:/usr/local/nginx/sbin"
CHECK_TIMEOUT = 30


def find_nginx() -> Optional[str]:
    return shutil.which("nginx") or shutil.which("nginx", path=_SEARCH_PATH)


# The container's certificate directory, with an optional file below it and
# the quotes around it, if any.
_CERT_PATH = re.compile(r"""(["']?)""" + re.escape(DEFAULT_CERT_DIR) + r"""((?:/[^\s;"'{}]*)?)\1""")


def quote_nginx_string(value: str) -> str:
    """Return ``value`` as one double-quoted nginx token, so spaces and ``;`` stay inside it."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def loopback_config(
    text: str,
    cert_dir: Path,
    http_listen: str = "127.0.0.1:8080",
    https_listen: str = "127.0.0.1:8443",
    upstream_host: str = "127.0.0.1",
) -> str:
    """Return ``text`` with service hosts, certificate paths and listen ports made local."""
    text = re.sub(r"(?<![\w.-])(api|ui|minio)(?=:\d+)", upstream_host, text)
    text = _CERT_PATH.sub(lambda match: quote_nginx_string(str(cert_dir) + match.group(2)), text)
    text = re.sub(r"(\blisten\s+)(?:\[::\]:)?80\b", rf"\g<1>{http_listen}", text)
    text = re.sub(r"(\blisten\s+)(?:\[::\]:)?443\b", rf"\g<1>{https_listen}", text)
    return text


def write_main_config(prefix: Path, include: Path, worker_processes: int = 2) -> Path:
    """Write a minimal top-level nginx.conf under ``prefix`` that includes ``include`` in http."""
    for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi", "logs"):
        (prefix / name).mkdir(parents=True, exist_ok=True)
    user_line = "user root;\n" if os.geteuid() == 0 else ""
    main = prefix / "nginx-main.conf"
    main.write_text(
        f"{user_line}"
        "daemon off;\n"
        f"worker_processes {worker_processes};\n"
        f"pid {prefix}/nginx.pid;\n"
        f"error_log {prefix}/logs/error.log info;\n"
        "events { worker_connections 8192; }\n"
        "http {\n"
        f"    access_log {prefix}/logs/access.log;\n"
        f"    client_body_temp_path {prefix}/client_body;\n"
        f"    proxy_temp_path {prefix}/proxy;\n"
        f"    fastcgi_temp_path {prefix}/fastcgi;\n"
        f"    uwsgi_temp_path {prefix}/uwsgi;\n"
        f"    scgi_temp_path {prefix}/scgi;\n"
        f"    include {include};\n"
        "}\n",
        encoding="utf-8",
    )
    return main


def nginx_argv(nginx: str, prefix: Path, main: Path, *extra: str) -> list:
    # -e (nginx 1.19.5+) keeps even early errors out of the system log path.
    return [nginx, "-p", str(prefix), "-e", str(prefix / "logs" / "error.log"), "-c", str(main), *extra]


def check_config_text(text: str, cert_dir: Path, nginx: Optional[str] = None) -> subprocess.CompletedProcess:
    """Run ``nginx -t`` on conf.d ``text`` after the loopback substitution."""
    nginx = nginx or find_nginx()
    if nginx is None:
        raise FileNotFoundError("nginx is not installed")
    with tempfile.TemporaryDirectory(prefix="dograh-nginx-t-") as tmp:
        prefix = Path(tmp)
        conf = prefix / "default.conf"
        conf.write_text(loopback_config(text, cert_dir), encoding="utf-8")
        main = write_main_config(prefix, conf)
        return subprocess.run(
            nginx_argv(nginx, prefix, main, "-t", "-q"),
            capture_output=True, text=True, timeout=CHECK_TIMEOUT,
        )


class NginxServer:
    """A foreground nginx serving one conf.d file from its own prefix directory."""

    def __init__(self, prefix: Path, conf_text: str, worker_processes: int = 2, nginx: Optional[str] = None) -> None:
        self.prefix = prefix
        self.nginx = nginx or find_nginx()
        if self.nginx is None:
            raise FileNotFoundError("nginx is not installed")
        self.conf = prefix / "default.conf"
        self.conf.write_text(conf_text, encoding="utf-8")
        self.main = write_main_config(prefix, self.conf, worker_processes)
        self.process: Optional[subprocess.Popen] = None

    def start(self, wait_port: Optional[int] = None, timeout: float = 10.0) -> None:
        check = subprocess.run(nginx_argv(self.nginx, self.prefix, self.main, "-t"), capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{check.stderr}")
        self.process = subprocess.Popen(nginx_argv(self.nginx, self.prefix, self.main))
        if wait_port is not None:
            wait_for_port(wait_port, timeout, self.process)

    def reload(self, conf_text: Optional[str] = None) -> None:
        """Replace the conf.d file and reload; returns once new workers run the new config."""
        if conf_text is not None:
            self.conf.write_text(conf_text, encoding="utf-8")
        check = subprocess.run(nginx_argv(self.nginx, self.prefix, self.main, "-t"), capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{check.stderr}")
        log = self.prefix / "logs" / "error.log"
        before = log.read_text(errors="replace").count("start worker process") if log.exists() else 0
        assert self.process is not None
        self.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if log.exists() and log.read_text(errors="replace").count("start worker process") > before:
                time.sleep(0.2)
                return
            time.sleep(0.05)
        raise RuntimeError("nginx did not start new worker processes after reload")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None

    def error_log(self) -> str:
        path = self.prefix / "logs" / "error.log"
        return path.read_text(errors="replace") if path.exists() else ""


def wait_for_port(port: int, timeout: float, process: Optional[subprocess.Popen] = None) -> None:
    """Return once something accepts on 127.0.0.1:``port``; raise if ``process`` exits first."""
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the process for port {port} exited with {process.returncode} during start")
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listened on 127.0.0.1:{port} within {timeout} s")

"""A stand-in Dograh stack on loopback: N uvicorn workers behind a real nginx over TLS.

The generated nginx.conf fixes the upstream ports at 8000 and up, and other
tests on the same machine use those ports too. So the stack runs in a
private network namespace (``unshare -n``) with its own loopback, and the
command under test runs inside the same namespace: nothing can collide, and
nothing in the namespace can reach any other network.

Usage inside a namespace (``run_in_namespace`` builds this command line):

    unshare -n python -m tests.support.live_stack --dir DIR --workers 8000,8001 -- COMMAND...

The exit code is COMMAND's; the harness's own failures exit with 99.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

ROOT = Path(__file__).resolve().parents[2]
HTTPS_PORT = 18443
HTTP_PORT = 18080
NGINX_URL = f"https://127.0.0.1:{HTTPS_PORT}"
HARNESS_FAILED = 99
START_TIMEOUT = 30.0


def python_env(**extra: str) -> Dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(ROOT / "installer")])
    env.update(extra)
    return env


def namespace_unavailable_reason() -> Optional[str]:
    """Return why a private network namespace cannot be made here, or None."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare or ip is not installed"
    probe = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"'unshare -n' failed: {probe.stderr.strip()}"
    return None


def run_in_namespace(directory: Path, command: Sequence[str], workers: Sequence[int] = (), prefork: int = 0,
                     kill_port: Optional[int] = None, kill_after: int = 0, nginx_workers: int = 2,
                     stop_port: Optional[int] = None, timeout: float = 300) -> subprocess.CompletedProcess:
    """Start the stand-in stack for ``directory`` in a new network namespace and run ``command`` in it."""
    argv = ["unshare", "-n", sys.executable, "-m", "tests.support.live_stack", "--dir", str(directory),
            "--workers", ",".join(map(str, workers)), "--prefork", str(prefork),
            "--nginx-workers", str(nginx_workers)]
    if kill_port is not None:
        argv += ["--kill-port", str(kill_port), "--kill-after", str(kill_after)]
    if stop_port is not None:
        argv += ["--stop-port", str(stop_port)]
    return subprocess.run([*argv, "--", *command], cwd=ROOT, env=python_env(), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


class LiveStack:
    """Stand-in workers and nginx serving ``directory``'s nginx.conf and certificate on loopback."""

    def __init__(self, directory: Path, state: Path) -> None:
        self.directory = directory
        self.state = state
        self.workers: Dict[int, subprocess.Popen] = {}
        self.nginx = None
        self._prefix = Path(tempfile.mkdtemp(prefix="dograh-live-nginx-"))

    def start_worker(self, port: int, processes: int = 1) -> None:
        argv = [sys.executable, "-m", "uvicorn", "tests.support.standin_api:app", "--host", "127.0.0.1",
                "--port", str(port), "--no-access-log", "--log-level", "warning"]
        if processes > 1:
            argv += ["--workers", str(processes)]
        process = subprocess.Popen(argv, cwd=ROOT, env=python_env(DOGRAH_STANDIN_STATE=str(self.state)),
                                   stdin=subprocess.DEVNULL)
        self.workers[port] = process
        from dograh_installer.nginx_runtime import wait_for_port

        wait_for_port(port, START_TIMEOUT, process)

    def start_nginx(self, worker_processes: int) -> None:
        from dograh_installer.nginx_runtime import NginxServer, loopback_config

        text = (self.directory / "nginx.conf").read_text(encoding="utf-8")
        conf = loopback_config(text, self.directory / "certs", http_listen=f"127.0.0.1:{HTTP_PORT}",
                               https_listen=f"127.0.0.1:{HTTPS_PORT}")
        self.nginx = NginxServer(self._prefix, conf, worker_processes=worker_processes)
        self.nginx.start(wait_port=HTTPS_PORT, timeout=START_TIMEOUT)

    def accepted(self) -> int:
        return sum(len(path.read_text().splitlines()) for path in self.state.glob("accepted-*"))

    def kill_worker(self, port: int) -> None:
        process = self.workers[port]
        process.kill()
        process.wait()

    def pause_worker(self, port: int) -> None:
        """Pause the worker with SIGSTOP: the kernel still accepts its connections, but no process reads them."""
        self.workers[port].send_signal(signal.SIGSTOP)

    def stop(self) -> None:
        for process in self.workers.values():
            if process.poll() is None:
                # A paused worker handles SIGTERM only once it runs again.
                process.send_signal(signal.SIGCONT)
                process.terminate()
        for process in self.workers.values():
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self.nginx is not None:
            self.nginx.stop()
        shutil.rmtree(self._prefix, ignore_errors=True)


def _kill_when_held(stack: LiveStack, port: int, count: int, done: threading.Event) -> None:
    while not done.is_set():
        if stack.accepted() >= count:
            stack.kill_worker(port)
            return
        time.sleep(0.05)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", required=True, type=Path)
    parser.add_argument("--workers", default="", help="comma-separated ports of single-process workers")
    parser.add_argument("--prefork", type=int, default=0, help="run 'uvicorn --workers N' on port 8000 instead")
    parser.add_argument("--nginx-workers", type=int, default=2)
    parser.add_argument("--kill-port", type=int)
    parser.add_argument("--kill-after", type=int, default=0,
                        help="kill the worker on --kill-port once this many WebSockets are accepted in total")
    parser.add_argument("--stop-port", type=int, help="pause the worker on this port once the stack is up")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command

    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    # 1,000 held WebSockets need about 3,000 descriptors across client, nginx and workers.
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))

    state = Path(tempfile.mkdtemp(prefix="dograh-live-state-"))
    stack = LiveStack(args.dir, state)
    done = threading.Event()
    try:
        try:
            if args.prefork:
                stack.start_worker(8000, processes=args.prefork)
            for port in filter(None, args.workers.split(",")):
                stack.start_worker(int(port))
            stack.start_nginx(args.nginx_workers)
            if args.stop_port is not None:
                stack.pause_worker(args.stop_port)
        except (RuntimeError, OSError) as exc:
            print(f"live_stack: could not start the stand-in stack: {exc}", file=sys.stderr)
            return HARNESS_FAILED
        if args.kill_port is not None:
            threading.Thread(target=_kill_when_held, args=(stack, args.kill_port, args.kill_after, done),
                             daemon=True).start()
        return subprocess.run(command, env=python_env()).returncode
    finally:
        done.set()
        stack.stop()
        shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    sys.exit(main())

"""The doctor's fixture corpus: its builder script and the secrets a scenario may hold."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType
from typing import List

from dograh_installer.envfile import SECRET_KEYS, read_env

CORPUS = Path(__file__).resolve().parents[1] / "fixtures" / "doctor"


def _load_make_corpus() -> ModuleType:
    # make_corpus.py is also run as a script, so it is loaded from its path.
    spec = importlib.util.spec_from_file_location("make_corpus", CORPUS / "make_corpus.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_corpus = _load_make_corpus()


def secret_values(directory: Path) -> List[str]:
    """Return every secret the scenario's .env holds, from each binding, so a duplicated key's old value counts too."""
    values = list(make_corpus.FAKE_SECRETS.values())
    if (directory / ".env").exists():
        env = read_env(directory / ".env")
        values += [binding.value for binding in env.bindings if binding.key in SECRET_KEYS and binding.value]
    return values

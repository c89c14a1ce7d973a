"""The .env rules docker compose applies, as envfile.parse_env_text follows them."""

from __future__ import annotations

import pytest

from dograh_installer.envfile import interpolate, parse_env_text


@pytest.mark.parametrize("line, key, value", [
    ("A=plain", "A", "plain"),
    ("export A=plain", "A", "plain"),
    ("  export   A=plain", "A", "plain"),
    ("A='single $HOME #x'", "A", "single $HOME #x"),
    ('A="double # kept"', "A", "double # kept"),
    ('A="line\\nbreak"', "A", "line\nbreak"),
    ("A=value # comment", "A", "value"),
    ("A=value\t# comment", "A", "value"),
    ("A=value#not-a-comment", "A", "value#not-a-comment"),
    ("A='quoted' # comment", "A", "quoted"),
    ("A=", "A", ""),
])
def test_compose_value_rules(line, key, value):
    env = parse_env_text(line + "\n")

    assert env.error_lines == []
    assert env.values() == {key: value}


def test_duplicate_key_last_wins():
    env = parse_env_text("FASTAPI_WORKERS=4\nOTHER=x\nFASTAPI_WORKERS=6\n")

    assert env.values()["FASTAPI_WORKERS"] == "6"
    assert env.duplicates() == {"FASTAPI_WORKERS": [1, 3]}
    assert env.effective("FASTAPI_WORKERS").line == 3


def test_bom_detected_first_key_clean():
    env = parse_env_text("\ufeffENVIRONMENT=production\n")

    assert env.has_bom
    assert env.values() == {"ENVIRONMENT": "production"}


def test_crlf_detected_values_clean():
    env = parse_env_text("A=1\r\nB=2\r\n")

    assert env.has_crlf
    assert env.values() == {"A": "1", "B": "2"}


def test_lf_file_has_no_crlf():
    assert not parse_env_text("A=1\nB=2\n").has_crlf


@pytest.mark.parametrize("line, quote, interpolated", [
    ("A=pa$word", "", True),
    ('A="pa$word"', '"', True),
    ("A='pa$word'", "'", False),
    ("export A=pa$word", "", True),
    ("A=password", "", False),
])
def test_dollar_interpolation_by_quote(line, quote, interpolated):
    binding = parse_env_text(line + "\n").bindings[0]

    assert binding.quote() == quote
    assert binding.interpolated() is interpolated


def test_unparsable_line_reported():
    env = parse_env_text("A=1\nthis is not a binding\nB=2\n")

    assert env.error_lines == [2]
    assert env.values() == {"A": "1", "B": "2"}


@pytest.mark.parametrize("text, expanded", [
    ("A=x\nB=${A}-$A\n", "x-x"),
    ("B=${MISSING:-fallback}\n", "fallback"),
    ("A=\nB=${A:-fallback}|${A-kept}\n", "fallback|"),
    ("B=pa$$word\n", "pa$word"),
    ("A=x\nB='${A}'\n", "${A}"),
    ('A=x\nB="${A}y"\n', "xy"),
    ("B=$A\nA=x\n", ""),
    ("B=cost$\n", "cost$"),
])
def test_interpolate_like_compose(text, expanded):
    assert interpolate(parse_env_text(text), "B") == expanded

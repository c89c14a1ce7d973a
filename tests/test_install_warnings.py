"""Sizing and address warnings: accepted inputs that the user should still hear about."""

from __future__ import annotations

import ipaddress

import pytest

from dograh_installer.inputs import server_ip_warnings, worker_warnings

GIB = 1024**3


@pytest.mark.parametrize("address", ["10.1.2.3", "172.16.0.1", "172.31.255.254", "192.168.1.10", "127.0.0.1",
                                     "169.254.10.20", "100.64.0.1", "100.127.255.254"])
def test_non_public_address_warns(address):
    warnings = server_ip_warnings(ipaddress.IPv4Address(address))

    assert len(warnings) == 1
    assert address in warnings[0]
    assert "browsers outside that network will not reach it" in warnings[0]
    assert "self-signed" in warnings[0]


@pytest.mark.parametrize("address", ["192.0.2.1", "198.51.100.7", "203.0.113.10", "240.0.0.1", "255.255.255.254"])
def test_unreachable_address_warns(address):
    warnings = server_ip_warnings(ipaddress.IPv4Address(address))

    assert len(warnings) == 1
    assert address in warnings[0]
    assert "no browser will reach it" in warnings[0]


@pytest.mark.parametrize("address", ["8.8.8.8", "172.32.0.1", "100.128.0.1", "192.169.0.1", "203.0.114.1"])
def test_public_address_does_not_warn(address):
    assert server_ip_warnings(ipaddress.IPv4Address(address)) == []


def test_workers_within_machine_do_not_warn():
    assert worker_warnings(4, cpu_count=4, memory_bytes=8 * GIB) == []


def test_workers_above_vcpus_warn():
    warnings = worker_warnings(4, cpu_count=2, memory_bytes=64 * GIB)

    assert len(warnings) == 1
    assert "more than the 2 vCPUs" in warnings[0]


def test_workers_above_eight_warn_profile_first():
    warnings = worker_warnings(9, cpu_count=16, memory_bytes=64 * GIB)

    assert len(warnings) == 1
    assert "profile your workload first" in warnings[0]


def test_workers_above_memory_warn():
    # 4 x 500 MiB + 2 GiB = 3.95 GiB needed, 3.5 GiB present.
    warnings = worker_warnings(4, cpu_count=8, memory_bytes=int(3.5 * GIB))

    assert len(warnings) == 1
    assert "needs about 4.0 GiB" in warnings[0]
    assert "this machine has 3.5 GiB" in warnings[0]


def test_unknown_machine_size_does_not_warn():
    assert worker_warnings(8, cpu_count=0, memory_bytes=0) == []

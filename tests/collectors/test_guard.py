"""The capture guard: every spelling of an inside address is refused; the allow-list is exact."""

from __future__ import annotations

import ipaddress

import pytest

from collectors.guard import GuardError, Policy, address_problem, parse_allow, parse_host_ip

INSIDE = [
    "http://127.0.0.1/",
    "http://127.1/",
    "http://2130706433/",  # decimal
    "http://0x7f000001/",  # hex
    "http://0177.0.0.1/",  # octal
    "http://0x7f.0.0.1/",
    "http://017700000001/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped
    "http://[::ffff:7f00:1]/",
    "http://[::127.0.0.1]/",  # IPv4-compatible
    "http://[2002:7f00:1::]/",  # 6to4 around loopback
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 around metadata
    "http://169.254.169.254/latest/meta-data/",
    "http://[fd00:ec2::254]/",
    "http://100.100.100.200/",
    "http://10.0.0.1/",
    "http://172.16.5.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://0.0.0.0/",
    "http://0/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[ff02::1]/",
    "http://198.18.0.1/",
]

BAD_SPELLINGS = [
    "file:///etc/passwd",
    "ftp://example.org/",
    "gopher://example.org/",
    "javascript:alert(1)",
    "data:text/html,hi",
    "http://user:pass@example.org/",
    "http://example.org@127.0.0.1/",
    "http://127.0.0.1\\@example.org/",
    "http:///nohost",
    "http://exa mple.org/",
    "http://256.1.1.1/",
    "http://1.2.3.4.5/",
    "http://[fe80::1%25eth0]/",
    "http://example.org:99999/",
]


@pytest.mark.parametrize("url", INSIDE)
def test_inside_addresses_refused_in_every_spelling(url: str) -> None:
    decision = Policy().check_url(url)
    assert not decision.allowed and decision.reason


@pytest.mark.parametrize("url", BAD_SPELLINGS)
def test_bad_schemes_userinfo_and_malformed_hosts_refused(url: str) -> None:
    assert not Policy().check_url(url).allowed


def test_public_addresses_pass() -> None:
    for url in ("https://93.184.215.14/", "http://[2606:4700::1111]/", "https://example.org/post/1"):
        assert Policy().check_url(url).allowed, url


def test_ipv4_spellings_read_as_the_browser_reads_them() -> None:
    loop = ipaddress.ip_address("127.0.0.1")
    for host in ("2130706433", "0x7f000001", "0177.0.0.1", "127.1", "127.0.1", "0x7f.1"):
        assert parse_host_ip(host) == loop, host
    assert parse_host_ip("example.org") is None
    assert parse_host_ip("1.2.3.example") is None
    with pytest.raises(GuardError):
        parse_host_ip("1.2.3.09")  # '09' is not octal: the browser refuses the host too


def test_embedded_public_v4_is_judged_by_the_v4() -> None:
    assert address_problem(ipaddress.ip_address("::ffff:93.184.215.14")) is None
    assert "loopback" in (address_problem(ipaddress.ip_address("::ffff:127.0.0.1")) or "")


def test_allow_list_is_exact_host_and_port() -> None:
    policy = Policy(parse_allow(["127.0.0.1:8600"]))
    assert policy.check_url("http://127.0.0.1:8600/x").allowed
    assert not policy.check_url("http://127.0.0.1:8601/x").allowed  # the canary beside it stays shut
    assert not policy.check_url("http://127.0.0.2:8600/x").allowed
    assert policy.check_url("http://2130706433:8600/").allowed  # same address, other spelling


def test_allow_list_from_environment_and_flags() -> None:
    policy = Policy.from_settings(["[::1]:9000"], env={"WB_CAPTURE_ALLOW": "127.0.0.1:8600, 127.0.0.1:8700"})
    assert policy.allow == {("::1", 9000), ("127.0.0.1", 8600), ("127.0.0.1", 8700)}
    with pytest.raises(GuardError):
        parse_allow(["localhost"])


def test_names_are_resolved_then_checked() -> None:
    decision = Policy().resolve_and_check("localhost", 80)
    assert not decision.allowed and "loopback" in (decision.reason or "")
    assert Policy(parse_allow(["localhost:80"])).resolve_and_check("localhost", 80).allowed


def test_deny_all_refuses_even_allowed_pairs() -> None:
    policy = Policy(parse_allow(["127.0.0.1:8600"]), deny_all=True)
    assert not policy.check_url("http://127.0.0.1:8600/").allowed

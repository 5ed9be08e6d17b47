"""Who gets into `tether web`, and what a request must carry: sign-in through an OpenID
Connect provider (a small one of the test's own on loopback; the happy path in
Chromium), tokens that must not sign anyone in, passwords, sessions, CSRF, Host and
Origin checks, and the bind address."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from temporalio.testing import WorkflowEnvironment

from tests.support.browser import ARTIFACTS, CHROMIUM, CHROMIUM_MISSING, chromium
from tests.support.doc_blocks import ROOT
from tests.support.oidc_provider import CLIENT_ID, CLIENT_SECRET, Provider
from tests.support.web import (
    LEAD,
    PASSWORD,
    UI_TIMEOUT,
    USERS,
    served,
    signed_in,
)
from tether import ConfigurationError
from tether._web.access import check_password
from tether._web.config import check_bind
from tether.web import Oidc, WebConfig, WebUser, create_app, hash_password, load_users

GUIDE = ROOT / "docs" / "guides" / "web.md"


@pytest.fixture
async def provider() -> AsyncIterator[Provider]:
    idp = Provider()
    async with served(idp.app()) as base:
        idp.issuer = base
        yield idp


def oidc_config(idp: Provider, **options: object) -> WebConfig:
    oidc = Oidc(issuer=idp.issuer, client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    return WebConfig(users=USERS, signer=None, oidc=oidc, **options)  # type: ignore[arg-type]


@pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason=CHROMIUM_MISSING)
async def test_a_person_signs_in_through_the_identity_provider_in_a_browser(
    dev_env: WorkflowEnvironment, provider: Provider, tmp_path: Path
) -> None:
    from playwright.async_api import expect

    app = create_app(oidc_config(provider), client=dev_env.client)
    async with served(app) as base, chromium(tmp_path) as browser:
        page = await browser.new_page()
        await page.goto(f"{base}/runs")
        link = page.get_by_role("link", name="Sign in with your identity provider")
        await expect(link).to_be_visible(timeout=UI_TIMEOUT)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(
            path=ARTIFACTS / "tether-web-sign-in.png",
            clip={"x": 0, "y": 0, "width": 1100, "height": 320},
        )
        await link.click()
        await expect(page.locator("#signed-in-as")).to_have_text(LEAD.name, timeout=UI_TIMEOUT)
        assert page.url == f"{base}/runs"  # back where sign-in was asked for
    assert provider.tokens_issued == 1


@pytest.mark.parametrize("tamper", ["audience", "nonce", "key", "issuer"])
async def test_a_token_the_provider_did_not_issue_for_this_sign_in_signs_nobody_in(
    dev_env: WorkflowEnvironment, provider: Provider, tamper: str
) -> None:
    provider.tamper = tamper
    app = create_app(oidc_config(provider), client=dev_env.client)
    async with served(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        answer = await _oidc_round_trip(http)
        assert answer.status_code == 401
        assert "tether_session" not in http.cookies
        assert (await http.get("/")).status_code == 303  # still signed out


async def test_a_callback_without_the_sign_in_that_started_it_is_refused(
    dev_env: WorkflowEnvironment, provider: Provider
) -> None:
    app = create_app(oidc_config(provider), client=dev_env.client)
    async with served(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        started = await http.get("/login/oidc")
        granted = await http.get(started.headers["location"])
        http.cookies.clear()  # another browser: it did not start this sign-in
        answer = await http.get(granted.headers["location"])
        assert answer.status_code == 400
        assert "tether_session" not in http.cookies


async def _oidc_round_trip(http: httpx.AsyncClient) -> httpx.Response:
    started = await http.get("/login/oidc")
    assert started.status_code == 303
    granted = await http.get(started.headers["location"])  # the provider
    assert granted.status_code == 302
    return await http.get(granted.headers["location"])  # back at /auth/callback


async def test_passwords_sessions_csrf_host_and_origin(dev_env: WorkflowEnvironment) -> None:
    app = create_app(WebConfig(users=USERS, signer=None), client=dev_env.client)
    async with served(app) as base:
        async with httpx.AsyncClient(base_url=base, headers={"Origin": base}) as http:
            wrong = await http.post("/login", data={"name": LEAD.name, "password": "guess"})
            assert wrong.status_code == 401 and "tether_session" not in http.cookies
            unknown = await http.post("/login", data={"name": "nobody", "password": PASSWORD})
            assert unknown.status_code == 401
            page = await http.get("/")
            assert page.status_code == 303 and page.headers["location"].startswith("/login")
            # Sign-in never sends anyone off the site.
            away = await http.post(
                "/login?next=x",
                data={"name": LEAD.name, "password": PASSWORD, "next": "//evil.example/"},
            )
            assert away.headers["location"] == "/"
            cookie = away.headers["set-cookie"].lower()
            assert "httponly" in cookie and "samesite=lax" in cookie
            assert "secure" not in cookie  # plain http on loopback
            inbox = await http.get("/")
            assert inbox.status_code == 200
            policy = inbox.headers["content-security-policy"]
            assert "script-src 'self'" in policy and "unsafe" not in policy
            assert inbox.headers["x-frame-options"] == "DENY"
            # A post without the session's CSRF token does nothing.
            refused = await http.post("/logout", data={"csrf": "not-it"})
            assert refused.status_code == 400 and (await http.get("/")).status_code == 200
            # Another Host (DNS rebinding) and another Origin are refused.
            assert (await http.get("/", headers={"Host": "evil.example"})).status_code == 403
            foreign = await http.post("/logout", headers={"Origin": "http://evil.example"})
            assert foreign.status_code == 403
            nameless = httpx.AsyncClient(base_url=base, cookies=http.cookies)
            async with nameless:
                assert (await nameless.post("/logout")).status_code == 403  # no Origin
            # A session cookie altered by its holder is no session.
            value = http.cookies["tether_session"]
            http.cookies.set("tether_session", value[:-2] + ("A" if value[-1] != "A" else "B"))
            assert (await http.get("/")).status_code == 303
        async with signed_in(base) as session:
            answer = await session.get("/session")
            assert answer.json()["user"] == LEAD.name


def test_cookies_are_secure_behind_an_https_address() -> None:
    config = WebConfig(users=USERS, signer=None, public_url="https://approvals.example.com")
    assert config.cookies_secure() and config.hosts() == ("approvals.example.com",)
    loopback = WebConfig(users=USERS, signer=None, public_url="http://127.0.0.1:8400")
    assert not loopback.cookies_secure()


def test_only_loopback_without_a_way_to_sign_in() -> None:
    nobody = WebConfig(users={"x": WebUser(name="x")}, signer=None)
    check_bind("127.0.0.1", nobody)
    check_bind("::1", nobody)
    with pytest.raises(ConfigurationError, match="nobody can sign in"):
        check_bind("0.0.0.0", nobody)
    without_address = WebConfig(users=USERS, signer=None)
    with pytest.raises(ConfigurationError, match="--public-url"):
        check_bind("0.0.0.0", without_address)
    check_bind("0.0.0.0", WebConfig(users=USERS, signer=None, public_url="https://a.example"))


def test_the_users_file_holds_hashes_never_passwords(tmp_path: Path) -> None:
    hashed = hash_password("hunter2")
    assert check_password(WebUser(name="a", password_hash=hashed), "hunter2")
    assert not check_password(WebUser(name="a", password_hash=hashed), "hunter3")
    assert not check_password(None, "hunter2")
    file = tmp_path / "users.toml"
    file.write_text('[[user]]\nname = "a"\npassword = "hunter2"\n')
    with pytest.raises(ConfigurationError, match="must be a hash"):
        load_users(file)
    file.write_text('[[user]]\nname = "a"\nrole = "admin"\n')
    with pytest.raises(ConfigurationError, match="unknown field 'role'"):
        load_users(file)
    file.write_text('[[user]]\nname = "a"\n[[user]]\nname = "a"\n')
    with pytest.raises(ConfigurationError, match="listed twice"):
        load_users(file)


def test_the_guides_users_file_loads(tmp_path: Path) -> None:
    text = GUIDE.read_text()
    block = text.split("```toml\n", 1)[1].split("```", 1)[0]
    file = tmp_path / "users.toml"
    file.write_text(block)
    users = load_users(file)
    assert users["lead@shop.example"].decide and users["ada@example.com"].acting_for == "C-1"


def test_tether_web_says_what_is_wrong_in_one_line(tmp_path: Path) -> None:
    tether = str(Path(sys.executable).parent / "tether")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TETHER_")}
    users = tmp_path / "users.toml"
    users.write_text('[[user]]\nname = "a"\n')  # nobody with a password
    for args, says in [
        (["--host", "0.0.0.0"], "refusing to serve on 0.0.0.0: nobody can sign in"),
        (["--users", str(users), "--host", "10.1.2.3"], "nobody can sign in"),
        (["--users", str(tmp_path / "missing.toml")], "cannot read users file"),
        (["--oidc-issuer", "https://id.example"], "needs both --oidc-issuer and"),
        (["--rule", "tests.support.web:PASSWORD"], "--rule tests.support.web:PASSWORD: not a"),
    ]:
        done = subprocess.run(
            [tether, "web", *args], env=env, capture_output=True, text=True, timeout=60
        )
        assert done.returncode == 2, (args, done.stderr)
        assert says in done.stderr and done.stderr.count("\n") == 1, done.stderr
    hashed = subprocess.run(
        [tether, "web", "--hash-password"], env=env, input="hunter2\n",
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert hashed.returncode == 0
    assert check_password(WebUser(name="a", password_hash=hashed.stdout.strip()), "hunter2")


async def test_mounted_in_your_own_app_under_a_path(dev_env: WorkflowEnvironment) -> None:
    from starlette.applications import Starlette
    from starlette.routing import Mount

    config = WebConfig(users=USERS, signer=None)
    outer = Starlette(routes=[Mount("/approvals", app=create_app(config, client=dev_env.client))])
    async with (
        served(outer) as base,
        httpx.AsyncClient(base_url=base, headers={"Origin": base}) as http,
    ):
        asked = await http.get("/approvals/runs")
        assert asked.status_code == 303
        assert asked.headers["location"] == "/approvals/login?next=%2Fapprovals%2Fruns"
        login = await http.get(asked.headers["location"])
        assert 'action="/approvals/login"' in login.text
        assert (await http.get("/approvals/static/app.js")).status_code == 200
        signed = await http.post(
            "/approvals/login",
            data={"name": LEAD.name, "password": PASSWORD, "next": "/approvals/runs"},
        )
        assert signed.headers["location"] == "/approvals/runs"
        assert "path=/approvals" in signed.headers["set-cookie"].lower()
        runs = await http.get("/approvals/runs")
        assert runs.status_code == 200 and 'data-base="/approvals"' in runs.text
        assert (await http.get("/runs")).status_code == 404  # nothing outside its path


async def test_a_program_calls_with_an_id_token_of_the_provider(
    dev_env: WorkflowEnvironment, provider: Provider
) -> None:
    app = create_app(oidc_config(provider), client=dev_env.client)
    good = provider.id_token("any")
    provider.tamper = "key"
    forged = provider.id_token("any")
    async with served(app) as base, httpx.AsyncClient(base_url=base, timeout=30) as http:
        for token, status in [(None, 401), (forged, 401), (good, 404)]:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            read = await http.get("/runs/no-such-run/pending", headers=headers)
            assert read.status_code == status, (token is good, read.text)
        # A post with the token is the caller's own (no cookie, no CSRF): here a body
        # that is no RunAgentInput; without a token, nobody.
        ran = await http.post(
            "/agui/order-desk", content=b"{}", headers={"Authorization": f"Bearer {good}"}
        )
        assert ran.status_code == 400 and "RunAgentInput" in ran.text
        assert (await http.post("/agui/order-desk", content=b"{}")).status_code == 403

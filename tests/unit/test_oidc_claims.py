"""The ID-token claim checks and the README's OpenID Connect settings, without a database."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from joserfc.jwk import ECKey, KeySet

from speakup import oidc
from speakup.settings import Settings, SettingsError

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)
CONFIG = oidc.OidcConfig(
    issuer="https://id.example.org", client_id="speakup", client_secret="s",
    role_claim="groups", role_map=(("a", "admin"),), required_amr=frozenset(),
    required_acr=frozenset(),
)
README = Path(__file__).resolve().parents[2] / "README.md"


def claims(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {"iss": CONFIG.issuer, "aud": "speakup", "sub": "1",
                               "iat": int(NOW.timestamp()), "exp": int(NOW.timestamp()) + 300,
                               "nonce": "n"}
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def reason(**changes: object) -> str | None:
    try:
        oidc.check_claims(claims(**changes), CONFIG, "n", NOW)
    except oidc.OidcError as exc:
        return exc.reason
    return None


def test_one_minute_of_clock_difference_is_allowed():
    t = int(NOW.timestamp())
    assert reason(exp=t - 59) is None
    assert reason(exp=t - 61) == "expired"
    assert reason(iat=t + 59) is None
    assert reason(iat=t + 61) == "bad_token"
    assert reason(exp=None) == "expired"


def test_audience_and_authorised_party():
    assert reason(aud=["speakup"]) is None
    assert reason(aud=["other"]) == "wrong_audience"
    assert reason(aud=["speakup", "other"]) == "wrong_audience"  # no azp
    assert reason(aud=["speakup", "other"], azp="speakup") is None
    assert reason(aud=["speakup", "other"], azp="other") == "wrong_audience"


def test_issuer_nonce_subject():
    assert reason(iss="https://id.example.org/") == "wrong_issuer"
    assert reason(nonce="other") == "nonce_mismatch"
    assert reason(nonce=None) == "nonce_mismatch"
    assert reason(sub=None) == "bad_token"


def test_required_amr_or_acr():
    amr = oidc.OidcConfig(**{**CONFIG.__dict__, "required_amr": frozenset({"mfa", "hwk"})})
    with pytest.raises(oidc.OidcError, match="no_mfa"):
        oidc.check_claims(claims(amr=["pwd"]), amr, "n", NOW)
    with pytest.raises(oidc.OidcError, match="no_mfa"):
        oidc.check_claims(claims(amr="mfa"), amr, "n", NOW)  # amr is a list, never a string
    oidc.check_claims(claims(amr=["pwd", "hwk"]), amr, "n", NOW)
    acr = oidc.OidcConfig(**{**CONFIG.__dict__, "required_acr": frozenset({"phr"})})
    with pytest.raises(oidc.OidcError, match="no_mfa"):
        oidc.check_claims(claims(acr="low"), acr, "n", NOW)
    oidc.check_claims(claims(acr="phr"), acr, "n", NOW)


def test_keys_are_fetched_again_after_an_hour(monkeypatch):
    client = oidc.ProviderClient(CONFIG)
    fetched: list[str] = []

    def fake_get(url: str) -> dict[str, object]:
        fetched.append(url)
        if url.endswith("openid-configuration"):
            return {"issuer": CONFIG.issuer, "authorization_endpoint": CONFIG.issuer + "/a",
                    "token_endpoint": CONFIG.issuer + "/t", "jwks_uri": CONFIG.issuer + "/k"}
        return KeySet([ECKey.generate_key("P-256")]).as_dict(private=False)

    clock = [1000.0]
    monkeypatch.setattr(oidc, "_get_json", fake_get)
    monkeypatch.setattr(oidc.time, "monotonic", lambda: clock[0])
    client.key_set()
    client.key_set()
    assert len(fetched) == 2  # discovery and keys, once each
    clock[0] += oidc.CACHE_SECONDS - 1
    client.key_set()
    assert len(fetched) == 2
    clock[0] += 2
    client.key_set()
    assert fetched[2:] == [CONFIG.issuer + "/.well-known/openid-configuration",
                           CONFIG.issuer + "/k"]


def test_discovery_naming_another_issuer_is_refused(monkeypatch):
    monkeypatch.setattr(oidc, "_get_json", lambda url: {"issuer": "https://evil.example"})
    with pytest.raises(oidc.OidcError, match="wrong_issuer"):
        oidc.ProviderClient(CONFIG).metadata()


def test_readme_names_exactly_the_settings_that_are_read(tmp_path):
    text = README.read_text()
    section = text.split("## Signing in through your identity provider", 1)[1].split("\n## ")[0]
    named = set(re.findall(r"SPEAKUP_OIDC_[A-Z_]+", section))
    source = (Path(oidc.__file__).parent / "settings.py").read_text()
    read = set(re.findall(r'"(SPEAKUP_OIDC_[A-Z_]+)"', source))
    assert named == read
    secret = tmp_path / "s"
    secret.write_text("x")
    env = {"SPEAKUP_OIDC_ISSUER": "https://id.example.org", "SPEAKUP_OIDC_CLIENT_ID": "c",
           "SPEAKUP_OIDC_CLIENT_SECRET_FILE": str(secret), "SPEAKUP_OIDC_ROLE_CLAIM": "roles",
           "SPEAKUP_OIDC_ROLE_MAP": "x=reviewer", "SPEAKUP_OIDC_REQUIRED_AMR": "mfa",
           "SPEAKUP_OIDC_REQUIRED_ACR": "phr"}
    config = oidc.config_from(Settings.from_env(env))
    assert config == oidc.OidcConfig(
        issuer="https://id.example.org", client_id="c", client_secret="x",
        role_claim="roles", role_map=(("x", "reviewer"),), required_amr=frozenset({"mfa"}),
        required_acr=frozenset({"phr"}))
    assert "/login/idp/callback" in section


def test_a_half_done_setting_stops_the_app_from_starting(tmp_path):
    from speakup.app import create_app
    settings = Settings(instance_path=tmp_path, secret_key="x" * 40,
                        database_url=f"sqlite:///{tmp_path / 'db.sqlite3'}",
                        oidc_issuer="https://id.example.org")
    with pytest.raises(SettingsError, match="SPEAKUP_OIDC_CLIENT_ID"):
        create_app(settings)

"""`tether web`'s configuration from its options and the environment."""

from __future__ import annotations

import argparse
import dataclasses

from tether._agents import AgentRegistry, load_registry, load_target
from tether._settings import ConfigurationError
from tether._signing import Signer
from tether._web.access import load_users
from tether._web.config import Oidc, WebConfig, read_secret_file


def web_config(args: argparse.Namespace) -> WebConfig:
    users = load_users(args.users) if args.users else {}
    oidc = None
    if args.oidc_issuer or args.oidc_client_id:
        if not (args.oidc_issuer and args.oidc_client_id):
            raise ConfigurationError("OIDC needs both --oidc-issuer and --oidc-client-id")
        secret = (
            read_secret_file(args.oidc_secret_file, "OIDC client secret")
            if args.oidc_secret_file
            else None
        )
        oidc = Oidc(issuer=args.oidc_issuer, client_id=args.oidc_client_id, client_secret=secret)
    agents = load_registry(args.agents) if args.agents else AgentRegistry([])
    config = WebConfig(
        users=users,
        # The service key: TETHER_SIGNING_KEY names its file, as for `tether approve`.
        signer=Signer.from_env(),
        oidc=oidc,
        public_url=args.public_url,
        agents=agents,
    )
    if args.rule:
        rule = load_target(args.rule, option="--rule")
        if not callable(rule):
            raise ConfigurationError(
                f"--rule {args.rule}: not a function (WebUser, RunInfo) -> bool"
            )
        config = dataclasses.replace(config, rule=rule)
    if args.session_secret_file:
        signing = read_secret_file(args.session_secret_file, "session secret").encode()
        config = dataclasses.replace(config, session_secret=signing)
    return config

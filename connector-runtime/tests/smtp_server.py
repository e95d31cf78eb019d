"""A real SMTP server on 127.0.0.1 for the `.email` contract tests (aiosmtpd 1.4.6).

Started by connector-runtime/tests/contracts/email.rs with the Python of `cargo xtask test`'s
virtual environment. Prints `READY <port>` once it listens, then serves until killed.

Modes: `starttls` (plain connection, STARTTLS offered, AUTH only after it), `implicit` (TLS from
the first byte, port 465 style) and `plain` (no STARTTLS offered: the client must refuse).
AUTH PLAIN and LOGIN accept --user/--password; XOAUTH2 accepts --user with --token. Every
accepted message is appended to --out as one JSON line: mail_from, rcpt_tos, data.
--fail-once CODE answers the first DATA with that 4xx code (a transient failure the client
retries); --auth-fail answers every AUTH with 535.
"""

import argparse
import base64
import json
import socket
import ssl
import sys
import threading
import warnings

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


class Handler:
    def __init__(self, opts):
        self.opts = opts
        self.failed_once = False

    async def handle_DATA(self, server, session, envelope):
        if self.opts.fail_once and not self.failed_once:
            self.failed_once = True
            return f"{self.opts.fail_once} 4.3.0 Try again later"
        record = {
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
        }
        with open(self.opts.out, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
        return "250 2.0.0 OK queued as 1234"

    async def auth_XOAUTH2(self, server, args):
        if self.opts.auth_fail or len(args) != 2:
            return AuthResult(success=False, handled=False)
        try:
            blob = base64.b64decode(args[1]).decode("utf-8")
        except Exception:
            return AuthResult(success=False, handled=False)
        expected = f"user={self.opts.user}\x01auth=Bearer {self.opts.token}\x01\x01"
        ok = self.opts.token is not None and blob == expected
        return AuthResult(success=ok, handled=False, auth_data=self.opts.user)


def authenticator(opts):
    def check(server, session, envelope, mechanism, auth_data):
        ok = (
            not opts.auth_fail
            and isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == opts.user
            and opts.password is not None
            and auth_data.password.decode() == opts.password
        )
        return AuthResult(success=ok, handled=False)

    return check


def free_port():
    # aiosmtpd's Controller connects to its own port to check it is up, so it cannot be
    # given port 0: take a free one from the OS (the test reads it from READY).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--mode", choices=["starttls", "implicit", "plain"], required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--user", default="mailer")
    p.add_argument("--password")
    p.add_argument("--token")
    p.add_argument("--fail-once", type=int, choices=[421, 450, 451, 452])
    p.add_argument("--auth-fail", action="store_true")
    opts = p.parse_args()
    # "AUTH without TLS" warnings: the plain mode exists to be refused by the client.
    warnings.simplefilter("ignore")

    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(opts.cert, opts.key)
    params = dict(
        hostname="127.0.0.1",
        port=free_port(),
        authenticator=authenticator(opts),
        auth_required=True,
    )
    if opts.mode == "starttls":
        params.update(tls_context=ctx, require_starttls=True, auth_require_tls=True)
    elif opts.mode == "implicit":
        params.update(ssl_context=ctx, auth_require_tls=False)
    else:
        params.update(auth_require_tls=False)
    controller = Controller(Handler(opts), **params)
    controller.start()
    print(f"READY {controller.port}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    sys.exit(main())

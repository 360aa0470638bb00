"""An S3-compatible server for the S3 delivery tests: moto's server (moto[server], the
real S3 API over HTTP: buckets, private ACLs, ranges, conditional GETs, response header
overrides) with the one check of S3 that moto leaves out in front of it: a presigned URL
(SigV4 query authentication) must carry a valid signature and must not have run out
(X-Amz-Date + X-Amz-Expires), else 403 as S3 answers. Requests signed in the Authorization
header (boto3's uploads) and unsigned ones go to moto as they are; moto refuses an unsigned
GET of a private object.

    python -m tests.s3server --port 9000   # credentials: ACCESS_KEY / SECRET_KEY below
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import sys
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

ACCESS_KEY = "studio-test-access"
SECRET_KEY = "studio-test-secret-key"
REGION = "us-east-1"
SIGNATURE = "X-Amz-Signature"


def refusal(code: str, message: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>{message}</Message></Error>"
    ).encode()


class PresignedCheck:
    """WSGI middleware: presigned requests are checked before moto sees them."""

    def __init__(self, app, secrets: dict[str, str], now=lambda: datetime.now(UTC)):
        self.app, self.secrets, self.now = app, secrets, now

    def __call__(self, environ, start_response):
        raw = environ.get("REQUEST_URI") or environ.get("RAW_URI") or ""
        path, _, query = raw.partition("?")
        pairs = [part.partition("=")[::2] for part in query.split("&") if part]
        params = {unquote(k): unquote(v) for k, v in pairs}
        if SIGNATURE not in params:
            return self.app(environ, start_response)
        problem = self.problem(environ, path, params)
        if problem:
            start_response("403 Forbidden", [("Content-Type", "application/xml")])
            return [refusal(*problem)]
        return self.app(environ, start_response)

    def problem(self, environ, path: str, params: dict[str, str]) -> tuple[str, str] | None:
        try:
            key, date, region, service, _ = params["X-Amz-Credential"].split("/")
            signed_at = datetime.strptime(params["X-Amz-Date"], "%Y%m%dT%H%M%SZ")
            lifetime = int(params["X-Amz-Expires"])
        except (KeyError, ValueError):
            return ("AuthorizationQueryParametersError", "Malformed presigned URL.")
        if key not in self.secrets:
            return ("InvalidAccessKeyId", "The access key does not exist.")
        if self.now() > signed_at.replace(tzinfo=UTC) + timedelta(seconds=lifetime):
            return ("AccessDenied", "Request has expired")
        wanted = signature(self.secrets[key], environ, path, params, (date, region, service))
        if not hmac.compare_digest(wanted, params[SIGNATURE]):
            return ("SignatureDoesNotMatch", "The signature does not match.")
        return None


def signature(secret: str, environ, path: str, params: dict[str, str], scope) -> str:
    """SigV4 for query authentication (AWS: "Authenticating Requests: Using Query
    Parameters"), recomputed from the request as received."""
    encode = lambda text: quote(text, safe="-_.~")  # noqa: E731
    query = "&".join(
        f"{encode(k)}={encode(v)}" for k, v in sorted(params.items()) if k != SIGNATURE
    )
    names = params.get("X-Amz-SignedHeaders", "host").split(";")
    headers = "".join(f"{name}:{header(environ, name)}\n" for name in names)
    canonical = "\n".join(
        [environ["REQUEST_METHOD"], path, query, headers, ";".join(names), "UNSIGNED-PAYLOAD"]
    )
    date, region, service = scope
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256",
            params["X-Amz-Date"],
            f"{date}/{region}/{service}/aws4_request",
            hashlib.sha256(canonical.encode()).hexdigest(),
        ]
    )
    key = f"AWS4{secret}".encode()
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


def header(environ, name: str) -> str:
    if name == "host":
        return environ.get("HTTP_HOST", "").strip()
    return environ.get("HTTP_" + name.upper().replace("-", "_"), "").strip()


def main(argv: list[str] | None = None) -> int:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    app = PresignedCheck(DomainDispatcherApplication(create_backend_app), {ACCESS_KEY: SECRET_KEY})
    server = make_server(args.host, args.port, app, True, request_handler=MotoRequestHandler)
    print(f"S3 on http://{args.host}:{args.port}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    sys.exit(main())

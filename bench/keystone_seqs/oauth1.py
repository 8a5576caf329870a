"""OAuth1 (OS-OAUTH1): consumers, a request token signed with the consumer's key, its
authorization, the access token, a token from it (method oauth1), the user's access tokens, and
the refusals on the way. The OAuth-signed requests go through ``signed``, which records them as
steps whose keys are those of their form-encoded answers."""

import dataclasses
from urllib.parse import parse_qsl

from oauthlib.oauth1 import Client


def signed(api, label: str, path: str, client: Client, headers: dict | None = None, body: dict | None = None):
    """POST ``path`` signed by ``client``, recorded as a step under ``label`` (at least one
    step must be recorded before). Returns the form's values, or the JSON body, or None."""
    url = str(api.http.base_url).rstrip("/") + path
    _, hdrs, _ = client.sign(url, http_method="POST", headers=dict(headers or {}))
    resp = api.http.post(path, headers=hdrs, json=body)
    ctype = resp.headers.get("content-type", "")
    data = dict(parse_qsl(resp.text)) if ctype.startswith("application/x-www-form-urlencoded") else (
        resp.json() if resp.content and "json" in ctype else None)
    api.steps.append(dataclasses.replace(api.steps[-1], label=label, method="POST", path=path,
                                         status=resp.status_code, keys=set(data) if isinstance(data, dict) else set()))
    return data


def sequence(api) -> None:
    call = api.call
    proj = call("create project", "POST", "/v3/projects", {"project": {"name": api.name("oproj")}})["project"]
    role = call("find member role", "GET", "/v3/roles?name=member")["roles"][0]
    call("grant admin member", "PUT", f"/v3/projects/{proj['id']}/users/{api.admin_user_id}/roles/{role['id']}")
    consumer = call("create consumer", "POST", "/v3/OS-OAUTH1/consumers",
                    {"consumer": {"description": "robot"}})["consumer"]
    cid, secret = consumer["id"], consumer["secret"]
    call("show consumer", "GET", f"/v3/OS-OAUTH1/consumers/{cid}")
    call("list consumers", "GET", "/v3/OS-OAUTH1/consumers")
    call("update consumer", "PATCH", f"/v3/OS-OAUTH1/consumers/{cid}", {"consumer": {"description": "r2"}})
    call("update consumer secret", "PATCH", f"/v3/OS-OAUTH1/consumers/{cid}", {"consumer": {"secret": "x"}})
    call("show unknown consumer", "GET", "/v3/OS-OAUTH1/consumers/0123456789abcdef0123456789abcdef")
    client = Client(cid, client_secret=secret, callback_uri="oob")
    signed(api, "request token without project", "/v3/OS-OAUTH1/request_token", client)
    signed(api, "request token, wrong secret", "/v3/OS-OAUTH1/request_token",
           Client(cid, client_secret="f" * 32, callback_uri="oob"), {"Requested-Project-Id": proj["id"]})
    rt = signed(api, "request token", "/v3/OS-OAUTH1/request_token", client, {"Requested-Project-Id": proj["id"]})
    call("authorize with a role not held", "PUT", f"/v3/OS-OAUTH1/authorize/{rt['oauth_token']}",
         {"roles": [{"name": "admin"}]})
    verifier = call("authorize", "PUT", f"/v3/OS-OAUTH1/authorize/{rt['oauth_token']}",
                    {"roles": [{"id": role["id"]}]})["token"]["oauth_verifier"]
    signed(api, "access token, wrong verifier", "/v3/OS-OAUTH1/access_token",
           Client(cid, client_secret=secret, resource_owner_key=rt["oauth_token"],
                  resource_owner_secret=rt["oauth_token_secret"], verifier="abcdefgh"))
    at = signed(api, "access token", "/v3/OS-OAUTH1/access_token",
                Client(cid, client_secret=secret, resource_owner_key=rt["oauth_token"],
                       resource_owner_secret=rt["oauth_token_secret"], verifier=verifier))
    owner = Client(cid, client_secret=secret, resource_owner_key=at["oauth_token"],
                   resource_owner_secret=at["oauth_token_secret"])
    signed(api, "token with oauth1", "/v3/auth/tokens", owner,
           body={"auth": {"identity": {"methods": ["oauth1"], "oauth1": {}}}})
    base = f"/v3/users/{api.admin_user_id}/OS-OAUTH1/access_tokens"
    call("list access tokens", "GET", base)
    call("show access token", "GET", f"{base}/{at['oauth_token']}")
    call("access token roles", "GET", f"{base}/{at['oauth_token']}/roles")
    call("access token role", "GET", f"{base}/{at['oauth_token']}/roles/{role['id']}")
    call("delete access token", "DELETE", f"{base}/{at['oauth_token']}")
    call("show deleted access token", "GET", f"{base}/{at['oauth_token']}")
    call("delete consumer", "DELETE", f"/v3/OS-OAUTH1/consumers/{cid}")
    call("delete consumer again", "DELETE", f"/v3/OS-OAUTH1/consumers/{cid}")
    call("delete project", "DELETE", f"/v3/projects/{proj['id']}")

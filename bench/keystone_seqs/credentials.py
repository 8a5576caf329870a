"""Credentials, EC2 credentials and domain configuration: their successes and their refusals
(400, 403, 404), as the admin and as a member."""

import json


def _member(api, call):
    """A user with member on a project of its own: (user id, project id, token)."""
    proj = call("create project", "POST", "/v3/projects", {"project": {"name": api.name("cproj")}})["project"]
    user = call("create user", "POST", "/v3/users",
                {"user": {"name": api.name("cuser"), "password": "pw-123456"}})["user"]
    role = call("find member role", "GET", "/v3/roles?name=member")["roles"][0]
    call("grant member", "PUT", f"/v3/projects/{proj['id']}/users/{user['id']}/roles/{role['id']}")
    return user["id"], proj["id"], api.token(user_id=user["id"], password="pw-123456", project_id=proj["id"])


def credentials(api, call, user_id, project_id, token):
    cred = call("create credential", "POST", "/v3/credentials",
                {"credential": {"user_id": api.admin_user_id, "type": "cert", "blob": "b; $(id)"}})["credential"]
    call("show credential", "GET", f"/v3/credentials/{cred['id']}")
    call("list credentials by type and user", "GET", f"/v3/credentials?type=cert&user_id={api.admin_user_id}")
    call("update credential", "PATCH", f"/v3/credentials/{cred['id']}", {"credential": {"blob": "rotated"}})
    call("update credential with nothing", "PATCH", f"/v3/credentials/{cred['id']}", {"credential": {}})
    call("create credential without type", "POST", "/v3/credentials",
         {"credential": {"user_id": api.admin_user_id, "blob": "x"}})
    call("create credential with a number blob", "POST", "/v3/credentials",
         {"credential": {"user_id": api.admin_user_id, "type": "cert", "blob": 5}})
    call("create ec2 credential without project", "POST", "/v3/credentials",
         {"credential": {"user_id": api.admin_user_id, "type": "ec2", "blob": json.dumps({"access": "a"})}})
    call("create ec2 credential with a bad blob", "POST", "/v3/credentials",
         {"credential": {"user_id": user_id, "type": "ec2", "blob": "x", "project_id": project_id}})
    ec2 = call("create ec2 credential", "POST", "/v3/credentials", {"credential": {
        "user_id": user_id, "type": "ec2", "project_id": project_id,
        "blob": json.dumps({"access": api.name("acc"), "secret": "s"})}})["credential"]
    call("show unknown credential", "GET", "/v3/credentials/0123456789abcdef0123456789abcdef")
    mine = call("member creates its credential", "POST", "/v3/credentials",
                {"credential": {"user_id": user_id, "type": "totp", "blob": "m"}}, token=token)["credential"]
    call("member creates another's credential", "POST", "/v3/credentials",
         {"credential": {"user_id": api.admin_user_id, "type": "totp", "blob": "m"}}, token=token)
    call("member lists credentials", "GET", "/v3/credentials?type=totp", token=token)
    call("member shows another's credential", "GET", f"/v3/credentials/{cred['id']}", token=token)
    call("member deletes its credential", "DELETE", f"/v3/credentials/{mine['id']}", token=token)
    call("delete ec2 credential", "DELETE", f"/v3/credentials/{ec2['id']}")
    call("delete credential", "DELETE", f"/v3/credentials/{cred['id']}")
    call("delete credential again", "DELETE", f"/v3/credentials/{cred['id']}")


def ec2(api, call, user_id, project_id, token):
    base = f"/v3/users/{user_id}/credentials/OS-EC2"
    cred = call("create ec2", "POST", base, {"tenant_id": project_id})["credential"]
    call("list ec2", "GET", base)
    call("show ec2", "GET", f"{base}/{cred['access']}")
    call("member lists its ec2", "GET", base, token=token)
    call("member lists another's ec2", "GET", f"/v3/users/{api.admin_user_id}/credentials/OS-EC2", token=token)
    call("list ec2 as credentials", "GET", f"/v3/credentials?type=ec2&user_id={user_id}")
    call("show unknown ec2", "GET", f"{base}/0123456789abcdef0123456789abcdef")
    call("create ec2 for an unknown project", "POST", base, {"tenant_id": "0123456789abcdef0123456789abcdef"})
    call("create ec2 without project", "POST", base, {})
    call("create ec2 for an unknown user", "POST", "/v3/users/0123456789abcdef0123456789abcdef/credentials/OS-EC2",
         {"tenant_id": project_id})
    call("delete ec2", "DELETE", f"{base}/{cred['access']}")
    call("delete ec2 again", "DELETE", f"{base}/{cred['access']}")


def domain_config(api, call, token):
    dom = call("create domain", "POST", "/v3/domains", {"domain": {"name": api.name("cdom")}})["domain"]
    base = f"/v3/domains/{dom['id']}/config"
    call("show config of none", "GET", base)
    body = {"config": {"identity": {"driver": "ldap"}, "ldap": {"url": "ldap://x", "user": "cn=a", "password": "p"}}}
    call("create config", "PUT", base, body)
    call("replace config", "PUT", base, body)
    call("show config", "GET", base)
    call("show config group", "GET", f"{base}/ldap")
    call("show config option", "GET", f"{base}/ldap/url")
    call("show sensitive option", "GET", f"{base}/ldap/password")
    call("show unset option", "GET", f"{base}/ldap/user_tree_dn")
    call("update config", "PATCH", base, {"config": {"ldap": {"suffix": "dc=x"}}})
    call("update config group", "PATCH", f"{base}/ldap", {"config": {"ldap": {"url": "ldap://y"}}})
    call("update config option", "PATCH", f"{base}/ldap/url", {"config": {"url": "ldap://z"}})
    call("update group with another", "PATCH", f"{base}/ldap", {"config": {"identity": {"driver": "sql"}}})
    call("update option with another", "PATCH", f"{base}/ldap/url", {"config": {"user": "b"}})
    call("update option with two", "PATCH", f"{base}/ldap/url", {"config": {"url": "a", "user": "b"}})
    call("create config of an unknown group", "PUT", base, {"config": {"foo": {"a": "b"}}})
    call("create config of an unknown option", "PUT", base, {"config": {"ldap": {"bogus": "b"}}})
    call("create empty config", "PUT", base, {"config": {}})
    call("create config with a group not an object", "PUT", base, {"config": {"ldap": "x"}})
    call("create config for an unknown domain", "PUT", "/v3/domains/0123456789abcdef0123456789abcdef/config", body)
    call("show unknown group", "GET", f"{base}/foo")
    call("member shows config", "GET", base, token=token)
    call("member creates config", "PUT", base, body, token=token)
    call("delete config option", "DELETE", f"{base}/ldap/user")
    call("delete config option again", "DELETE", f"{base}/ldap/user")
    call("delete config group", "DELETE", f"{base}/identity")
    call("show deleted group", "GET", f"{base}/identity")
    call("delete config", "DELETE", base)
    call("show deleted config", "GET", base)
    call("show default config", "GET", "/v3/domains/config/default")
    call("show default group", "GET", "/v3/domains/config/ldap/default")
    call("show default option", "GET", "/v3/domains/config/ldap/url/default")
    call("show default sensitive option", "GET", "/v3/domains/config/ldap/password/default")
    call("show default unknown option", "GET", "/v3/domains/config/ldap/foo/default")
    call("show password rules", "GET", "/v3/domains/default/config/security_compliance")
    call("member shows password rule", "GET", "/v3/domains/default/config/security_compliance/password_regex",
         token=token)
    call("show another domain's password rules", "GET", f"{base}/security_compliance")
    call("disable domain", "PATCH", f"/v3/domains/{dom['id']}", {"domain": {"enabled": False}})
    call("delete domain", "DELETE", f"/v3/domains/{dom['id']}")


def sequence(api) -> None:
    call = api.call
    user_id, project_id, token = _member(api, call)
    credentials(api, call, user_id, project_id, token)
    ec2(api, call, user_id, project_id, token)
    domain_config(api, call, token)
    call("delete user", "DELETE", f"/v3/users/{user_id}")
    call("delete project", "DELETE", f"/v3/projects/{project_id}")

"""Steps that step around two artefacts of the Keystone anchor, so that a sequence compares what
Keystone means rather than what its caches happen to hold.

- Keystone empties its cache of validated tokens when a project or domain grant, a group
  membership or a role goes, but not when a system grant or an implication rule goes; a cached
  validation skips the check that the token has a role left on its scope, so for the cache's
  lifetime (10 minutes on the anchor) such a token validates, showing no role at all. caas (and
  Keystone once its cache is emptied or expired) answers 404.
- Keystone's revocation events count in whole seconds: a token issued in the same second as a
  revocation event for its user is revoked too.
"""

import time


def empty_token_cache(api, label: str, project_id: str, user_id: str, role_id: str) -> None:
    """Make Keystone empty its token cache: give ``role_id`` to the user on the project and take
    it away again (nothing changes on either side)."""
    grant = f"/v3/projects/{project_id}/users/{user_id}/roles/{role_id}"
    api.call(f"{label}: grant on a project", "PUT", grant)
    api.call(f"{label}: revoke it (empties Keystone's token cache)", "DELETE", grant)


def next_second() -> None:
    """Wait for the next second after a revocation event for a user, before issuing its tokens."""
    time.sleep(1.1)

"""Identity (Keystone v3): domains, projects, users, roles, assignments, catalog, tokens, policy.

Modules: ``models`` (tables), ``passwords`` (hashing), ``tokens`` (Fernet token format and
keys), ``service`` (domain logic: CRUD, authentication, validation, revocation), ``policy``
(who may do what), ``bootstrap`` (first-start state and the service catalog).
"""

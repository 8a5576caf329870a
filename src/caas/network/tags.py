"""Tags on the resources with Neutron's standard attributes (the ``standard-attr-tag`` and
``tag-creation`` extensions): the rules a tag obeys, and reading, replacing, adding and
removing the tags of one network, subnet, port, router, floating IP or security group.

A resource's tags are a list of distinct strings in its ``tags`` column. Tags are data: they
are stored and returned verbatim and never reach a shell or the kernel."""

from __future__ import annotations

from typing import Any, Callable

from sqlalchemy.orm import Session

from caas.errors import BadRequest, NotFound
from caas.context import AuthContext
from caas.network.common import Base, touch
from caas.network.models import FloatingIP, Network, Port, Router, SecurityGroup, Subnet

MAX_TAG_LEN = 255
MAX_TAGS = 50  # per resource, as Neutron since its fix for bug 2091410
# The collections that carry tags, by their URL name.
TAGGABLE = {"networks": Network, "subnets": Subnet, "ports": Port, "routers": Router, "floatingips": FloatingIP,
            "security-groups": SecurityGroup}


def _clip(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _invalid(reason: str) -> BadRequest:
    return BadRequest(f"Invalid input for operation: {reason}.", kind="InvalidInput")


def check_tag(tag: Any) -> str:
    """``tag`` if it is a valid tag: a string of 1 to 255 characters without a comma (the tag
    filters separate tags with commas, so such a tag could never be asked for); 400 otherwise.
    NUL characters never get this far: the HTTP layer refuses them everywhere."""
    if not isinstance(tag, str):
        raise _invalid(f"'{_clip(tag)}' is not a valid string")
    if not tag:
        raise _invalid("a tag may not be empty")
    if len(tag) > MAX_TAG_LEN:
        raise _invalid(f"'{_clip(tag)}' exceeds maximum length of {MAX_TAG_LEN}")
    if "," in tag:
        raise _invalid(f"'{_clip(tag)}' contains a comma, which separates tags in the tag filters")
    return tag


def _check_count(tags: list[str], collection: str) -> None:
    if len(tags) > MAX_TAGS:
        raise BadRequest(f"Bad {collection} request: The number of tags exceed the per-resource limit of "
                         f"{MAX_TAGS}.", kind="BadRequest")


def normalize(tags: Any, collection: str) -> list[str]:
    """A list of valid tags, duplicates collapsed (first occurrence kept), at most MAX_TAGS of
    them; 400 otherwise."""
    if not isinstance(tags, list):
        raise _invalid(f"'{_clip(tags)}' is not a list")
    out = list(dict.fromkeys(check_tag(t) for t in tags))
    _check_count(out, collection)
    return out


# The collections whose create takes ``tags`` (Neutron 29: ports only, its
# ``TAG_ATTRIBUTE_MAP_PORTS``; the others refuse them, and take tags through the tags API).
TAGS_ON_CREATE = {"ports"}


def tags_of(tags: list | None, collection: str) -> list[str]:
    """The tags a create asks for (none when it gives none); 400 as Neutron's when the
    collection's create takes none."""
    if tags is None:
        return []
    if collection not in TAGS_ON_CREATE:
        raise BadRequest("Attribute 'tags' not allowed in POST", kind="HTTPBadRequest")
    return normalize(tags, collection)


def _tag_not_found(tag: str) -> NotFound:
    return NotFound(f"Tag {tag} could not be found.", kind="TagNotFound")


class TagsMixin(Base):
    def _tagged(self, s: Session, ctx: AuthContext, collection: str, id_: str, write: bool = False):
        """The resource whose tags are read (found as its show finds it: shared and external
        networks and their subnets are readable) or changed (found as its update finds it: the
        owner's project or an admin, the row locked); 404 otherwise, as for the resource."""
        model = TAGGABLE.get(collection)
        if model is None:
            raise NotFound("The resource could not be found.", kind="HTTPNotFound")
        if model is Port:
            return self.get_port(s, ctx, id_, lock=write)
        if not write and model is Network:
            return self.get_network(s, ctx, id_)
        if not write and model is Subnet:
            return self.get_subnet(s, ctx, id_)
        return self.get_owned(s, ctx, model, id_, lock=write)

    def _change_tags(self, ctx: AuthContext, collection: str, id_: str,
                     change: Callable[[list[str]], list[str]]) -> None:
        """Apply ``change`` (old tags -> new tags) in one transaction. A change of the set of
        tags counts as an update of the resource (revision_number, updated_at); a result with
        more tags than before is held to MAX_TAGS."""
        with self.db.write() as s:
            obj = self._tagged(s, ctx, collection, id_, write=True)
            old = list(obj.tags or [])
            new = change(old)
            if len(new) > len(old):
                _check_count(new, collection)
            if set(new) != set(old):
                obj.tags = new  # a new list: the JSON column only sees assignments
                touch(obj)

    def get_tags(self, ctx: AuthContext, collection: str, id_: str) -> list[str]:
        with self.db.read() as s:
            return list(self._tagged(s, ctx, collection, id_).tags or [])

    def check_tag(self, ctx: AuthContext, collection: str, id_: str, tag: str) -> None:
        """Nothing if the resource has ``tag``; 404 TagNotFound otherwise."""
        check_tag(tag)
        if tag not in self.get_tags(ctx, collection, id_):
            raise _tag_not_found(tag)

    def set_tags(self, ctx: AuthContext, collection: str, id_: str, tags: Any) -> list[str]:
        """Replace all the resource's tags with ``tags``; returns them."""
        tags = normalize(tags, collection)
        self._change_tags(ctx, collection, id_, lambda old: tags)
        return tags

    def add_tags(self, ctx: AuthContext, collection: str, id_: str, tags: Any) -> list[str]:
        """Add ``tags`` to the resource's (those it has already stay as they are); returns the
        tags asked for, as Neutron does."""
        tags = normalize(tags, collection)
        self._change_tags(ctx, collection, id_, lambda old: old + [t for t in tags if t not in old])
        return tags

    def remove_tag(self, ctx: AuthContext, collection: str, id_: str, tag: str) -> None:
        """Remove one tag; 404 TagNotFound if the resource does not have it."""
        check_tag(tag)

        def without(old: list[str]) -> list[str]:
            if tag not in old:
                raise _tag_not_found(tag)
            return [t for t in old if t != tag]
        self._change_tags(ctx, collection, id_, without)

    def clear_tags(self, ctx: AuthContext, collection: str, id_: str) -> None:
        self._change_tags(ctx, collection, id_, lambda old: [])

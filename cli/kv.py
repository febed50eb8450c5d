"""Key/value commands: ``ls``, ``get``, ``put``, ``del``."""

from __future__ import annotations

import click

import coordkit
from coordkit import NotEmptyError, NotFoundError

from .context import CliContext, pass_cli
from .output import entry_fields, write_raw

__all__ = ["delete", "get", "ls", "put"]


def _no_such_key(key: str) -> NotFoundError:
    return NotFoundError(f"{key}: no such key")


# --- ls ------------------------------------------------------------------------------
@click.command("ls")
@click.argument("path", default="/")
@click.option("-r", "--recursive", is_flag=True, help="Show everything below PATH as a tree.")
@pass_cli
def ls(cli: CliContext, path: str, recursive: bool) -> None:
    """List the keys below PATH (default: /).

    Without -r, the immediate children: `name/` when there are keys below it, `name = value`
    (a preview) when it is a key, "(ephemeral)" for keys that belong to a session. With -r,
    the whole subtree, read at one consistent revision. A PATH that is a key with nothing
    below it is shown itself, as `ls FILE` would; a PATH with nothing at all fails (exit 1).

    --json prints a list of objects: key, value, encoding (utf-8, or base64 for binary
    values), version, create_revision, mod_revision, ephemeral, has_children. Without -r a
    child that is not itself a key has null value and revisions; -r lists keys only. A key
    that is not UTF-8 (written by another tool) also has key_base64, its exact bytes, and
    shows those bytes as U+FFFD in key; without --json, as \\xff (control characters as \\n).

    A lock, semaphore or election (a path whose children are all contender keys, including
    etcdctl's, Curator's and kazoo's) is listed in queue order: the holder first, marked
    `(holder, token N)`, then each waiter `(waiting #K, token N)` (a semaphore of limit N
    is held by its first N); --json adds queue_position (0 for the holder) and holder.
    """
    # The tree model is ls's alone: get, put and del never import it.
    from .listing import build_tree, child_lines, mark_queues, node_fields, tree_lines, walk

    path = path.rstrip("/") or "/"
    # One read of the whole subtree: consistent, one round trip on etcd, and it tells
    # at once which children have keys below them.
    root = build_tree(path, cli.reader.tree(path))
    names = cli.reader.backend.capabilities.contender_names
    mark_queues(root, names, lambda queue: _queue_order(cli.reader, queue), recursive=recursive)
    if not root.children:
        _show_lone_key(cli, path)
    elif cli.json:
        nodes = [n for n in walk(root) if n.entry is not None] if recursive else root.sorted_children()
        cli.out.document([node_fields(n) for n in nodes])
    else:
        for line in tree_lines(root) if recursive else child_lines(root):
            cli.out.line(line)


def _queue_order(client: coordkit.Client, path: str) -> list[str]:
    contenders, _ = client.backend.queue_list(path)
    return [contender.key.rsplit("/", 1)[-1] for contender in contenders]


def _show_lone_key(cli: CliContext, path: str) -> None:
    from .listing import Node, describe, node_fields

    if path == "/":
        if cli.json:
            cli.out.document([])
        return  # an empty store is not an error
    entry = cli.reader.get(path)
    if entry is None:
        raise NotFoundError(f"{path}: no such key, and no keys below it")
    node = Node(path, path, entry)
    if cli.json:
        cli.out.document([node_fields(node)])
    else:
        cli.out.line(describe(node))


# --- get -----------------------------------------------------------------------------
@click.command("get")
@click.argument("key")
@pass_cli
def get(cli: CliContext, key: str) -> None:
    """Print the value of KEY.

    Text is printed with a newline added if it has none; a value that is not UTF-8 is
    written to stdout byte for byte. --json prints key, value, encoding, version,
    create_revision, mod_revision, lease (the owning session, 0 if persistent).
    A missing KEY fails with exit code 1.
    """
    entry = cli.reader.get(key)
    if entry is None:
        raise _no_such_key(key)
    if cli.json:
        cli.out.document(entry_fields(entry))
        return
    value = entry.value
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        write_raw(value)
        return
    write_raw(value if value.endswith(b"\n") else value + b"\n")


# --- put -----------------------------------------------------------------------------
@click.command("put")
@click.argument("key")
@click.argument("value")
@click.option(
    "--version",
    "expected_version",
    type=click.IntRange(min=1),
    metavar="N",
    help="Only if KEY is at version N (compare-and-set); exit 3 otherwise.",
)
@click.option("--create", is_flag=True, help="Only if KEY does not exist yet; exit 3 otherwise.")
@pass_cli
def put(cli: CliContext, key: str, value: str, expected_version: int | None, create: bool) -> None:
    """Set KEY to VALUE (VALUE "-" reads the value from stdin, byte for byte).

    The key is persistent: an ephemeral key would vanish as soon as this command exits.
    A VALUE that starts with "-" goes after "--": `coordkit put -- /a -1`.
    --json prints the new key, version, create_revision and mod_revision.
    """
    if create and expected_version is not None:
        raise click.UsageError("--create and --version exclude each other: a new key has no version yet")
    # A str goes as is: the library encodes it as argv was decoded (UTF-8, surrogateescape),
    # so bytes that are not UTF-8 are stored as given, as through stdin.
    data: str | bytes = _read_stdin() if value == "-" else value
    entry = cli.client.put(key, data, version=expected_version, create=create)
    cli.warn_if_in_process(f"the value of {entry.key}")
    if cli.json:
        cli.out.document(
            {
                "key": entry.key,
                "version": entry.version,
                "create_revision": entry.create_revision,
                "mod_revision": entry.mod_revision,
            }
        )


def _read_stdin() -> bytes:
    with click.open_file("-", "rb") as stdin:  # binary stdin, left open (see output.write_raw)
        if stdin.isatty():  # otherwise a person would wonder why nothing happens
            click.echo("coordkit: reading the value from stdin; end it with Ctrl-D", err=True)
        data: bytes = stdin.read()
        return data


# --- del -----------------------------------------------------------------------------
@click.command("del")
@click.argument("key")
@click.option("-r", "--recursive", is_flag=True, help="Also delete every key below KEY.")
@click.option(
    "--version",
    "expected_version",
    type=click.IntRange(min=1),
    metavar="N",
    help="Only if KEY is at version N; exit 3 otherwise.",
)
@click.option("-f", "--force", is_flag=True, help="Succeed even if there is nothing to delete.")
@pass_cli
def delete(cli: CliContext, key: str, recursive: bool, expected_version: int | None, force: bool) -> None:
    """Delete KEY (with -r, and every key below it).

    Like rm, a missing KEY fails with exit code 1 unless -f is given. --json prints
    {"key": KEY, "deleted": true|false}.
    """
    if recursive and expected_version is not None:
        raise click.UsageError("--version applies to one key; it cannot be combined with -r")
    try:
        deleted = cli.client.delete(key, version=expected_version, recursive=recursive)
    except NotEmptyError:
        raise NotEmptyError(f"{key} has keys below it; use -r to delete them too") from None
    if not deleted and not force:
        raise _no_such_key(key)
    if cli.json:
        cli.out.document({"key": key, "deleted": deleted})

"""The `hearth` command: serve, ask, keys — plus ingest and status mounted from ingest/cli.py."""

from __future__ import annotations

import difflib
import json
import os
import signal
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import click
from dotenv import dotenv_values

from app.eval_cli import eval_command
from app.migrate_cli import migrate_command
from ingest.cli import data_dir_option, database_url_option, ingest, no_index, status


@click.group(
    context_settings={"help_option_names": ["-h", "--help"]},
    epilog="Quick start: `hearth ingest corpus/`, then `hearth serve`, then open "
    'http://127.0.0.1:8000 or run `hearth ask "How many days of leave do I get?"`.',
)
@click.version_option(package_name="hearth-kb")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Hearth: answers from your organisation's own documents, with sources, on your own CPU."""
    from_file = read_env_file(Path(".env"))
    ctx.default_map = env_file_defaults(cli, from_file)
    for name, meant in misspelt_settings(cli, [*os.environ, *from_file]):
        click.echo(f"warning: {name} is not a Hearth setting and is ignored; did you mean "
                   f"{meant}?", err=True)  # fmt: skip


def misspelt_settings(group: click.Group, names: Iterable[str]) -> list[tuple[str, str]]:
    """(name, the setting it is close to) for each HEARTH_* name no option or setting reads:
    `HEARTH_LLM_MODEL_PATH` was silently ignored and the bundled model started. Names close
    to none (a test's own variables) are left alone."""
    from app.settings import Settings

    known = {"HEARTH_" + field.upper() for field in Settings.model_fields}
    known |= {envvar for _, _, envvar in _option_envvars(group)}
    found = []
    for name in sorted({n for n in names if n.startswith("HEARTH_")} - known):
        close = difflib.get_close_matches(name, known, n=1, cutoff=0.88)
        if close:
            found.append((name, close[0]))
    return found


def _option_envvars(
    group: click.Group, within: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], str, str]]:
    """(command path, option name, variable) for every option of every command that a
    HEARTH_* variable sets."""
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _option_envvars(command, (*within, name))
            continue
        for param in command.params:
            names = [param.envvar] if isinstance(param.envvar, str) else param.envvar or ()
            for envvar in names:
                if param.name is not None:
                    yield (*within, name), param.name, envvar


def read_env_file(path: Path) -> dict[str, str]:
    """The HEARTH_* lines of a `.env` file (none without one); exits 2 naming a file that is
    not UTF-8, where dotenv's own error is a traceback naming no file."""
    try:
        read = dotenv_values(path) if path.is_file() else {}
    except UnicodeDecodeError:
        click.echo(f"error: {path} is not UTF-8 text (a UTF-16 file from Notepad?); "
                   "save it as UTF-8", err=True)  # fmt: skip
        sys.exit(2)
    return {
        name: value
        for name, value in read.items()
        if name.startswith("HEARTH_") and value is not None
    }


def env_file_defaults(group: click.Group, values: dict[str, str]) -> dict[str, Any]:
    """The HEARTH_* lines of `.env` as defaults of the options they name, for every command.

    The service reads `.env` for its settings; without this the commands' options did not, and
    `HEARTH_GROUPS=hr` in `.env` stored a run's documents as public. An exported variable and
    an option given on the command line still win (click: command line, environment, then
    these defaults)."""
    defaults: dict[str, Any] = {}
    for path, option, envvar in _option_envvars(group):
        if envvar in values:
            target = defaults
            for name in path:  # click's default_map nests like the commands
                target = target.setdefault(name, {})
            target[option] = values[envvar]
    return defaults


# The names a loopback-bound `hearth serve` answers to (HEARTH_ALLOWED_HOSTS to add more).
LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


@cli.command()
@click.option(
    "--host",
    envvar="HEARTH_HOST",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind. [env: HEARTH_HOST]",
)
@click.option(
    "--port",
    envvar="HEARTH_PORT",
    default=8000,
    show_default=True,
    type=click.IntRange(1, 65535),  # checked before the models load, as Settings.port is
    help="Port to listen on. [env: HEARTH_PORT]",
)
@data_dir_option
@database_url_option
def serve(host: str, port: int, data_dir: Path, database_url: str | None) -> None:
    """Serve the chat page, the REST API and the OpenAI-compatible API.

    Every other setting comes from HEARTH_* environment variables (see the README).

    \b
    Examples:
      hearth serve
      HEARTH_REQUIRE_AUTH=true hearth serve --host 0.0.0.0 --port 8080
    """  # fmt: skip
    import uvicorn

    from app.main import close_services, create_app, load_services
    from app.settings import Settings
    from index.errors import HearthError
    from index.open_store import store_exists, store_location
    from index.store import exposure_warning, readable_by_others

    if not store_exists(data_dir, database_url):
        click.echo(f"error: {no_index(data_dir)}", err=True)
        sys.exit(2)
    settings = Settings(data_dir=data_dir, database_url=database_url)
    if not settings.allowed_hosts and host in LOOPBACK_HOSTS:  # reachable from this machine
        settings.allowed_hosts = ",".join(sorted(LOOPBACK_HOSTS))  # only: never by another name
    # Loaded here, not in uvicorn's lifespan: a bad model or store is one line, not a traceback.
    # Said aloud: uvicorn's logging is not set up yet, and a first start builds the embedder.
    click.echo("Loading the store and the models (a first start also prepares the embedder "
               "once, ~10 s)…", err=True)  # fmt: skip
    try:
        services = load_services(settings)
    except HearthError as exc:
        click.echo(f"error: {exc.message}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:  # uvicorn's signal handling does not cover this any more
        sys.exit(130)
    if services.store.is_empty():  # an interrupted first ingest, say
        where = store_location(data_dir, database_url)
        empty = f"the index in {where} holds no documents yet: every answer will be"
        click.echo(f"warning: {empty} \"I don't know\" until `hearth ingest PATH` adds some",
                   err=True)  # fmt: skip
    exposed = [] if database_url else readable_by_others(data_dir)
    if exposed:  # a backup restored with the umask's 0644, say
        click.echo(f"warning: {exposure_warning(data_dir, exposed)}", err=True)
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again: with its default
    # action the process died before the services below were closed (docker stop, systemd)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(128 + signal.SIGTERM))
    try:
        app = create_app(settings, services=services)
        # proxy_headers off: uvicorn would otherwise replace a local proxy's address with its
        # X-Forwarded-For client, and HEARTH_TRUSTED_PROXIES would never see the proxy
        uvicorn.run(app, host=host, port=port, log_level="info", proxy_headers=False)
    finally:
        close_services(services)


def _stream_answer(response: Any, as_json: bool, live: bool) -> int:
    """Print tokens as they arrive (`live`), then the checked answer and its sources; returns
    the exit code. Not live (piped, or --json), only the checked answer is printed, once."""
    event = ""
    for line in response.iter_lines():
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data = json.loads(line[6:])
            if event == "token" and live and not as_json:
                click.echo(data["text"], nl=False)
            elif event == "error":
                click.echo(f"\nerror: {data['message']}", err=True)
                return 1
            elif event == "done":
                if as_json:
                    click.echo(json.dumps(data, indent=2))
                    return 0
                _print_checked(data, live)
                if data.get("truncated"):
                    click.echo("(The answer reached its length limit and may be incomplete.)\n")
                label = "Closest matches" if data["abstained"] else "Sources"
                if data["sources"]:  # an empty index has none: no heading over nothing
                    click.echo(click.style(f"{label}:", bold=True))
                for source in data["sources"]:
                    where = " > ".join(filter(None, [source["title"], source["heading"]]))
                    click.echo(
                        f"  [{source['n']}] {where}  {source['url'] or source['document_id']}"
                    )
                if data.get("conversation_id"):  # on stderr: a pipe gets the answer alone
                    click.echo(f"\nFollow up with --conversation {data['conversation_id']}",
                               err=True)  # fmt: skip
                return 0
    return 1


def _print_checked(data: dict[str, Any], live: bool) -> None:
    """The checked answer: after a live draft only where it differs (a quote instead, or
    citation markers added); otherwise on its own."""
    if not live:
        click.echo(data["answer"] + "\n")
        return
    click.echo("\n")
    if data.get("quoted"):  # the streamed draft gave way to a quote (its note says why)
        click.echo(click.style("Instead, from the sources:", bold=True))
        click.echo(data["answer"] + "\n")
    elif data["citations"] or data["uncited"]:
        click.echo(click.style("Answer with citations:", bold=True))
        click.echo(data["answer"] + "\n")


def _refusal(response: Any, url: str, key: str | None) -> str:
    """Why Hearth refused, with what to do where the server's message cannot say it."""
    try:
        message = str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        message = f"HTTP {response.status_code}"
    if response.status_code == 404 and "conversation" not in message:
        return (
            f"no Hearth query endpoint at {url}/api/query ({message}): give --url the "
            "address `hearth serve` prints, such as http://127.0.0.1:8000"
        )
    if response.status_code == 401:
        fix = "check the key given" if key else "give one with --key or HEARTH_API_KEY"
        return f"{message}; {fix} (`hearth keys create` makes one)"
    return message


def _query_endpoint(url: str) -> Any:
    """`url`'s /api/query, or exit 2 naming the bad --url (httpx's own errors are tracebacks,
    or "cannot reach" for a URL that was never one)."""
    import httpx

    problem = "it must be an http(s):// URL, such as http://127.0.0.1:8000"
    try:
        endpoint = httpx.URL(f"{url.rstrip('/')}/api/query")
        if endpoint.scheme in ("http", "https") and endpoint.host:
            problem = ""
    except httpx.InvalidURL as exc:
        problem = str(exc)
    if problem:
        click.echo(f"error: invalid --url {url!r}: {problem}", err=True)
        sys.exit(2)
    return endpoint


@cli.command()
@click.argument("question")
@click.option(
    "--url",
    envvar="HEARTH_URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="Where `hearth serve` runs. [env: HEARTH_URL]",
)
@click.option(
    "--key",
    envvar="HEARTH_API_KEY",
    default=None,
    help="API key (from `hearth keys create`). [env: HEARTH_API_KEY]",
)
@click.option("--conversation", default=None, help="Continue this conversation id.")
@click.option("--json", "as_json", is_flag=True, help="Print the whole answer as JSON.")
@click.option(
    "--stream/--no-stream",
    default=None,
    help="Show the model's draft as it is written, then the checked answer (default: in a "
    "terminal). Without it, only the checked answer is printed, once.",
)
def ask(
    question: str, url: str, key: str | None, conversation: str | None, as_json: bool,
    stream: bool | None,
) -> None:  # fmt: skip
    """Ask a running Hearth a question; the answer streams in, then its sources.

    \b
    Example:
      hearth ask "How many days of annual leave do employees in Paris get?"
    """  # fmt: skip
    import httpx

    endpoint = _query_endpoint(url)
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    body = {"question": question, "stream": True, "conversation_id": conversation}
    try:
        timeout = httpx.Timeout(10, read=300)
        with httpx.stream(
            "POST", endpoint, json=body, headers=headers, timeout=timeout, trust_env=False
        ) as response:
            if response.status_code != 200:
                response.read()
                click.echo(f"error: {_refusal(response, url, key)}", err=True)
                sys.exit(1)
            live = sys.stdout.isatty() if stream is None else stream
            sys.exit(_stream_answer(response, as_json, live))
    except httpx.HTTPError as exc:
        click.echo(f"error: cannot reach Hearth at {url} ({type(exc).__name__}); "
                   "is `hearth serve` running?", err=True)  # fmt: skip
        sys.exit(2)


@cli.group()
def keys() -> None:
    """Create, list and revoke API keys (stored hashed; a key is shown once)."""


def _service_database(data_dir: Path, database_url: str | None) -> Any:
    """The keys and conversations next to the store: the data folder's database, or
    PostgreSQL. A store must exist: a key created in a mistyped folder would be refused by the
    server it was meant for."""
    from app.service_db import service_database
    from index.errors import HearthError
    from index.open_store import store_exists

    if not store_exists(data_dir, database_url):
        click.echo(f"error: {no_index(data_dir)}", err=True)
        sys.exit(2)
    try:
        return service_database(data_dir, database_url)
    except HearthError as exc:
        raise click.ClickException(exc.message) from None


def _key_store(data_dir: Path, database_url: str | None) -> Any:
    from app.keys import KeyStore

    return KeyStore(database=_service_database(data_dir, database_url))


def _keys_and_conversations(data_dir: Path, database_url: str | None) -> tuple[Any, Any]:
    from app.conversations import ConversationStore
    from app.keys import KeyStore

    database = _service_database(data_dir, database_url)
    return KeyStore(database=database), ConversationStore(database=database)


@keys.command("create")
@click.option("--user", required=True, help="Who the key belongs to.")
@click.option("--groups", default="public", show_default=True, help="Comma-separated groups.")
@data_dir_option
@database_url_option
def keys_create(user: str, groups: str, data_dir: Path, database_url: str | None) -> None:
    """Create a key and print it once.

    \b
    Example:
      hearth keys create --user alice --groups hr,public
    """
    from index.errors import HearthError

    store, conversations = _keys_and_conversations(data_dir, database_url)
    try:
        key, info = store.create(user, groups)
    except (HearthError, ValueError) as exc:
        raise click.BadParameter(getattr(exc, "message", str(exc))) from None
    click.echo(key)
    click.echo(f"id {info.id}, user {info.user}, groups {','.join(sorted(info.groups))}. "
               "Store the key now: it cannot be shown again.", err=True)  # fmt: skip
    earlier = [
        k for k in store.all() if k.user == info.user and k.id != info.id and not k.revoked_at
    ]
    held = conversations.list_for(info.user)
    if earlier or held:
        click.echo(
            f"note: {info.user} already has {_count(len(earlier), 'active key')} and "
            f"{_count(len(held), 'conversation')}: this key reads those conversations too, as a "
            "rotated key should. For another person use another --user; to start this name "
            f"afresh, `hearth keys forget {info.user}` first.",
            err=True,
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


@keys.command("list")
@data_dir_option
@database_url_option
def keys_list(data_dir: Path, database_url: str | None) -> None:
    """List keys: id, user, groups, when created and last used (to 10 minutes), state (never
    the keys): a key unused for months is one to revoke.

    \b
    Example:
      hearth keys list --data-dir /srv/hearth
    """
    infos = _key_store(data_dir, database_url).all()
    if not infos:
        click.echo("No API keys yet: create one with `hearth keys create --user NAME`.", err=True)
    for info in infos:
        state = f"revoked {_minute(info.revoked_at)}" if info.revoked_at else "active"
        used = f"last used {_minute(info.last_used_at)}" if info.last_used_at else "never used"
        click.echo(
            f"{info.id}  {info.user}  {','.join(sorted(info.groups))}  "
            f"created {_minute(info.created_at)}  {used}  {state}"
        )


def _minute(timestamp: str) -> str:
    """An ISO timestamp to the minute, as `keys list` shows it ("2026-12-06 18:40 UTC")."""
    return timestamp[:16].replace("T", " ") + " UTC"


@keys.command("revoke")
@click.argument("key_id")
@data_dir_option
@database_url_option
def keys_revoke(key_id: str, data_dir: Path, database_url: str | None) -> None:
    """Revoke a key by its id (from `keys list`) or by the key itself (hk_…, when it leaked
    and you do not know its id); it stops working on the next request.

    \b
    Examples:
      hearth keys revoke 3f2a9c81d0e4
      hearth keys revoke hk_…the-leaked-key…
    """
    from app.keys import KEY_PREFIX

    store = _key_store(data_dir, database_url)
    by_key = key_id.startswith(KEY_PREFIX)
    revoked_id = None
    if by_key:
        revoked_id = store.revoke_key(key_id)
    elif store.revoke(key_id):
        revoked_id = key_id
    if revoked_id is None:
        what = "that key" if by_key else f"id {key_id}"
        click.echo(f"no active key with {what} (`hearth keys list` shows them)", err=True)
        sys.exit(1)
    click.echo(f"revoked {revoked_id}")


@keys.command("forget")
@click.argument("user")
@click.option("--yes", is_flag=True, help="Do not ask to confirm.")
@data_dir_option
@database_url_option
def keys_forget(user: str, yes: bool, data_dir: Path, database_url: str | None) -> None:
    """Revoke every key of USER and delete their conversations, messages and ratings for good
    (someone who left, an erasure request). A later key with the same name starts empty;
    without this it would read USER's conversations, which belong to the name, not the key.

    \b
    Example:
      hearth keys forget alice --yes
    """
    store, conversations = _keys_and_conversations(data_dir, database_url)
    keys = [k for k in store.all() if k.user == user and k.revoked_at is None]
    held = conversations.list_for(user)
    if not keys and not held:  # already forgotten: an erasure script may run twice
        click.echo(f"{user} has no active key and no conversation: nothing to forget", err=True)
        return
    if not yes:
        if not sys.stdin.isatty():
            click.echo("error: add --yes to forget a user without a terminal", err=True)
            sys.exit(2)
        what = f"{_count(len(keys), 'active key')} and {_count(len(held), 'conversation')}"
        click.confirm(f"Revoke {what} of {user}, for good?", abort=True)
    revoked = store.revoke_user(user)
    deleted, messages = conversations.delete_all(user)
    click.echo(f"{user}: revoked {_count(revoked, 'key')}, deleted "
               f"{_count(deleted, 'conversation')} ({_count(messages, 'message')})")  # fmt: skip


cli.add_command(ingest)
cli.add_command(status)
cli.add_command(eval_command)
cli.add_command(migrate_command)


def main() -> None:
    """Console-script entry point. A HEARTH_ setting that fails validation is named with what
    it should be, not shown as a traceback (its value is not echoed: it may be a secret); so is
    a store whose SQLite file turns out damaged past its first page (any command may meet it)."""
    import sqlite3

    from pydantic import ValidationError

    try:
        cli(prog_name="hearth")
    except sqlite3.DatabaseError as exc:
        if "locked" in str(exc) or "readonly" in str(exc):  # busy or read-only: not damaged
            click.echo(f"error: the store's SQLite database cannot be written now ({exc}): "
                       "another process may hold it (an ingest?); try again", err=True)  # fmt: skip
            sys.exit(2)
        damaged = "if the file is damaged, restore it from a backup (deploy/OPERATIONS.md)"
        click.echo(f"error: the store's SQLite database cannot be read ({exc}): {damaged}",
                   err=True)  # fmt: skip
        sys.exit(2)
    except ValidationError as exc:
        if exc.title != "Settings":
            raise
        for error in exc.errors():
            name = "HEARTH_" + "_".join(str(part) for part in error["loc"]).upper()
            message = error["msg"].removeprefix("Value error, ")  # a validator's own message
            click.echo(f"error: {name}: {message}", err=True)
        sys.exit(2)

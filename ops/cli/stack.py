"""`eventcart stack ...`: the local Kafka, Elasticsearch and PostgreSQL, without Docker."""

from __future__ import annotations

import subprocess
from typing import Annotated

import typer
from rich.console import Console

from ops.stack import manager, process, secured
from ops.stack.errors import StackError
from schemas.config.settings import get_settings

app = typer.Typer(
    help=(
        "Run the real stack on 127.0.0.1: Kafka 4 (KRaft; one broker, or a cluster with "
        "EVENTCART_KAFKA_BROKERS=3), Elasticsearch 9 and PostgreSQL; Prometheus and "
        "Alertmanager with --monitoring, Jaeger with --tracing. Downloads are cached (EVENTCART_CACHE_DIR); data and logs live in "
        "EVENTCART_HOME (default: .eventcart/ in the project)."
    ),
    no_args_is_help=True,
)
console = Console()
err = Console(stderr=True)

Services = Annotated[
    list[str] | None,
    typer.Argument(
        help="kafka, elasticsearch, postgres; postgres-replica with --replica; prometheus, "
        "alertmanager with --monitoring; jaeger with --tracing (default: all)",
        show_default=False,
    ),
]


def fail(exc: StackError) -> typer.Exit:
    """Print a StackError for a person: which service, what went wrong, the log's tail."""
    err.print(f"[bold red]error[/] [bold]{exc.service}[/]: {exc.message}")
    if exc.log_tail:
        err.print(f"[dim]--- last lines of the {exc.service} log ---[/]")
        err.print(exc.log_tail, markup=False, highlight=False, soft_wrap=True)
    return typer.Exit(1)


@app.command()
def up(
    names: Services = None,
    secure: Annotated[
        bool,
        typer.Option(
            "--secure",
            help="Kafka with SASL/SCRAM over TLS, Elasticsearch with security and TLS, "
            "PostgreSQL with TLS and scram passwords; writes the client settings to "
            "EVENTCART_HOME/secure.env (same as EVENTCART_STACK_SECURE=1)",
        ),
    ] = False,
    monitoring: Annotated[
        bool,
        typer.Option(
            "--monitoring",
            help="also Prometheus (127.0.0.1:9090) scraping every role, the exporter and "
            "both APIs with eventcart's alert rules, and Alertmanager (127.0.0.1:9193); "
            "from Debian's packages (same as EVENTCART_STACK_MONITORING=1)",
        ),
    ] = False,
    tracing: Annotated[
        bool,
        typer.Option(
            "--tracing",
            help="also Jaeger v1.75.0 (built from its Go module on first use): OTLP/HTTP on "
            "127.0.0.1:4318, UI on 127.0.0.1:16686; point the processes at it with "
            "EVENTCART_TRACING_ENDPOINT=http://127.0.0.1:4318 (same as "
            "EVENTCART_STACK_TRACING=1)",
        ),
    ] = False,
    replica: Annotated[
        bool,
        typer.Option(
            "--replica",
            help="also a PostgreSQL streaming replica of the local server on 127.0.0.1:5433 "
            "(EVENTCART_POSTGRES_REPLICA_PORT); the query API reads from it with "
            "EVENTCART_POSTGRES_REPLICA=127.0.0.1:5433 (same as "
            "EVENTCART_STACK_POSTGRES_REPLICA=1)",
        ),
    ] = False,
) -> None:
    """Install on first use, start what is not running, wait until all are healthy.

    A second `up` changes nothing. On failure it names the service, shows the
    end of its log and exits non-zero. EVENTCART_KAFKA_BROKERS=3 starts a
    three-broker KRaft cluster (kafka-1, kafka-2, kafka-3) instead of one broker;
    set it for every eventcart command, so each client knows all the brokers.
    With --secure, source the printed env file in each shell that runs eventcart (the
    administrator's login); each role's own login, with only its rights, is in
    EVENTCART_HOME/principals/<role>.env, and `eventcart up` hands it out by itself.
    """
    settings = get_settings()
    if secure:
        settings = settings.model_copy(update={"stack_secure": True})
    if monitoring:
        settings = settings.model_copy(update={"stack_monitoring": True})
    if tracing:
        settings = settings.model_copy(update={"stack_tracing": True})
    if replica:
        settings = settings.model_copy(update={"stack_postgres_replica": True})
    try:
        report = manager.up(settings, names, say=lambda line: console.print(line))
        secure = secure or settings.stack_secure
        env = secured.write_env_file(secured.stack_settings(settings)) if secure else None
        roles = secured.write_principal_env_files(settings) if secure else None
    except StackError as exc:
        raise fail(exc) from None
    if report.started:
        console.print(f"started {', '.join(report.started)} in {report.seconds:.1f} s")
    if report.already_up:
        console.print(f"already up: {', '.join(report.already_up)}")
    if env is not None:
        console.print(
            f"secured: clients need its settings; in each shell run  . {env}", soft_wrap=True
        )
        console.print(
            f"each role's own login (processor, search, pricing, commands, queries): {roles}/",
            soft_wrap=True,
        )


@app.command()
def down(names: Services = None) -> None:
    """Stop the services gracefully (SIGTERM, then SIGKILL after 60 s)."""
    try:
        stopped = manager.down(get_settings(), names)
    except StackError as exc:
        raise fail(exc) from None
    console.print(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")


@app.command()
def status() -> None:
    """One line per service: up/down, version, port, data folder. Exits 1 if any is down."""
    try:
        rows = manager.status(get_settings())
    except StackError as exc:
        raise fail(exc) from None
    width = max([14, *(len(row.name) for row in rows)])
    for row in rows:
        state = "[green]up  [/]" if row.up else "[red]down[/]"
        console.print(
            f"{row.name:<{width}} {state} {row.version:<8} 127.0.0.1:{row.port:<6} "
            f"pid {row.pid or '-':<8} {row.data_dir}",
            soft_wrap=True,
        )
    if not all(row.up for row in rows):
        raise typer.Exit(1)


@app.command()
def logs(
    name: Annotated[str, typer.Argument(help="kafka, elasticsearch or postgres")],
    lines: Annotated[int, typer.Option("--lines", "-n", help="how many lines")] = 50,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="keep printing")] = False,
) -> None:
    """Print the end of a service's log (the file lives under EVENTCART_HOME/logs)."""
    try:
        (svc,) = manager.pick(get_settings(), [name])
    except StackError as exc:
        raise fail(exc) from None
    if follow:
        subprocess.run(["tail", "-n", str(lines), "-F", str(svc.log_file)], check=False)
        return
    print(process.tail(svc.log_file, lines))


@app.command()
def reset(
    names: Services = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="do not ask")] = False,
) -> None:
    """Stop the services and wipe their data and logs; cached downloads stay."""
    if not yes:
        typer.confirm("Wipe all local Kafka, Elasticsearch and PostgreSQL data?", abort=True)
    try:
        manager.reset(get_settings(), names)
    except StackError as exc:
        raise fail(exc) from None
    console.print("data wiped; `eventcart stack up` starts afresh")

"""The `flask` commands of CONTRACT.md. Each parses options, calls one service, echoes."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from storefront import accounts, carts, catalog, events, mail, staff
from storefront.exceptions import CatalogImportError, NotFound
from storefront.models import CART_UNTOUCHED_DAYS, REMEMBER_SESSION_DAYS, STALE_SESSION_DAYS

catalog_cli = AppGroup("catalog", help="Load products into the catalog.")


@catalog_cli.command("import")
@click.argument("file", type=click.File("rb"))
def import_command(file: click.utils.LazyFile) -> None:
    """Upsert products by sku from FILE.csv (columns sku,name,price,stock[,description]
    [,image][,categories]); `image` is a picture's path relative to FILE.csv, `categories`
    like `Coffee > Beans | Gifts`.

    Every row is checked first; if any is bad, each problem is printed as `line N: reason`,
    nothing is written and the command exits 1.
    """
    try:
        result = catalog.import_products(file.read(), image_root=_folder_of(file.name))
    except CatalogImportError as error:
        for line, reason in error.problems:
            click.echo(f"line {line}: {reason}", err=True)
        raise click.ClickException(
            f"{file.name}: {len(error.problems)} bad line(s); nothing was imported"
        ) from None
    click.echo(f"Imported {file.name}: {result.created} created, {result.updated} updated.")


def _folder_of(name: str) -> Path | None:
    """The CSV's folder: `image` paths in it are relative to the file (stdin: the current
    folder)."""
    return None if name == "-" else Path(name).resolve().parent


@catalog_cli.command("demo")
def demo_command() -> None:
    """Load the demo catalog (about 30 products); safe to run again."""
    result = catalog.load_demo_catalog()
    click.echo(f"Demo catalog: {result.created} created, {result.updated} updated.")


accounts_cli = AppGroup("accounts", help="Look after customer accounts.")


@accounts_cli.command("check")
@click.option("--fix", is_flag=True, help="Create missing profiles and purge stale sessions.")
def check_command(fix: bool) -> None:
    """Find users without a profile, accounts whose e-mail collides with another's in
    canonical form and orders whose totals do not equal their lines (broken invariants: exit
    1), and session rows expired or revoked over 30
    days ago. With --fix, create the missing profiles and purge those rows, printing what was
    done; collisions are only reported (exit 1), as which account to keep is a person's call."""
    result = accounts.check_accounts(fix=fix)
    for user_id in result.users_without_profile:
        click.echo(f"user {user_id}: no profile" + (" (created an empty one)" if fix else ""))
    for user_id, holder in result.email_collisions:
        if holder is None:  # the migration could not store its canonical form at all
            click.echo(f"user {user_id}: e-mail too long for its column in canonical form; "
                       "this account cannot sign in until it changes address")
        else:
            click.echo(f"user {user_id}: e-mail collides with user {holder} in canonical form; "
                       "this account cannot sign in until one of them changes address")
    if fix:
        click.echo(f"Profiles created: {result.profiles_created}.")
        click.echo(f"Stale session rows purged: {result.sessions_purged}.")
    else:
        click.echo(f"Users without a profile: {len(result.users_without_profile)}.")
        click.echo(f"Stale session rows (over {STALE_SESSION_DAYS} days): "
                   f"{result.stale_sessions}.")
    click.echo(f"Accounts colliding by e-mail: {len(result.email_collisions)}.")
    for number in result.orders_with_wrong_totals:
        click.echo(f"order {number}: its totals do not equal its lines")
    click.echo(f"Orders whose totals do not equal their lines: "
               f"{len(result.orders_with_wrong_totals)}.")
    if result.email_collisions or result.orders_with_wrong_totals or (not fix and result.broken):
        raise SystemExit(1)
    if not fix:
        click.echo("All accounts are whole.")


carts_cli = AppGroup("carts", help="Look after saved carts.")


@carts_cli.command("cleanup")
@click.option("--days", type=click.IntRange(min=1), default=CART_UNTOUCHED_DAYS,
              show_default=True, help="Remove saved-cart lines untouched for this many days.")
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
def cleanup_command(days: int, dry_run: bool) -> None:
    """Remove saved-cart lines untouched for N days and lines of inactive products, and
    merge records older than the longest session. Prints what it removed per kind."""
    result = carts.cleanup(days=days, dry_run=dry_run)
    verb = "Would remove" if dry_run else "Removed"
    click.echo(f"{verb} {result.inactive_lines} line(s) of inactive products.")
    click.echo(f"{verb} {result.stale_lines} line(s) untouched for {days} days.")
    click.echo(f"{verb} {result.old_merges} merge record(s) older than "
               f"{REMEMBER_SESSION_DAYS} days.")


@click.command("report")
@click.option("--days", type=click.IntRange(min=1, max=3650), default=30, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def report_command(days: int, as_json: bool) -> None:
    """The shop's figures for the last N days: registrations, profiles, sessions, cart merges,
    checkouts and orders."""
    report = events.build_report(days)
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return

    def percent(rate: float | None) -> str:
        return "n/a (nothing happened)" if rate is None else f"{rate:.1%}"

    median = report.median_session_minutes
    lines = [
        f"Figures for the last {days} day(s)",
        "From the events (what happened, deleted accounts included):",
        f"  registration success rate    {percent(report.registration_success_rate)}"
        f"  ({report.accounts_created} accounts created / {report.registration_attempts}"
        " valid registration attempts)",
        f"  sign-ins                     {report.sign_ins} successful (sign-ups included)",
        "  sign-ins by method           " + (", ".join(
            f"{method} {count}" for method, count in report.sign_ins_by_method.items())
            or "none"),
        f"  failed sign-ins              {report.failed_sign_ins}",
        f"  sessions started             {report.sessions_started} (one per successful sign-in)",
        f"  cart merge success rate      {percent(report.cart_merge_success_rate)}"
        f"  ({report.cart_merges_succeeded} succeeded / {report.cart_merges_attempted} attempted;"
        f" {report.cart_merges_failed} failed)",
        f"  cart lines at merges         {report.cart_lines_merged} merged, "
        f"{report.cart_lines_capped} capped, {report.cart_lines_dropped} dropped",
        "From the tables (what is true now of the accounts that still exist):",
        f"  profile creation rate        {percent(report.profile_creation_success_rate)}"
        f"  ({report.profiles_created} with a profile / {report.accounts_remaining} accounts"
        " created in the period)",
        f"  sessions started, now        {report.sessions_remaining} of existing accounts: "
        f"{report.sessions_active} active, {report.sessions_revoked} revoked, "
        f"{report.sessions_expired} expired; {report.sessions_of_deleted_accounts} of accounts"
        " deleted since",
        f"  session persistence          {percent(report.session_persistence_rate)}"
        f"  (of those {report.sessions_remaining}, seen again more than an hour after sign-in)",
        "  median session length        "
        + ("n/a (no sessions)" if median is None else f"{median} min (sign-in to last activity)"),
        f"  e-mail verification rate     {percent(report.email_verification_rate)}"
        f"  ({report.accounts_verified} verified / {report.accounts_remaining} accounts"
        " created in the period)",
        "Mail (the outbox):",
        f"  mails sent                   {report.mails_sent}",
        f"  mails waiting                {report.mails_waiting} (now)",
        f"  mails failed                 {report.mails_failed} (after every retry)",
        "Orders (from the orders table, detached orders included):",
        f"  orders placed                {report.orders_placed} "
        f"({report.orders_cancelled} cancelled since)",
        f"  revenue                      {report.revenue} (orders not cancelled)",
        "  average order value          "
        + (report.average_order_value or "n/a (no orders)"),
        f"  checkout conversion          {percent(report.checkout_conversion_rate)}"
        f"  ({report.orders_placed} orders / {report.checkout_views} checkouts begun)",
    ]
    for line in lines:
        click.echo(line)


mail_cli = AppGroup("mail", help="Send the mail waiting in the outbox.")


@mail_cli.command("deliver")
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
def deliver_command(once: bool) -> None:
    """Send the outbox through MAIL_URL (in development without it: to the log), retrying
    failures after 1, 2, 4 ... minutes, 8 attempts at most. Runs until SIGTERM or Ctrl-C,
    which let the mail being sent finish first; --once exits when nothing is due."""
    transport = mail.transport_for(current_app)
    if transport is None:
        raise click.ClickException("MAIL_URL is not set: mail waits in the outbox "
                                   "(set MAIL_URL=smtp://host:port to send it)")
    stop = threading.Event()
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_args: stop.set())
    handled = mail.deliver(transport, once=once, stop=stop)
    click.echo(f"Mail handled: {handled}.")


@mail_cli.command("cleanup")
@click.option("--days", type=click.IntRange(min=1), default=mail.KEEP_SENT_DAYS,
              show_default=True, help="Keep sent mails and spent tokens this many days.")
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
def mail_cleanup_command(days: int, dry_run: bool) -> None:
    """Remove mails sent over N days ago and e-mail tokens used or expired over N days ago,
    in batches; waiting and failed mails stay. Prints what it removed."""
    result = mail.cleanup(days=days, dry_run=dry_run)
    verb = "Would remove" if dry_run else "Removed"
    click.echo(f"{verb} {result.mails} mail(s) sent over {days} days ago.")
    click.echo(f"{verb} {result.tokens} e-mail token(s) used or expired over {days} days ago.")
users_cli = AppGroup("users", help="Staff rights.")


def _set_staff(email: str, is_staff: bool) -> None:
    try:
        user = staff.set_staff(email, is_staff)
    except NotFound:
        raise click.ClickException(f"no account has the e-mail {email}") from None
    click.echo(f"{user.email} is {'now' if is_staff else 'no longer'} staff.")


@users_cli.command("make-staff")
@click.argument("email")
def make_staff_command(email: str) -> None:
    """Give the account with EMAIL staff rights (exit 1 for an unknown e-mail)."""
    _set_staff(email, True)


@users_cli.command("revoke-staff")
@click.argument("email")
def revoke_staff_command(email: str) -> None:
    """Remove staff rights from the account with EMAIL (exit 1 for an unknown e-mail); its
    open sessions lose them at their next request."""
    _set_staff(email, False)


def register(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(catalog_cli)
    app.cli.add_command(accounts_cli)
    app.cli.add_command(carts_cli)
    app.cli.add_command(report_command)
    app.cli.add_command(mail_cli)

"""events: typed figures of a cart merge (lines merged, capped, dropped)

The report sums these columns in SQL instead of parsing them back out of the detail text.
Existing merge events are filled from their `merged=N capped=N dropped=N` detail, once, here.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

COLUMNS = ("lines_merged", "lines_capped", "lines_dropped")
DETAIL_KEYS = {"merged": "lines_merged", "capped": "lines_capped", "dropped": "lines_dropped"}
events = sa.table("events", sa.column("id", sa.Integer), sa.column("kind", sa.String),
                  sa.column("ok", sa.Boolean), sa.column("detail", sa.String),
                  *(sa.column(name, sa.Integer) for name in COLUMNS))


def _figures(detail: str) -> dict[str, int]:
    fields = dict(part.split("=", 1) for part in detail.split() if "=" in part)
    return {column: int(fields[key]) if fields.get(key, "").isdigit() else 0
            for key, column in DETAIL_KEYS.items()}


def upgrade():
    for name in COLUMNS:
        op.add_column("events", sa.Column(name, sa.Integer(), nullable=True))
    bind = op.get_bind()
    merges = bind.execute(
        sa.select(events.c.id, events.c.detail)
        .where(events.c.kind == "cart_merge", events.c.ok == sa.true())
    ).all()
    if merges:
        bind.execute(
            events.update().where(events.c.id == sa.bindparam("event_id"))
            .values({name: sa.bindparam(f"new_{name}") for name in COLUMNS}),
            [{"event_id": event_id,
              **{f"new_{name}": value for name, value in _figures(detail).items()}}
             for event_id, detail in merges],
        )


def downgrade():
    with op.batch_alter_table("events") as batch:
        for name in COLUMNS:
            batch.drop_column(name)

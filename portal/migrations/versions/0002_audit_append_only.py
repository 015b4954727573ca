"""audit log is append-only (database triggers)

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

from portal.core.audit import append_only_statements

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    bind = op.get_bind()
    for statement in append_only_statements(bind.dialect.name):
        op.execute(sa.text(statement))


def downgrade():
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS audit_log_append_only()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_update")
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_delete")

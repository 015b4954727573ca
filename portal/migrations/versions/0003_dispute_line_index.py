"""index of a line's disputes (the statement page looks up each line's latest dispute)

Revision ID: 0003
Revises: 0002
"""
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_index("ix_commission_disputes_line_id_id", "commission_disputes", ["line_id", "id"])


def downgrade():
    op.drop_index("ix_commission_disputes_line_id_id", table_name="commission_disputes")

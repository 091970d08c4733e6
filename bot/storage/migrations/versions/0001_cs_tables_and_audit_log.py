"""cs tables and audit log

Revision ID: 0001
Revises:
Create Date: 2026-11-26 22:34:30.986053
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import mysql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cs_audit_log",
        sa.Column("audit_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), server_default="default", nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=True),
        sa.Column("actor_role", sa.String(length=64), nullable=True),
        sa.Column("action", sa.String(length=64), nullable=False),
        sa.Column("target_type", sa.String(length=64), nullable=True),
        sa.Column("target_id", sa.String(length=128), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime()
            .with_variant(mysql.DATETIME(fsp=6), "mariadb")
            .with_variant(mysql.DATETIME(fsp=6), "mysql"),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("audit_id"),
    )
    with op.batch_alter_table("cs_audit_log", schema=None) as batch_op:
        batch_op.create_index("idx_audit_target", ["target_type", "target_id"], unique=False)
        batch_op.create_index("idx_audit_tenant_time", ["tenant_id", "created_at"], unique=False)

    op.create_table(
        "cs_doc",
        sa.Column("doc_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), server_default="default", nullable=False),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("oss_url", sa.String(length=512), nullable=True),
        sa.Column("file_type", sa.String(length=32), nullable=True),
        sa.Column("version_no", sa.Integer(), server_default="1", nullable=False),
        sa.Column(
            "is_active",
            sa.SmallInteger().with_variant(mysql.TINYINT(), "mariadb").with_variant(mysql.TINYINT(), "mysql"),
            server_default="1",
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime()
            .with_variant(mysql.DATETIME(fsp=6), "mariadb")
            .with_variant(mysql.DATETIME(fsp=6), "mysql"),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime()
            .with_variant(mysql.DATETIME(fsp=6), "mariadb")
            .with_variant(mysql.DATETIME(fsp=6), "mysql"),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("doc_id"),
    )
    with op.batch_alter_table("cs_doc", schema=None) as batch_op:
        batch_op.create_index("idx_doc_tenant_source", ["tenant_id", "oss_url"], unique=False)
        batch_op.create_index("idx_title", ["title"], unique=False)

    op.create_table(
        "cs_doc_embedding",
        sa.Column("emb_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), server_default="default", nullable=False),
        sa.Column("doc_id", sa.BigInteger(), nullable=False),
        sa.Column("section_idx", sa.Integer(), nullable=True),
        sa.Column(
            "content_snippet",
            sa.Text().with_variant(mysql.MEDIUMTEXT(), "mariadb").with_variant(mysql.MEDIUMTEXT(), "mysql"),
            nullable=True,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column(
            "vector",
            sa.LargeBinary()
            .with_variant(mysql.MEDIUMBLOB(), "mariadb")
            .with_variant(mysql.MEDIUMBLOB(), "mysql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("emb_id"),
    )
    with op.batch_alter_table("cs_doc_embedding", schema=None) as batch_op:
        batch_op.create_index("idx_doc_section", ["doc_id", "section_idx"], unique=False)

    op.create_table(
        "cs_faq",
        sa.Column("faq_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), server_default="default", nullable=False),
        sa.Column("ext_id", sa.String(length=128), nullable=False, comment="the importer's stable id"),
        sa.Column("question", sa.String(length=255), nullable=False),
        sa.Column("similar_questions", sa.JSON(), nullable=True),
        sa.Column("answer_text", sa.Text(), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("hit_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "enabled",
            sa.SmallInteger().with_variant(mysql.TINYINT(), "mariadb").with_variant(mysql.TINYINT(), "mysql"),
            server_default="1",
            nullable=False,
        ),
        sa.Column("content_hash", sa.String(length=64), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime()
            .with_variant(mysql.DATETIME(fsp=6), "mariadb")
            .with_variant(mysql.DATETIME(fsp=6), "mysql"),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("faq_id"),
        sa.UniqueConstraint("tenant_id", "ext_id", name="uq_faq_ext"),
    )
    with op.batch_alter_table("cs_faq", schema=None) as batch_op:
        if op.get_bind().dialect.name in ("mysql", "mariadb"):
            # Seed §5.3 FULLTEXT; keyword search itself runs on tantivy/Elasticsearch.
            batch_op.create_index("ft_question", ["question"], unique=False, mysql_prefix="FULLTEXT")
        batch_op.create_index("idx_faq_tenant_category", ["tenant_id", "category"], unique=False)

    op.create_table(
        "cs_message",
        sa.Column("msg_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("session_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), server_default="default", nullable=False),
        sa.Column("sender_id", sa.BigInteger(), nullable=False),
        sa.Column(
            "sender_role",
            sa.SmallInteger().with_variant(mysql.TINYINT(), "mariadb").with_variant(mysql.TINYINT(), "mysql"),
            nullable=True,
            comment="0=用户 1=客服 2=机器人",
        ),
        sa.Column(
            "msg_type",
            sa.SmallInteger().with_variant(mysql.TINYINT(), "mariadb").with_variant(mysql.TINYINT(), "mysql"),
            nullable=True,
            comment="0=text 1=image 2=order_card ...",
        ),
        sa.Column("content", sa.Text(), nullable=True, comment="JSON 存储富文本"),
        sa.Column("at_list", sa.JSON(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime()
            .with_variant(mysql.DATETIME(fsp=6), "mariadb")
            .with_variant(mysql.DATETIME(fsp=6), "mysql"),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("msg_id", "session_id"),
        mysql_partition_by="HASH(session_id)",
        mysql_partitions="16",
    )
    with op.batch_alter_table("cs_message", schema=None) as batch_op:
        batch_op.create_index("idx_session_time", ["session_id", "created_at"], unique=False)

    op.create_table(
        "cs_session",
        sa.Column("session_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), server_default="default", nullable=False),
        sa.Column("customer_id", sa.BigInteger(), nullable=False),
        sa.Column("agent_id", sa.BigInteger(), nullable=True),
        sa.Column(
            "session_state",
            sa.SmallInteger().with_variant(mysql.TINYINT(), "mariadb").with_variant(mysql.TINYINT(), "mysql"),
            server_default="0",
            nullable=False,
            comment="0=排队 1=进行中 2=已结束 3=提醒 4=机器人",
        ),
        sa.Column("channel", sa.String(length=32), nullable=True),
        sa.Column("conversation_id", sa.String(length=128), nullable=True, comment="Rasa sender id"),
        sa.Column("skill_group", sa.String(length=64), nullable=True),
        sa.Column(
            "priority",
            sa.SmallInteger().with_variant(mysql.TINYINT(), "mariadb").with_variant(mysql.TINYINT(), "mysql"),
            server_default="3",
            nullable=False,
        ),
        sa.Column("summary", sa.Text(), nullable=True),
        sa.Column(
            "last_msg_time",
            sa.DateTime()
            .with_variant(mysql.DATETIME(fsp=6), "mariadb")
            .with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.Column(
            "created_at",
            sa.DateTime()
            .with_variant(mysql.DATETIME(fsp=6), "mariadb")
            .with_variant(mysql.DATETIME(fsp=6), "mysql"),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "closed_at",
            sa.DateTime()
            .with_variant(mysql.DATETIME(fsp=6), "mariadb")
            .with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.PrimaryKeyConstraint("session_id"),
    )
    with op.batch_alter_table("cs_session", schema=None) as batch_op:
        batch_op.create_index("idx_conversation", ["tenant_id", "conversation_id"], unique=False)
        batch_op.create_index("idx_customer_state", ["customer_id", "session_state"], unique=False)
        batch_op.create_index("idx_tenant_state", ["tenant_id", "session_state"], unique=False)

    op.create_table(
        "cs_ticket",
        sa.Column("ticket_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), server_default="default", nullable=False),
        sa.Column("session_id", sa.BigInteger(), nullable=True),
        sa.Column("customer_id", sa.BigInteger(), nullable=True),
        sa.Column("category", sa.String(length=64), nullable=True, comment="refund/logistics/complaint/tech"),
        sa.Column("title", sa.String(length=255), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column(
            "priority",
            sa.SmallInteger().with_variant(mysql.TINYINT(), "mariadb").with_variant(mysql.TINYINT(), "mysql"),
            server_default="3",
            nullable=False,
            comment="1=紧急 2=高 3=中 4=低",
        ),
        sa.Column(
            "status",
            sa.SmallInteger().with_variant(mysql.TINYINT(), "mariadb").with_variant(mysql.TINYINT(), "mysql"),
            server_default="0",
            nullable=False,
            comment="0=新建 1=处理中 2=待客户 3=已解决 4=关闭",
        ),
        sa.Column("assignee_id", sa.BigInteger(), nullable=True),
        sa.Column("sla_minutes", sa.Integer(), server_default="120", nullable=False),
        sa.Column(
            "expired_at",
            sa.DateTime()
            .with_variant(mysql.DATETIME(fsp=6), "mariadb")
            .with_variant(mysql.DATETIME(fsp=6), "mysql"),
            nullable=True,
        ),
        sa.Column(
            "created_at",
            sa.DateTime()
            .with_variant(mysql.DATETIME(fsp=6), "mariadb")
            .with_variant(mysql.DATETIME(fsp=6), "mysql"),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime()
            .with_variant(mysql.DATETIME(fsp=6), "mariadb")
            .with_variant(mysql.DATETIME(fsp=6), "mysql"),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("ticket_id"),
    )
    with op.batch_alter_table("cs_ticket", schema=None) as batch_op:
        batch_op.create_index("idx_customer", ["customer_id"], unique=False)
        batch_op.create_index("idx_status_priority", ["status", "priority"], unique=False)
        batch_op.create_index("idx_ticket_tenant_status", ["tenant_id", "status"], unique=False)

    op.create_table(
        "cs_ticket_comment",
        sa.Column("comment_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), server_default="default", nullable=False),
        sa.Column("ticket_id", sa.BigInteger(), nullable=False),
        sa.Column("commenter_id", sa.BigInteger(), nullable=True),
        sa.Column("content", sa.Text(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime()
            .with_variant(mysql.DATETIME(fsp=6), "mariadb")
            .with_variant(mysql.DATETIME(fsp=6), "mysql"),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("comment_id"),
    )
    with op.batch_alter_table("cs_ticket_comment", schema=None) as batch_op:
        batch_op.create_index("idx_ticket_time", ["ticket_id", "created_at"], unique=False)

    op.create_table(
        "cs_user",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), server_default="default", nullable=False),
        sa.Column("nick_name", sa.String(length=64), nullable=False),
        sa.Column("avatar_url", sa.String(length=255), nullable=True),
        sa.Column("phone_mask", sa.String(length=32), nullable=True),
        sa.Column(
            "user_type",
            sa.SmallInteger().with_variant(mysql.TINYINT(), "mariadb").with_variant(mysql.TINYINT(), "mysql"),
            nullable=False,
            comment="0=消费者 1=客服 2=管理员",
        ),
        sa.Column(
            "status",
            sa.SmallInteger().with_variant(mysql.TINYINT(), "mariadb").with_variant(mysql.TINYINT(), "mysql"),
            server_default="1",
            nullable=False,
            comment="1=正常 0=禁用",
        ),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column(
            "roles", sa.String(length=255), nullable=True, comment="comma-separated: agent,kb_admin,admin"
        ),
        sa.Column("skills", sa.String(length=255), nullable=True, comment="comma-separated skill groups"),
        sa.Column(
            "created_at",
            sa.DateTime()
            .with_variant(mysql.DATETIME(fsp=6), "mariadb")
            .with_variant(mysql.DATETIME(fsp=6), "mysql"),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime()
            .with_variant(mysql.DATETIME(fsp=6), "mariadb")
            .with_variant(mysql.DATETIME(fsp=6), "mysql"),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("user_id"),
        sa.UniqueConstraint("tenant_id", "external_id", name="uq_user_external"),
    )
    with op.batch_alter_table("cs_user", schema=None) as batch_op:
        batch_op.create_index("idx_type_status", ["user_type", "status"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("cs_user", schema=None) as batch_op:
        batch_op.drop_index("idx_type_status")

    op.drop_table("cs_user")
    with op.batch_alter_table("cs_ticket_comment", schema=None) as batch_op:
        batch_op.drop_index("idx_ticket_time")

    op.drop_table("cs_ticket_comment")
    with op.batch_alter_table("cs_ticket", schema=None) as batch_op:
        batch_op.drop_index("idx_ticket_tenant_status")
        batch_op.drop_index("idx_status_priority")
        batch_op.drop_index("idx_customer")

    op.drop_table("cs_ticket")
    with op.batch_alter_table("cs_session", schema=None) as batch_op:
        batch_op.drop_index("idx_tenant_state")
        batch_op.drop_index("idx_customer_state")
        batch_op.drop_index("idx_conversation")

    op.drop_table("cs_session")
    with op.batch_alter_table("cs_message", schema=None) as batch_op:
        batch_op.drop_index("idx_session_time")

    op.drop_table("cs_message")
    with op.batch_alter_table("cs_faq", schema=None) as batch_op:
        batch_op.drop_index("idx_faq_tenant_category")
        if op.get_bind().dialect.name in ("mysql", "mariadb"):
            batch_op.drop_index("ft_question", mysql_prefix="FULLTEXT")

    op.drop_table("cs_faq")
    with op.batch_alter_table("cs_doc_embedding", schema=None) as batch_op:
        batch_op.drop_index("idx_doc_section")

    op.drop_table("cs_doc_embedding")
    with op.batch_alter_table("cs_doc", schema=None) as batch_op:
        batch_op.drop_index("idx_title")
        batch_op.drop_index("idx_doc_tenant_source")

    op.drop_table("cs_doc")
    with op.batch_alter_table("cs_audit_log", schema=None) as batch_op:
        batch_op.drop_index("idx_audit_tenant_time")
        batch_op.drop_index("idx_audit_target")

    op.drop_table("cs_audit_log")

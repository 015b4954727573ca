"""Enablement tables. Product-level settings (certification required, validity) live here,
keyed by product id, so that the catalog stays unaware of training."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy import orm as so

from portal.core.db import UTCDateTime, db, utcnow


def _enum(e, length=16):
    return sa.Enum(e, native_enum=False, length=length, values_callable=lambda x: [m.value for m in x])


class MaterialLanguage(enum.StrEnum):
    ZH = "zh"
    EN = "en"
    BOTH = "both"


class MaterialKind(enum.StrEnum):
    BROCHURE = "brochure"
    PRICE_SHEET = "price_sheet"
    PROMOTION = "promotion"


class ProductTraining(db.Model):
    """Whether selling a product needs a certified user in the agency, and how long a
    certification for it stays valid."""

    __tablename__ = "enablement_product_settings"
    __table_args__ = (sa.CheckConstraint("validity_months BETWEEN 1 AND 60", name="validity_range"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    product_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("products.id", ondelete="CASCADE"), unique=True
    )
    requires_certification: so.Mapped[bool] = so.mapped_column(default=False)
    validity_months: so.Mapped[int] = so.mapped_column(sa.SmallInteger, default=12)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    product: so.Mapped[object] = so.relationship("Product", lazy="joined")


class Material(db.Model):
    """An approved brochure, price sheet or promotional file. Stored under PORTAL_DATA_DIR with
    a random name; agencies see it only while approved and within its validity dates."""

    __tablename__ = "enablement_materials"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    title: so.Mapped[str] = so.mapped_column(sa.String(200))
    description: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    kind: so.Mapped[MaterialKind] = so.mapped_column(_enum(MaterialKind), default=MaterialKind.BROCHURE)
    product_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("products.id", ondelete="SET NULL"), index=True
    )
    language: so.Mapped[MaterialLanguage] = so.mapped_column(
        _enum(MaterialLanguage, 8), default=MaterialLanguage.BOTH
    )
    valid_from: so.Mapped[date] = so.mapped_column(sa.Date)
    valid_until: so.Mapped[date | None] = so.mapped_column(sa.Date)
    approved: so.Mapped[bool] = so.mapped_column(default=False)
    file_name: so.Mapped[str] = so.mapped_column(sa.String(255))
    stored_name: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    content_type: so.Mapped[str] = so.mapped_column(sa.String(64))
    size_bytes: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    uploaded_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)

    product: so.Mapped[object] = so.relationship("Product", lazy="joined")

    def is_current(self, today: date) -> bool:
        return (
            self.approved
            and self.valid_from <= today
            and (self.valid_until is None or today <= self.valid_until)
        )


class MaterialDownload(db.Model):
    """One download of a material by an agency user (counted per agency)."""

    __tablename__ = "enablement_material_downloads"
    __agency_column__ = "agency_id"
    __table_args__ = (sa.Index("ix_enablement_material_downloads_pair", "material_id", "agency_id"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    material_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("enablement_materials.id", ondelete="CASCADE")
    )
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agencies.id", ondelete="CASCADE"), index=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    downloaded_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)


class Course(db.Model):
    """A training course for one product: content pages and a multiple-choice quiz."""

    __tablename__ = "enablement_courses"
    __table_args__ = (sa.CheckConstraint("pass_mark BETWEEN 1 AND 100", name="pass_mark_range"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    product_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("products.id", ondelete="CASCADE"), index=True
    )
    title: so.Mapped[str] = so.mapped_column(sa.String(200))
    summary: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    pass_mark: so.Mapped[int] = so.mapped_column(sa.SmallInteger, default=80)  # percent
    published: so.Mapped[bool] = so.mapped_column(default=False)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)

    product: so.Mapped[object] = so.relationship("Product", lazy="joined")
    pages: so.Mapped[list[CoursePage]] = so.relationship(
        back_populates="course", order_by="CoursePage.position, CoursePage.id", cascade="all, delete-orphan"
    )
    questions: so.Mapped[list[QuizQuestion]] = so.relationship(
        back_populates="course",
        order_by="QuizQuestion.position, QuizQuestion.id",
        cascade="all, delete-orphan",
    )


class CoursePage(db.Model):
    __tablename__ = "enablement_course_pages"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    course_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("enablement_courses.id", ondelete="CASCADE"), index=True
    )
    position: so.Mapped[int] = so.mapped_column(default=0)
    title: so.Mapped[str] = so.mapped_column(sa.String(200))
    body: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    file_name: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    stored_name: so.Mapped[str | None] = so.mapped_column(sa.String(64), unique=True)
    content_type: so.Mapped[str | None] = so.mapped_column(sa.String(64))

    course: so.Mapped[Course] = so.relationship(back_populates="pages")


class QuizQuestion(db.Model):
    __tablename__ = "enablement_quiz_questions"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    course_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("enablement_courses.id", ondelete="CASCADE"), index=True
    )
    position: so.Mapped[int] = so.mapped_column(default=0)
    text: so.Mapped[str] = so.mapped_column(sa.Text)
    options: so.Mapped[list] = so.mapped_column(sa.JSON)  # list of strings
    correct_index: so.Mapped[int] = so.mapped_column(sa.SmallInteger)

    course: so.Mapped[Course] = so.relationship(back_populates="questions")


class QuizAttempt(db.Model):
    """One submitted quiz; kept for the record whether passed or not."""

    __tablename__ = "enablement_quiz_attempts"
    __agency_column__ = "agency_id"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    course_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("enablement_courses.id", ondelete="CASCADE"), index=True
    )
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agencies.id", ondelete="CASCADE"), index=True)
    correct: so.Mapped[int] = so.mapped_column(sa.SmallInteger)
    total: so.Mapped[int] = so.mapped_column(sa.SmallInteger)
    passed: so.Mapped[bool] = so.mapped_column(default=False)
    answers: so.Mapped[dict] = so.mapped_column(sa.JSON, default=dict)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)


class Certification(db.Model):
    """A user's certification for a product, valid through `valid_until` (inclusive, Shanghai
    calendar). Passing again renews the same row."""

    __tablename__ = "enablement_certifications"
    __agency_column__ = "agency_id"
    __table_args__ = (
        sa.UniqueConstraint("user_id", "product_id", name="uq_enablement_cert_user_product"),
        sa.Index("ix_enablement_cert_agency_product", "agency_id", "product_id"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agencies.id", ondelete="CASCADE"))
    product_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("products.id", ondelete="CASCADE"))
    course_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("enablement_courses.id", ondelete="SET NULL")
    )
    certified_on: so.Mapped[date] = so.mapped_column(sa.Date)
    valid_until: so.Mapped[date] = so.mapped_column(sa.Date, index=True)
    expiry_notified_for: so.Mapped[date | None] = so.mapped_column(sa.Date)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)

    user: so.Mapped[object] = so.relationship("User", lazy="joined")
    product: so.Mapped[object] = so.relationship("Product", lazy="joined")


class SoldBy(enum.StrEnum):
    """Who made the sale a survey answer is about: the agency itself (a sale lead), or the
    operator's account manager on a lead the agency referred (a referral lead)."""

    AGENCY = "agency"
    ACCOUNT_MANAGER = "account_manager"


class SurveyInvitation(db.Model):
    """A one-time satisfaction survey sent to a customer contact (usually when a lead is won).
    For a referral lead `agency_id` is the referring agency (for scoping and tracing) and
    `sold_by` is `account_manager`: such answers count for the product, not for the agency."""

    __tablename__ = "enablement_survey_invitations"
    __agency_column__ = "agency_id"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    nonce: so.Mapped[str] = so.mapped_column(sa.String(32), unique=True)
    lead_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("leads.id", ondelete="SET NULL"), unique=True
    )
    sold_by: so.Mapped[SoldBy] = so.mapped_column(
        _enum(SoldBy), default=SoldBy.AGENCY, server_default=SoldBy.AGENCY.value
    )
    account_manager_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    agency_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("agencies.id", ondelete="SET NULL"), index=True
    )
    product_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("products.id", ondelete="SET NULL"), index=True
    )
    customer_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("customers.id", ondelete="SET NULL"))
    contact_name: so.Mapped[str] = so.mapped_column(sa.String(128), default="")
    contact_mobile: so.Mapped[str] = so.mapped_column(sa.String(32))
    sent_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)
    expires_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime())
    answered_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())

    agency: so.Mapped[object] = so.relationship("Agency", lazy="joined")
    product: so.Mapped[object] = so.relationship("Product", lazy="joined")


SURVEY_DIMENSIONS = ("product", "agent", "channel", "promotion", "relationship")


class SurveyResponse(db.Model):
    """The customer's answer: five dimensions of the seed model on 1–5, plus a comment. Only
    answers with `sold_by == agency` count toward an agency's satisfaction score."""

    __tablename__ = "enablement_survey_responses"
    __agency_column__ = "agency_id"
    __table_args__ = tuple(
        sa.CheckConstraint(f"score_{d} BETWEEN 1 AND 5", name=f"score_{d}_range") for d in SURVEY_DIMENSIONS
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    invitation_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("enablement_survey_invitations.id", ondelete="CASCADE"), unique=True
    )
    agency_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("agencies.id", ondelete="SET NULL"), index=True
    )
    product_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("products.id", ondelete="SET NULL"), index=True
    )
    customer_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("customers.id", ondelete="SET NULL"))
    sold_by: so.Mapped[SoldBy] = so.mapped_column(
        _enum(SoldBy), default=SoldBy.AGENCY, server_default=SoldBy.AGENCY.value, index=True
    )
    account_manager_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )
    score_product: so.Mapped[int] = so.mapped_column(sa.SmallInteger)
    score_agent: so.Mapped[int] = so.mapped_column(sa.SmallInteger)
    score_channel: so.Mapped[int] = so.mapped_column(sa.SmallInteger)
    score_promotion: so.Mapped[int] = so.mapped_column(sa.SmallInteger)
    score_relationship: so.Mapped[int] = so.mapped_column(sa.SmallInteger)
    comment: so.Mapped[str] = so.mapped_column(sa.Text, default="")
    language: so.Mapped[str] = so.mapped_column(sa.String(8), default="zh")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow, index=True)

    def scores(self) -> list[int]:
        return [getattr(self, f"score_{d}") for d in SURVEY_DIMENSIONS]


class ComplaintCategory(enum.StrEnum):
    SERVICE = "service"
    MISSELLING = "misselling"
    BILLING = "billing"
    DELAY = "delay"
    OTHER = "other"


class ComplaintSeverity(enum.StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class ComplaintStatus(enum.StrEnum):
    OPEN = "open"
    ANSWERED = "answered"
    RESOLVED = "resolved"


class Complaint(db.Model):
    """A customer complaint recorded by staff against an agency; the agency answers, staff
    resolve."""

    __tablename__ = "enablement_complaints"
    __agency_column__ = "agency_id"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    agency_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("agencies.id", ondelete="CASCADE"), index=True)
    category: so.Mapped[ComplaintCategory] = so.mapped_column(_enum(ComplaintCategory))
    severity: so.Mapped[ComplaintSeverity] = so.mapped_column(_enum(ComplaintSeverity))
    status: so.Mapped[ComplaintStatus] = so.mapped_column(
        _enum(ComplaintStatus), default=ComplaintStatus.OPEN, index=True
    )
    customer_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("customers.id", ondelete="SET NULL"))
    lead_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("leads.id", ondelete="SET NULL"), index=True
    )
    description: so.Mapped[str] = so.mapped_column(sa.Text)
    agency_response: so.Mapped[str | None] = so.mapped_column(sa.Text)
    responded_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    responded_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    resolution: so.Mapped[str | None] = so.mapped_column(sa.Text)
    resolved_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime())
    resolved_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    created_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow, index=True)

    agency: so.Mapped[object] = so.relationship("Agency", lazy="joined")
    customer: so.Mapped[object] = so.relationship("Customer", lazy="joined")
    lead: so.Mapped[object] = so.relationship("Lead", lazy="select")
    created_by: so.Mapped[object] = so.relationship("User", foreign_keys=[created_by_id], lazy="select")


class Announcement(db.Model):
    """A notice to agencies: to all (no region, no grade) or to one region and/or one grade."""

    __tablename__ = "enablement_announcements"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    title: so.Mapped[str] = so.mapped_column(sa.String(200))
    body: so.Mapped[str] = so.mapped_column(sa.Text)
    region_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("regions.id", ondelete="SET NULL"))
    grade: so.Mapped[str | None] = so.mapped_column(sa.String(16))
    published_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow, index=True)
    created_by_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("users.id"))

    region: so.Mapped[object] = so.relationship("Region", lazy="joined")


class AnnouncementRead(db.Model):
    __tablename__ = "enablement_announcement_reads"
    __table_args__ = (sa.UniqueConstraint("announcement_id", "user_id", name="uq_enablement_read_pair"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    announcement_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("enablement_announcements.id", ondelete="CASCADE")
    )
    user_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), index=True)
    read_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime(), default=utcnow)

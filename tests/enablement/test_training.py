"""Courses, quiz scoring, certification validity at the boundary, expiry notices."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from catalog.models import ProductStatus
from portal.core.db import db
from portal.core.models import Notification, Role
from portal.core.time import today_shanghai
from portal.enablement import operations as ops
from portal.enablement import scoring
from portal.enablement.models import Certification, QuizAttempt
from tests.enablement.conftest import PDF, all_right

EN = {"Accept-Language": "en"}


@pytest.mark.parametrize(
    ("correct", "total", "mark", "passed"),
    [
        (3, 4, 75, True),  # exactly the pass mark
        (2, 4, 75, False),
        (2, 3, 67, False),  # 66.67 % < 67 %: no rounding up into a pass
        (2, 3, 66, True),
        (4, 4, 100, True),
        (0, 4, 1, False),
    ],
)
def test_quiz_scoring_at_the_pass_mark(correct, total, mark, passed):
    right = {n: 0 for n in range(total)}
    given = {n: (0 if n < correct else 1) for n in range(total)}
    result = scoring.score_quiz(right, given, mark)
    assert (result.correct, result.total, result.passed) == (correct, total, passed)


def test_unanswered_questions_count_as_wrong():
    result = scoring.score_quiz({1: 0, 2: 1}, {1: 0}, 100)
    assert result.correct == 1 and not result.passed and result.percent == 50


@pytest.mark.parametrize(
    ("certified", "months", "last_day"),
    [
        (date(2026, 3, 15), 12, date(2027, 3, 14)),
        (date(2026, 1, 31), 1, date(2026, 2, 27)),  # clamped to the end of February, minus one day
        (date(2024, 2, 29), 12, date(2025, 2, 27)),
        (date(2026, 12, 1), 6, date(2027, 5, 31)),
    ],
)
def test_certification_validity_period(certified, months, last_day):
    valid_until = scoring.certification_valid_until(certified, months)
    assert valid_until == last_day
    assert scoring.is_current(valid_until, last_day)
    assert not scoring.is_current(valid_until, last_day + timedelta(days=1))


def test_agency_certified_only_through_the_last_day(make, en):
    course = en.course(requires=True, months=12)
    user = make.user(Role.AGENCY_SALES)
    certified_on = date(2026, 1, 10)
    cert = ops.certify(user, course.product_id, certified_on, course.id)
    assert cert.valid_until == date(2027, 1, 9)
    assert ops.agency_certified_for(user.agency_id, course.product_id, date(2027, 1, 9))
    assert not ops.agency_certified_for(user.agency_id, course.product_id, date(2027, 1, 10))
    assert ops.sale_certification_problem(user.agency_id, course.product_id, date(2027, 1, 9)) is None
    assert ops.sale_certification_problem(user.agency_id, course.product_id, date(2027, 1, 10)) == (
        "missing",
        course,
    )


def test_agency_user_takes_the_course_and_passes(client, make, login, en):
    course = en.course(pass_mark=75, requires=True, months=6)
    sales = make.user(Role.AGENCY_SALES)
    login(sales)
    assert course.title in client.get("/enablement/training").get_data(as_text=True)
    page = client.get(f"/enablement/training/{course.id}")
    assert page.status_code == 200 and "Page one" in page.get_data(as_text=True)
    answers = all_right(course)
    answers[f"q{course.questions[-1].id}"] = "1"  # 3 of 4 right = 75 %
    response = client.post(
        f"/enablement/training/{course.id}/quiz",
        data=answers,
        headers={"Accept-Language": "en"},
        follow_redirects=True,
    )
    assert "You passed with 3 of 4 right" in response.get_data(as_text=True)
    cert = db.session.scalar(sa.select(Certification).where(Certification.user_id == sales.id))
    assert cert.product_id == course.product_id
    assert cert.valid_until == scoring.certification_valid_until(today_shanghai(), 6)
    assert ops.agency_certified_for(sales.agency_id, course.product_id)


def test_failing_the_quiz_certifies_nobody(client, make, login, en):
    course = en.course(pass_mark=75)
    sales = make.user(Role.AGENCY_SALES)
    login(sales)
    answers = {f"q{q.id}": "1" for q in course.questions}
    answers[f"q{course.questions[0].id}"] = "0"
    response = client.post(
        f"/enablement/training/{course.id}/quiz",
        data=answers,
        headers={"Accept-Language": "en"},
        follow_redirects=True,
    )
    assert "You had 1 of 4 right; the pass mark is 75%" in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Certification)) == 0
    attempt = db.session.scalar(sa.select(QuizAttempt).where(QuizAttempt.user_id == sales.id))
    assert attempt.correct == 1 and not attempt.passed


def test_missing_answers_are_asked_for_and_unpublished_courses_are_hidden(client, make, login, en):
    course = en.course()
    draft = en.course(published=False)
    login(make.user(Role.AGENCY_OWNER))
    response = client.post(
        f"/enablement/training/{course.id}/quiz", data={}, headers={"Accept-Language": "en"}
    )
    assert response.status_code == 200 and "Choose an answer." in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(QuizAttempt)) == 0
    assert client.get(f"/enablement/training/{draft.id}").status_code == 404
    assert client.post(f"/enablement/training/{draft.id}/quiz", data=all_right(draft)).status_code == 404


def test_staff_cannot_take_quizzes_and_agencies_cannot_edit_courses(client, make, login, en):
    course = en.course()
    login(make.user(Role.CHANNEL_MANAGER))
    assert client.post(f"/enablement/training/{course.id}/quiz", data=all_right(course)).status_code == 403
    login(make.user(Role.AGENCY_OWNER))
    assert client.get(f"/enablement/staff/courses/{course.id}").status_code == 403


def test_staff_build_and_publish_a_course(client, make, login):
    product = make.product()
    login(make.user(Role.ADMIN))
    response = client.post(
        "/enablement/staff/courses/new",
        data={"product_id": str(product.id), "title": "New course", "summary": "", "pass_mark": "80"},
    )
    assert response.status_code == 302
    course_url = response.headers["Location"]
    course_id = int(course_url.rstrip("/").split("/")[-1])
    publish = {"product_id": str(product.id), "title": "New course", "pass_mark": "80", "published": "y"}
    refused = client.post(course_url, data=publish, headers={"Accept-Language": "en"}, follow_redirects=True)
    assert "Add at least one quiz question before publishing" in refused.get_data(as_text=True)
    client.post(f"/enablement/staff/courses/{course_id}/pages", data={"title": "Intro", "body": "Hello"})
    client.post(
        f"/enablement/staff/courses/{course_id}/questions",
        data={
            "text": "Two plus two?",
            "option1": "4",
            "option2": "5",
            "option3": "",
            "option4": "",
            "correct": "0",
        },
    )
    client.post(course_url, data=publish)
    course = ops.course_for_product(product.id)
    assert course is not None and course.published
    assert [p.title for p in course.pages] == ["Intro"]
    assert course.questions[0].options == ["4", "5"]
    settings = client.post(
        f"/enablement/staff/products/{product.id}",
        data={f"p{product.id}-requires_certification": "y", f"p{product.id}-validity_months": "24"},
    )
    assert settings.status_code == 302
    assert ops.requires_certification(product.id) and ops.validity_months(product.id) == 24


def test_expiring_certifications_are_notified_once(app, make, en):
    course = en.course(requires=True, months=12)
    owner = make.user(Role.AGENCY_OWNER)
    sales = make.user(Role.AGENCY_SALES, agency=owner.agency)
    today = date(2026, 11, 22)
    soon = ops.certify(sales, course.product_id, date(2025, 12, 20), course.id)  # ends 2026-12-19
    later = make.user(Role.AGENCY_SALES, agency=owner.agency)
    ops.certify(later, course.product_id, date(2026, 1, 15), course.id)  # ends 2027-01-14
    assert soon.valid_until == date(2026, 12, 19)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["enablement", "notify-expiring", "--date", today.isoformat()])
    assert result.exit_code == 0, result.output
    assert "certifications notified: 1" in result.output
    kinds = db.session.execute(sa.select(Notification.user_id, Notification.kind)).all()
    assert (sales.id, "enablement.certification_expiring") in kinds
    assert (owner.id, "enablement.certification_expiring_owner") in kinds
    assert all(user_id != later.id for user_id, _kind in kinds)
    again = runner.invoke(args=["enablement", "notify-expiring", "--date", today.isoformat()])
    assert "certifications notified: 0" in again.output
    # renewing starts a new period that will be notified again when it nears its end
    ops.certify(sales, course.product_id, date(2026, 12, 1), course.id)
    assert ops.notify_expiring(date(2027, 11, 5)) == 1


def test_expiry_notice_edge_30_days_ahead_notified_31_not(make, en):
    course = en.course(requires=True, months=12)
    owner = make.user(Role.AGENCY_OWNER)
    at_30 = make.user(Role.AGENCY_SALES, agency=owner.agency)
    at_31 = make.user(Role.AGENCY_SALES, agency=owner.agency)
    today = date(2026, 11, 22)
    # valid through today + 30 and today + 31 (12 months, so certified one year and a day later)
    cert_30 = ops.certify(at_30, course.product_id, date(2025, 12, 23), course.id)
    cert_31 = ops.certify(at_31, course.product_id, date(2025, 12, 24), course.id)
    assert cert_30.valid_until == today + timedelta(days=30)
    assert cert_31.valid_until == today + timedelta(days=31)
    assert scoring.needs_expiry_notice(cert_30.valid_until, today, None)
    assert not scoring.needs_expiry_notice(cert_31.valid_until, today, None)

    assert ops.notify_expiring(today) == 1
    told = {
        user_id
        for (user_id,) in db.session.execute(
            sa.select(Notification.user_id).where(Notification.kind == "enablement.certification_expiring")
        )
    }
    assert told == {at_30.id}
    assert cert_30.expiry_notified_for == cert_30.valid_until and cert_31.expiry_notified_for is None
    # a day later the other one is 30 days ahead and is notified; the first is not again
    assert ops.notify_expiring(today + timedelta(days=1)) == 1
    assert cert_31.expiry_notified_for == cert_31.valid_until
    assert ops.notify_expiring(today + timedelta(days=1)) == 0


def test_an_agency_sees_only_its_own_certifications_and_users_on_the_training_pages(client, make, login, en):
    course = en.course(requires=True)
    mine = make.user(Role.AGENCY_SALES, name="Li Lei of agency A")
    theirs = make.user(Role.AGENCY_SALES, name="Han Meimei of agency B")
    today = today_shanghai()
    ops.certify(mine, course.product_id, today, course.id)
    ops.certify(theirs, course.product_id, today - timedelta(days=3), course.id)

    login(make.user(Role.AGENCY_OWNER, agency=mine.agency))
    page = client.get("/enablement/training", headers=EN).get_data(as_text=True)
    assert "Li Lei of agency A" in page
    assert "Han Meimei of agency B" not in page
    assert (today - timedelta(days=3)).isoformat() not in page  # B's certification date
    course_page = client.get(f"/enablement/training/{course.id}", headers=EN).get_data(as_text=True)
    assert "Han Meimei of agency B" not in course_page
    home = client.get("/", headers=EN).get_data(as_text=True)
    assert "Han Meimei of agency B" not in home

    # agency B: its own user, not A's, and A's certification does not unlock the product for B
    login(make.user(Role.AGENCY_OWNER, agency=theirs.agency))
    page = client.get("/enablement/training", headers=EN).get_data(as_text=True)
    assert "Han Meimei of agency B" in page and "Li Lei of agency A" not in page
    other = make.user(Role.AGENCY_OWNER)
    login(other)
    page = client.get("/enablement/training", headers=EN).get_data(as_text=True)
    assert "Li Lei" not in page and "Han Meimei" not in page
    assert "Nobody in your agency is certified yet." in page and "Locked for your agency" in page


def test_retired_products_disappear_from_the_agency_side(client, make, login, en):
    product = make.product()
    course = en.course(product=product, requires=True)
    material = en.material(product=product, title="Brochure of a product to retire")
    page = ops.add_course_page(course, "Slides", "", PDF, "slides.pdf")
    sales = make.user(Role.AGENCY_SALES)
    today = today_shanghai()
    ops.certify(sales, product.id, today - timedelta(days=350), course.id)  # ends within 30 days
    login(sales)
    assert material.title in client.get("/enablement/materials", headers=EN).get_data(as_text=True)
    assert course.title in client.get("/enablement/training", headers=EN).get_data(as_text=True)

    product.status = ProductStatus.RETIRED
    db.session.flush()
    assert material.title not in client.get("/enablement/materials", headers=EN).get_data(as_text=True)
    assert client.get(f"/enablement/materials/{material.id}/download").status_code == 404
    training = client.get("/enablement/training", headers=EN).get_data(as_text=True)
    assert course.title not in training and product.code not in training
    assert client.get(f"/enablement/training/{course.id}").status_code == 404
    assert client.get(f"/enablement/training/{course.id}/quiz").status_code == 404
    assert client.post(f"/enablement/training/{course.id}/quiz", data=all_right(course)).status_code == 404
    assert client.get(f"/enablement/training/{course.id}/pages/{page.id}/file").status_code == 404
    home = client.get("/", headers=EN).get_data(as_text=True)
    assert product.code not in home
    assert ops.published_courses() == [] and ops.materials_for_agency(today, "en") == []
    assert ops.notify_expiring(today) == 0  # no reminder to renew for a product nobody sells

    # staff still see and manage both
    login(make.user(Role.CHANNEL_MANAGER))
    assert client.get(f"/enablement/staff/courses/{course.id}").status_code == 200
    assert material.title in client.get("/enablement/staff/materials").get_data(as_text=True)
    assert client.get(f"/enablement/staff/materials/{material.id}/file").status_code == 200

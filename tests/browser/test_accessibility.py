"""Accessibility basics on the main pages of every role, in headless Chromium: every form control
has a label (a <label for>, a wrapping label, aria-label or aria-labelledby), every button and link
says what it does, images have an alt text, the keyboard reaches the page through a visible
"skip to content" link and focus is always visible; irreversible buttons ask first."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

PAGES = {
    "sales@agency1.demo.local": [
        "/",
        "/catalog",
        "/catalog/GRP-SMS",
        "/leads",
        "/leads/new",
        "/enablement/training",
    ],
    "owner@agency1.demo.local": [
        "/",
        "/commissions/statements",
        "/commissions/statements/2026-10",
        "/payouts/mine",
        "/payouts/account",
        "/my-agency/users",
        "/settings/api-tokens",
    ],
    "channel@demo.local": [
        "/",
        "/agencies",
        "/agencies/applications",
        "/leads/queue",
        "/commissions/exceptions",
    ],
    "am@demo.local": ["/", "/leads/referrals", "/leads/my-customers"],
    "finance@demo.local": [
        "/",
        "/imports",
        "/commissions/periods",
        "/commissions/periods/2026-10",
        "/commissions/plans",
        "/payouts/2026-10",
        "/payouts/2026-10/reconciliation",
    ],
    "admin@demo.local": [
        "/",
        "/admin/users",
        "/admin/audit",
        "/admin/products",
        "/admin/products/new",
        "/admin/customers/new",
        "/customers",
    ],
}

PROBLEMS_JS = """() => {
  const problems = [];
  const named = el => (el.getAttribute('aria-label') || el.getAttribute('aria-labelledby') ||
                       el.getAttribute('title') || '').trim() !== '';
  for (const el of document.querySelectorAll('input, select, textarea')) {
    if (['hidden', 'submit', 'button'].includes(el.type)) continue;
    const labelled = (el.id && document.querySelector(`label[for="${CSS.escape(el.id)}"]`)) ||
                     el.closest('label') || named(el);
    if (!labelled) problems.push(`unlabelled ${el.tagName.toLowerCase()} name=${el.name}`);
  }
  for (const el of document.querySelectorAll('button, a[href]')) {
    if (!(el.innerText || '').trim() && !named(el) && !el.querySelector('img[alt]:not([alt=""]), svg title'))
      problems.push(`${el.tagName.toLowerCase()} without text: ${el.outerHTML.slice(0, 120)}`);
  }
  for (const img of document.querySelectorAll('img')) {
    if (!img.hasAttribute('alt')) problems.push(`img without alt: ${img.src}`);
  }
  if (!document.querySelector('main#main, #main')) problems.push('no #main landmark');
  if (!document.documentElement.lang) problems.push('no lang on <html>');
  return problems;
}"""


@pytest.mark.parametrize("email", list(PAGES))
def test_main_pages_are_usable_without_a_mouse(page, live_server, sign_in, email):
    page.set_extra_http_headers({"Accept-Language": "zh-CN,zh;q=0.9"})
    sign_in(page, email)
    problems = {}
    for path in PAGES[email]:
        response = page.goto(live_server.url + path)
        assert response.status == 200, path
        found = page.evaluate(PROBLEMS_JS)
        if found:
            problems[path] = found
        # keyboard: the first Tab lands on the skip link, which becomes visible with a focus ring
        page.keyboard.press("Tab")
        focused = page.evaluate("""() => { const el = document.activeElement; const s = getComputedStyle(el);
            return {cls: el.className, outline: s.outlineStyle, left: el.getBoundingClientRect().left}; }""")
        assert "skip-link" in focused["cls"] and focused["outline"] != "none" and focused["left"] >= 0, (
            path,
            focused,
        )
    assert problems == {}


def test_irreversible_buttons_ask_first(page, live_server, sign_in):
    """Closing a period, deactivating a user or publishing statements asks for confirmation."""
    sign_in(page, "finance@demo.local")
    page.goto(live_server.url + "/commissions/periods/2026-10")
    publish = page.locator("form[action$='/commissions/periods/2026-10/publish'] button[type=submit]")
    assert publish.get_attribute("data-confirm")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    publish.click()
    assert asked and page.url.endswith("/commissions/periods/2026-10")  # dismissed: nothing was sent

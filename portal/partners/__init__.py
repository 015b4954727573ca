"""Agencies (代理商): onboarding, grades, lifecycle, agency users and scorecards."""

"""Commissions (酬金): plans, ingest, attribution, ledger, periods, statements, payouts."""

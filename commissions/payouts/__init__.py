"""Payouts (Stripe Connect and bank transfer), Stripe webhooks, reconciliation and period close."""

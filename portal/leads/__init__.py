"""Group customers' leads (商机报备): registration, conflicts, protection, referral routing."""
